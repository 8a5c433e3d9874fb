"""What every figure counts and times: one command's wall time and what the sandbox saw meanwhile.

A `Window` marks the sandbox's audit log (`audit.jsonl`: API requests and remote commands) and the
host's connection log (`hosts/<name>/state/connections.jsonl`: one line per SSH connection) before
an action, and reads what was appended after it.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of `path` (none when it does not exist yet)."""
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@dataclass
class Seen:
    """What the sandbox saw during one action, and how long the action took."""

    seconds: float
    calls: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0

    @property
    def remote_commands(self) -> int:
        """Commands run on the emulated host over SSH."""
        return sum(1 for c in self.calls if c["service"] == "host")

    @property
    def mutating_api_calls(self) -> int:
        """Tailscale API and Aperture requests that change something."""
        return sum(1 for c in self.calls if c["service"] != "host" and c.get("mutating"))

    @property
    def api_calls(self) -> int:
        """Tailscale API and Aperture requests of any kind."""
        return sum(1 for c in self.calls if c["service"] != "host")


@dataclass
class Window:
    """The sandbox's logs, so an action's share of them can be read."""

    state: Path
    """The sandbox state directory."""
    host: str = "spark"

    @property
    def audit(self) -> Path:
        return self.state / "audit.jsonl"

    @property
    def connections(self) -> Path:
        return self.state / "hosts" / self.host / "state" / "connections.jsonl"

    def watch(self, action: Callable[[], T]) -> tuple[T, Seen]:
        """Run `action`; its result and what the sandbox saw meanwhile."""
        calls, conns = len(lines(self.audit)), len(lines(self.connections))
        started = time.perf_counter()
        result = action()
        seconds = time.perf_counter() - started
        seen = Seen(seconds, lines(self.audit)[calls:], len(lines(self.connections)) - conns)
        return result, seen


def timed(action: Callable[[], object]) -> float:
    """Wall time of one call, in seconds."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median_of_pairs(
    first: Callable[[], object], second: Callable[[], object], runs: int
) -> tuple[float, float]:
    """Median wall times of two actions run alternately `runs` times (alternating spreads the noise)."""
    a, b = [], []
    for _ in range(runs):
        a.append(timed(first))
        b.append(timed(second))
    return statistics.median(a), statistics.median(b)
