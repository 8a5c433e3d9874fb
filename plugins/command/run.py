"""One run of one command over SSH, as upstream does it (github.com/pulumi/pulumi-command
`provider/pkg/provider/remote/commandOutputs.go`).

One connection and one session per run. `environment` is set with confirmed `env` requests (a
refusal fails the step), `PULUMI_COMMAND_STDOUT`/`_STDERR` carry the previous outputs (a refusal
only warns), stdin is sent only if non-empty and then closed, and output lines are streamed as they
arrive according to `logging`. Outputs drop one trailing newline.

Failure: upstream's `<ssh error>: running "<cmd>":\\n<stdout+stderr>`, with the command cut to
`COMMAND_CHARS`, the output to its last `TAIL_LINES` lines / `TAIL_CHARS` characters, the last lines
of stderr added when the cut hid them, and a last line naming the resource, the host (`user@host:port`)
and the exit status (or that the connection was lost).
Every message passes through the run's redactor, so no known secret is shown.
"""

from __future__ import annotations

import json
import signal as signals
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncssh

from plugins.command.connection import Connection, DialError, dial
from plugins.command.session import SetenvRefused, open_session
from plugins.command.stream import EngineStream, LineSplitter

LOGGING = ("stdout", "stderr", "stdoutAndStderr", "none")
COMMAND_CHARS = 200
TAIL_LINES = 40
TAIL_CHARS = 4000
STDERR_TAIL_LINES = 10

SETENV_WARNING = (
    "Unable to set '{name}'. This only works if your SSH server is configured to accept these "
    "variables via AcceptEnv. Alternatively, if a Bash-like shell runs the command on the remote host, "
    "you could prefix the command itself with the variables in the form 'VAR=value command'"
)


class CommandFailed(Exception):
    """A run that did not succeed; the message is what the engine shows (already redacted)."""


@dataclass
class Run:
    """What one run needs."""

    resource: str
    """The resource's name, for messages."""
    command: str
    connection: Connection
    environment: dict[str, str] = field(default_factory=dict)
    stdin: str | None = None
    logging: str = "stdoutAndStderr"
    previous_stdout: str = ""
    previous_stderr: str = ""
    """Previous outputs, set as PULUMI_COMMAND_STDOUT/_STDERR when not empty."""


@dataclass
class Output:
    """Output of a run: each stream, and both interleaved as they arrived."""

    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    combined: bytearray = field(default_factory=bytearray)

    def text(self, data: bytearray) -> str:
        return data.decode("utf-8", "replace")


def quote(command: str) -> str:
    """Go's `%q` of the command, cut to `COMMAND_CHARS` characters."""
    if len(command) > COMMAND_CHARS:
        rest = len(command) - COMMAND_CHARS
        return json.dumps(command[:COMMAND_CHARS], ensure_ascii=False)[:-1] + f'... ({rest} more characters)"'
    return json.dumps(command, ensure_ascii=False)


def tail(text: str, lines: int, chars: int) -> tuple[str, bool]:
    """The last `lines` lines of `text`, at most `chars` characters; and whether anything was cut."""
    kept = text.splitlines()[-lines:]
    result = "\n".join(kept)
    if len(result) > chars:
        result = result[-chars:]
    return result, result != text.rstrip("\n")


def ssh_error(status: int | None, signal: str | None, message: str, lost: Exception | None) -> str:
    """The error Go's ssh package gives for how the command ended (`Process exited with status N`)."""
    if status is None and signal is None:
        reason = f" (connection lost: {lost})" if lost else ""
        return f"wait: remote command exited without exit status or exit signal{reason}"
    if signal is not None:
        number = getattr(signals, f"SIG{signal}", None)
        code = 128 + (int(number) if number is not None else 0)
        text = f"Process exited with status {code} from signal {signal}"
        return text + (f". Reason was: {message}" if message else "")
    return f"Process exited with status {status}"


def failure(run: Run, error: str, output: Output, status: int | None) -> str:
    """The message of a failed run: upstream's shape, cut to what is useful."""
    combined, cut = tail(output.text(output.combined), TAIL_LINES, TAIL_CHARS)
    parts = (
        [f"{error}: running {quote(run.command)}:", combined]
        if combined
        else [f"{error}: running {quote(run.command)}:"]
    )
    if cut:
        parts.insert(1, "[... earlier output omitted]")
        stderr, _ = tail(output.text(output.stderr), STDERR_TAIL_LINES, TAIL_CHARS // 4)
        if stderr and stderr not in combined:
            parts += ["[last lines of stderr]", stderr]
    outcome = f"exit status {status}" if status is not None else "no exit status: the connection was lost"
    where = f"{run.connection.user}@{run.connection.endpoint}"
    parts.append(f"(command resource {run.resource!r} on {where}: {outcome})")
    return "\n".join(parts)


async def execute(run: Run, stream: EngineStream, redact: Callable[[str], str]) -> tuple[str, str]:
    """Run the command; returns (stdout, stderr) without one trailing newline; raises CommandFailed."""
    try:
        connection = await dial(run.connection, stream.status)
    except DialError as exc:
        raise CommandFailed(redact(str(exc))) from None
    output = Output()
    show_stdout = run.logging in ("stdout", "stdoutAndStderr")
    show_stderr = run.logging in ("stderr", "stdoutAndStderr")
    lines = {False: LineSplitter(stream.status), True: LineSplitter(stream.status)}

    def on_data(data: bytes, is_stderr: bool) -> None:
        (output.stderr if is_stderr else output.stdout).extend(data)
        output.combined.extend(data)
        if show_stderr if is_stderr else show_stdout:
            lines[is_stderr].feed(data)

    environment = dict(run.environment)
    if run.previous_stdout:
        environment["PULUMI_COMMAND_STDOUT"] = run.previous_stdout
    if run.previous_stderr:
        environment["PULUMI_COMMAND_STDERR"] = run.previous_stderr
    try:
        async with connection:
            try:
                channel, session, refused = await open_session(connection, run.command, environment, on_data)
            except SetenvRefused as exc:
                stream.warning(SETENV_WARNING.format(name=exc.name))
                raise CommandFailed(redact(str(exc))) from None
            except (asyncssh.Error, OSError) as exc:
                raise CommandFailed(redact(f"ssh: could not start a session: {exc}")) from None
            for name in refused:
                stream.warning(SETENV_WARNING.format(name=name))
            if run.stdin:
                channel.write(run.stdin.encode())
            channel.write_eof()
            lost = await session.closed
    finally:
        for splitter in lines.values():
            splitter.finish()
    if session.exit_status != 0 or session.exit_signal is not None:
        error = ssh_error(session.exit_status, session.exit_signal, session.exit_message, lost)
        raise CommandFailed(redact(failure(run, error, output, session.exit_status)))
    return output.text(output.stdout).removesuffix("\n"), output.text(output.stderr).removesuffix("\n")
