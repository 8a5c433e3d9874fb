"""Running a Pulumi program the way upstream's host does (`Run`, main.go:997-1202).

The program runs as `<python> <exec script> --monitor M --engine E --project P --root_directory R
--stack S --pwd D --dry_run true|false --parallel N [--tracing T] [--organization O] <entry point>
<args>` (`constructArguments`, main.go:1207-1231), with `PULUMI_CONFIG` (only when the stack has
config) and `PULUMI_CONFIG_SECRET_KEYS` added to the toolchain's environment, and the host's stdio, so
`print` and tracebacks reach the user once. It stays in the host's process group: upstream starts it
with `exec.CommandContext` and no `SysProcAttr`, so the engine's SIGINT to the host's group at shutdown
reaches it too. `Cancel` (or the engine hanging up the `Run` call) sends it SIGINT, and SIGKILL 5 s
later if it is still running (`cmd.Cancel` and `cmd.WaitDelay`, main.go:1050-1062). The exec script
exits 32 after it has shown the user an unhandled exception: that becomes `bail`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pulumi.runtime.proto import language_pb2

from plugins.inflight import InFlight
from plugins.language_python.gostyle import json_marshal, start_error

BAIL_EXIT_CODE = 32
"""`pythonProcessExitedAfterShowingUserActionableMessage` (main.go:97)."""

WAIT_DELAY_SECONDS = 5.0
"""`cmd.WaitDelay` (main.go:1062): SIGKILL this long after the SIGINT of a cancel."""

NOT_STARTED = "problem executing program (could not run language executor): "
"""main.go:1195: the program could not be started at all."""


def run_arguments(
    request: language_pb2.RunRequest, engine: str, exec_script: str, tracing: str = ""
) -> list[str]:
    """`constructArguments` (main.go:1207-1231): flags in upstream's order, empty ones left out."""
    flags = [
        ("--monitor", request.monitor_address),
        ("--engine", engine),
        ("--project", request.project),
        ("--root_directory", request.info.root_directory),
        ("--stack", request.stack),
        ("--pwd", request.pwd),
        ("--dry_run", "true" if request.dryRun else "false"),
        ("--parallel", str(request.parallel)),
        ("--tracing", tracing),
        ("--organization", request.organization),
    ]
    args = [exec_script]
    for flag, value in flags:
        if value:
            args += [flag, value]
    return [*args, request.info.entry_point, *request.args]


def run_environment(request: language_pb2.RunRequest, base: dict[str, str] | None) -> dict[str, str]:
    """The toolchain's environment (else the host's) plus the stack's config (main.go:1066-1075)."""
    env = dict(os.environ) if base is None else dict(base)
    if request.config:  # constructConfig (main.go:1234): an empty map adds nothing
        env["PULUMI_CONFIG"] = json_marshal(dict(request.config))
    env["PULUMI_CONFIG_SECRET_KEYS"] = json_marshal(list(request.configSecretKeys))
    return env


@dataclass
class RunningPrograms:
    """The programs being run now, so `Cancel` and the host's exit can interrupt them."""

    _processes: InFlight[subprocess.Popen[bytes]] = field(default_factory=InFlight)
    cancelled: bool = False
    """`host.cancelCtx` is done: upstream's `Cancel` is for good, later programs do not start."""

    def run(
        self, argv: list[str], env: dict[str, str], on_hang_up: Callable[[Callable[[], None]], object]
    ) -> tuple[int | None, str]:
        """Run `argv` to its end in the host's process group: `(exit code, "")` or `(None, error)`.

        `on_hang_up` registers what to do when the `Run` call ends early (the gRPC context's
        `add_callback`): interrupt this program, as upstream's `context.AfterFunc(ctx, ...)` does.
        """
        if self.cancelled:
            return None, NOT_STARTED + "context canceled"
        try:
            process = subprocess.Popen(argv, env=env)  # no cwd: the exec script changes to --pwd
        except OSError as exc:
            return None, NOT_STARTED + start_error(argv[0], exc)
        if on_hang_up(lambda: interrupt(process)) is False:  # the call had already ended
            interrupt(process)
        with self._processes.track(process):
            return process.wait(), ""

    def cancel(self) -> None:
        """`Cancel`: every program still running gets SIGINT, then SIGKILL after the wait delay."""
        self.cancelled = True
        for process in self._processes.snapshot():
            interrupt(process)


def interrupt(process: subprocess.Popen[bytes]) -> None:
    """`cmd.Cancel` (SIGINT to the process, not its group) and `WaitDelay`'s SIGKILL after 5 s."""
    if process.poll() is not None:
        return
    try:
        process.send_signal(signal.SIGINT)
    except OSError:
        process.kill()
        return
    timer = threading.Timer(WAIT_DELAY_SECONDS, _kill_if_running, args=(process,))
    timer.daemon = True
    timer.start()


def _kill_if_running(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()


def run_response(exit_code: int | None, error: str = "") -> language_pb2.RunResponse:
    """main.go:1167-1201: 0 is success, 32 a bail, a signal reads as exit code -1."""
    if exit_code is None:
        return language_pb2.RunResponse(error=error)
    if exit_code == 0:
        return language_pb2.RunResponse()
    if exit_code == BAIL_EXIT_CODE:
        return language_pb2.RunResponse(bail=True)
    status = exit_code if exit_code > 0 else -1  # syscall.WaitStatus.ExitStatus() of a signalled process
    return language_pb2.RunResponse(error=f"program exited with non-zero exit code: {status}")
