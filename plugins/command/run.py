"""One run of one command over SSH, as upstream's `CommandOutputs.run` does it (github.com/pulumi/pulumi-command
v1.2.1 `provider/pkg/provider/remote/commandOutputs.go:30-126`, golang.org/x/crypto v0.48.0 `ssh/session.go`).

One connection and one session per run. Each `environment` variable is set with a confirmed `env`
request; a refusal logs upstream's error text and fails the step (`commandOutputs.go:42-49`). Unless
`addPreviousOutputInEnv` is false (absent means true, `commandOutputs.go:51`), the previous `stdout` and
`stderr`, when not empty, go in `PULUMI_COMMAND_STDOUT`/`_STDERR`, where a refusal only warns
(`:51-71`). stdin is sent only if not empty (`:73-75`), then closed. The lines of the streams that
`logging` shows are sent to the engine as they arrive, stdout and stderr through one line reader
(`:77-93`). Outputs drop one trailing newline (`:103-106`).

A failed command is `<err>: running "<the whole command, Go-quoted>":\\n<all of stdout and stderr as
they arrived>` (`commandOutputs.go:100-101`): nothing is cut, nothing is masked, as upstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import asyncssh

from plugins.command.connection import Connection, DialError, dial
from plugins.command.session import SetenvRefused, open_session
from plugins.command.stream import EngineStream, LineSplitter

SETENV_MESSAGE = (
    "Unable to set '{name}'. This only works if your SSH server is configured to accept\n"
    "\tthese variables via AcceptEnv. Alternatively, if a Bash-like shell runs the command on the remote "
    "host, you could\n"
    "\tprefix the command itself with the variables in the form 'VAR=value command'"
)
"""`logAndWrapSetenvErr`'s message, with the raw string's newlines and tabs (`commandOutputs.go:112-114`)."""

GO_SIGNALS = {
    "ABRT": 6, "ALRM": 14, "FPE": 8, "HUP": 1, "ILL": 4, "INT": 2,
    "KILL": 9, "PIPE": 13, "QUIT": 3, "SEGV": 11, "TERM": 15,
}  # fmt: skip
"""x/crypto's `signals` (`ssh/session.go:38-50`): 128 + this for a command ended by a signal."""

REJECTION_REASONS = {
    1: "administratively prohibited",
    2: "connect failed",
    3: "unknown channel type",
    4: "resource shortage",
}
"""x/crypto's `RejectionReason.String()` (`ssh/channel.go`)."""

_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


class CommandFailed(Exception):
    """A run that did not succeed; the message is upstream's error."""


@dataclass
class Run:
    """What one run needs, from the resource's inputs."""

    command: str
    connection: Connection
    environment: Mapping[str, str] = field(default_factory=dict)
    stdin: str | None = None
    logging: str | None = None
    """None: both streams are shown; an unknown value shows neither (`logging.go:27-32`)."""
    previous_stdout: str = ""
    previous_stderr: str = ""
    """Previous outputs, set as PULUMI_COMMAND_STDOUT/_STDERR when not empty."""

    @property
    def shows_stdout(self) -> bool:
        return self.logging in (None, "stdout", "stdoutAndStderr")

    @property
    def shows_stderr(self) -> bool:
        return self.logging in (None, "stderr", "stdoutAndStderr")


@dataclass
class Output:
    """Output of a run: each stream, and both interleaved as they arrived."""

    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    combined: bytearray = field(default_factory=bytearray)


def go_quote(text: str) -> str:
    """Go's `%q` of a string (`strconv.Quote`): printable runes as they are, the rest escaped."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out) + '"'


def exit_error(status: int | None, signal: str | None, message: str) -> str | None:
    """x/crypto's `Session.wait` result as text (`ssh/session.go:420-477, 638-647`); None on success."""
    if status == 0:
        return None
    if status is None:
        if not signal:
            return "wait: remote command exited without exit status or exit signal"
        status = 128 + GO_SIGNALS.get(signal, 0)
    text = f"Process exited with status {status}"
    if signal:
        text += f" from signal {signal}"
    if message:
        text += f". Reason was: {message}"
    return text


def failure(run: Run, error: str, output: Output) -> str:
    """`fmt.Errorf("%w: running %q:\\n%s", err, cmd, stdouterrbuf.String())` (`commandOutputs.go:101`)."""
    return f"{error}: running {go_quote(run.command)}:\n{bytes(output.combined).decode('utf-8', 'replace')}"


def _environment(run: Run) -> dict[str, str]:
    environment = dict(run.environment)
    if run.previous_stdout:
        environment["PULUMI_COMMAND_STDOUT"] = run.previous_stdout
    if run.previous_stderr:
        environment["PULUMI_COMMAND_STDERR"] = run.previous_stderr
    return environment


async def execute(run: Run, stream: EngineStream) -> tuple[str, str]:
    """Run the command; returns (stdout, stderr) without one trailing newline; raises CommandFailed."""
    try:
        connection = await dial(run.connection, stream.status)
    except DialError as exc:
        raise CommandFailed(str(exc)) from None
    output = Output()
    lines = LineSplitter(stream.status)

    def on_data(data: bytes, is_stderr: bool) -> None:
        (output.stderr if is_stderr else output.stdout).extend(data)
        output.combined.extend(data)
        if run.shows_stderr if is_stderr else run.shows_stdout:
            lines.feed(data)

    try:
        async with connection:
            try:
                channel, session, refused = await open_session(
                    connection, run.command, _environment(run), on_data
                )
            except SetenvRefused as exc:
                stream.error(SETENV_MESSAGE.format(name=exc.name))
                raise CommandFailed(
                    f"could not set environment variable {go_quote(exc.name)}: ssh: setenv failed"
                ) from None
            except asyncssh.ChannelOpenError as exc:
                reason = REJECTION_REASONS.get(exc.code, f"unknown reason {exc.code}")
                raise CommandFailed(f"ssh: rejected: {reason} ({exc.reason})") from None
            except (asyncssh.Error, OSError):
                raise CommandFailed(failure(run, f"ssh: command {run.command} failed", output)) from None
            for name in refused:
                stream.warning(SETENV_MESSAGE.format(name=name))
            if run.stdin:
                channel.write(run.stdin.encode())
            channel.write_eof()
            await session.closed
    finally:
        lines.finish()
    error = exit_error(session.exit_status, session.exit_signal, session.exit_message)
    if error is not None:
        raise CommandFailed(failure(run, error, output))
    return output.stdout.decode("utf-8", "replace").removesuffix("\n"), output.stderr.decode(
        "utf-8", "replace"
    ).removesuffix("\n")
