"""Running a Pulumi program the way upstream's host does (`Run` in github.com/pulumi/pulumi
`sdk/python/cmd/pulumi-language-python/main.go`).

The program runs as `<python> <exec script> --monitor M --engine E --project P --root_directory R
--stack S --pwd D --dry_run true|false --parallel N [--tracing T] [--organization O] <entry point>
<args>`, with `PULUMI_CONFIG` and `PULUMI_CONFIG_SECRET_KEYS` in its environment and its stdio
inherited, so `print` and tracebacks reach the user once, as the engine shows them. The exec script
(`pulumi-language-python-exec`, from the sdk module, next to the host) exits 32 after it has shown
the user an unhandled exception: that becomes `bail`, so the engine adds no second message.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from dataclasses import dataclass, field

from pulumi.runtime.proto import language_pb2

from plugins.inflight import InFlight
from plugins.language_python.python_env import PythonEnv

BAIL_EXIT_CODE = 32
"""The exec script's "already shown to the user" exit code."""


def run_arguments(request: language_pb2.RunRequest, engine: str, exec_script: str) -> list[str]:
    """The exec script's flags, in upstream's order; empty flags are left out."""
    flags = [
        ("--monitor", request.monitor_address),
        ("--engine", engine),
        ("--project", request.project),
        ("--root_directory", request.info.root_directory),
        ("--stack", request.stack),
        ("--pwd", request.pwd),
        ("--dry_run", "true" if request.dryRun else "false"),
        ("--parallel", str(request.parallel)),
        ("--organization", request.organization),
    ]
    args = [exec_script]
    for flag, value in flags:
        if value:
            args += [flag, value]
    entry_point = request.info.entry_point or request.program or "."
    return [*args, entry_point, *request.args]


def run_environment(request: language_pb2.RunRequest, python_env: PythonEnv) -> dict[str, str]:
    env = python_env.environ(dict(os.environ))
    env["PULUMI_CONFIG"] = json.dumps(dict(request.config))
    env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
    return env


@dataclass
class RunningPrograms:
    """The programs being run now, so `Cancel` and the host's exit can interrupt them."""

    _processes: InFlight[subprocess.Popen[bytes]] = field(default_factory=InFlight)

    def run(self, argv: list[str], env: dict[str, str], cwd: str) -> int:
        # A session of its own: the engine's SIGINT to the host's group must not hit the program
        # first (the user would see its KeyboardInterrupt); Cancel forwards it deliberately.
        process = subprocess.Popen(argv, env=env, cwd=cwd or None, start_new_session=True)
        with self._processes.track(process):
            return process.wait()

    def interrupt(self) -> None:
        """SIGINT to the process group of every program still running."""
        for process in self._processes.snapshot():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)


def run_response(exit_code: int) -> language_pb2.RunResponse:
    """Exit 0: success; 32: bail (the error was shown); n: upstream's message."""
    if exit_code == 0:
        return language_pb2.RunResponse()
    if exit_code == BAIL_EXIT_CODE:
        return language_pb2.RunResponse(bail=True)
    if exit_code < 0:
        return language_pb2.RunResponse(error=f"program was stopped by signal {-exit_code}")
    return language_pb2.RunResponse(error=f"program exited with non-zero exit code: {exit_code}")
