"""Figure 8: `pulumi preview` of the sandbox stack with its state on PostgreSQL against the local backend.

A sandbox of its own and a real PostgreSQL server (`testing/postgres.py`, loopback, the server
`make state-up` runs): the stack is deployed on the local backend (`scripts/stack.sh up sandbox`),
copied to PostgreSQL with `scripts/state_migrate.py` (what `make state-migrate` runs, which also
checks the copy plans no change), then the same no-op `pulumi preview` runs alternately on each
backend, `RUNS` times, the order flipped every run; the figure is the median of the per-run ratios
(a pair taken seconds apart shares the machine's load, so a busy machine moves both of its times).
`pulumi stack export` (the backend's reads and nothing else: no program, no plugin) is timed the
same way, to show where the time goes.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench.measure import timed
from testing.postgres import PostgresServer
from testing.sandbox_stack import SandboxStack

RUNS = 7


@dataclass(frozen=True)
class StateRun:
    """Wall times per backend (`preview`, `export`), and the state rows the PostgreSQL backend wrote."""

    local: dict[str, list[float]]
    postgres: dict[str, list[float]]
    rows: int

    def ratios(self, command: str) -> list[float]:
        """PostgreSQL / local, per run."""
        return [pg / local for pg, local in zip(self.postgres[command], self.local[command], strict=True)]

    def ratio(self, command: str) -> float:
        return statistics.median(self.ratios(command))


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _pulumi(stack: SandboxStack, args: tuple[str, ...]) -> None:
    _ok(stack.pulumi(*args))


def run(work: Path, progress: Callable[[str], None]) -> StateRun:
    """Measure on a fresh sandbox and server under `work`; stops both whatever happens."""
    server = PostgresServer.start()
    stack = SandboxStack.start(work)
    try:
        progress("deploy on the local backend, copy to PostgreSQL (scripts/state_migrate.py)")
        local = stack.env["PULUMI_BACKEND_URL"]
        stack.init()
        _ok(stack.stack_sh("up"))
        migrate = [sys.executable, "scripts/state_migrate.py", "--from", local, "--to", server.passfile_url]
        _ok(subprocess.run(migrate, cwd=stack.project, env=stack.env, capture_output=True, text=True))
        commands = {"preview": ("preview", "--expect-no-changes"), "export": ("stack", "export")}
        backends = [local, server.passfile_url]
        times: dict[str, dict[str, list[float]]] = {url: {name: [] for name in commands} for url in backends}
        for i in range(RUNS):
            progress(f"preview and stack export {i + 1}/{RUNS}: local backend, PostgreSQL")
            for backend in backends if i % 2 == 0 else backends[::-1]:
                stack.env["PULUMI_BACKEND_URL"] = backend
                for name, args in commands.items():
                    times[backend][name].append(timed(partial(_pulumi, stack, args)))
        return StateRun(times[local], times[server.passfile_url], len(server.state_rows()))
    finally:
        stack.stop()
        server.remove()
