"""The sandbox's audit log: one JSON line per API request or remote command, shared by every emulator.

Every emulator of one sandbox appends to the same file (`<state>/audit.jsonl`, see
sandbox/orchestrator.py), which tests and benchmarks read to count calls. A line is one of:

- an HTTP request (`request_entry`): `{"service", "method", "path", "mutating", "identity", "status"}`,
  `service` being `tailscale` or `aperture`;
- a remote command on an emulated host (`command_entry`): `{"service": "host", "host", "command",
  "mutating": true, "identity", "status"}`, `host` being the emulated host's name (a sandbox holds
  several with `--hosts`).

`AuditLog.write` appends each line with a single `write(2)` on an `O_APPEND` descriptor, so lines from
several threads (or processes) never interleave. The layout is docs/architecture.md §7.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def request_entry(
    service: str, method: str, path: str, mutating: bool, identity: str | None, status: int
) -> dict[str, Any]:
    """The audit line of one HTTP request to an emulated API."""
    return {
        "service": service,
        "method": method,
        "path": path,
        "mutating": mutating,
        "identity": identity,
        "status": status,
    }


def command_entry(command: str, identity: str, status: int, host: str) -> dict[str, Any]:
    """The audit line of one remote command on emulated host `host` (always mutating)."""
    return {
        "service": "host",
        "host": host,
        "command": command,
        "mutating": True,
        "identity": identity,
        "status": status,
    }


class AuditLog:
    """Appends audit lines to one file; without a path every write is a no-op."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        """The JSONL file, or None to keep no log."""
        self._lock = threading.Lock()

    def write(self, entry: Mapping[str, Any]) -> None:
        """Append `entry` as one JSON line (keys in the order given)."""
        if self.path is None:
            return
        data = (json.dumps(dict(entry)) + "\n").encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
