"""Fault switches of a running sandbox: `<state>/faults.json`, read by every emulator on each request.

The sandbox runs in a process of its own (and the host's shims in processes of theirs), so switches
live in a file next to `audit.jsonl` that a test, or a person, writes while it runs. Each switch has
a name (several of one kind: `<name>#<label>`, e.g. `tailscale.error#keys`) and a JSON object; `count` is how many times it fires (absent: every time until removed), and
every firing decrements it under a file lock, so a burst of N is exactly N requests.

| switch | read by | effect |
| --- | --- | --- |
| `tailscale.error` | Tailscale API | `{"status": 429 or 5xx, "count", "match", "retryAfter"}`: answer `status` (with `Retry-After` when given) instead of serving a request whose `METHOD /path` contains `match` (default: any) |
| `aperture.error` | Aperture | `{"status", "count", "match"}`: the same for `/aperture/config` requests of the deploy |
| `aperture.race` | Aperture | `{"count", "timeoutSeconds"}`: after answering the deploy's `GET /aperture/config`, hold the answer until another writer changes the document (or the timeout), so the deploy's `If-Match` is stale; while held, the switch shows `"waiting": <etag>` for that writer to see |
| `host.drop` | GB10 host (SSH) | `{"count", "match", "afterOutput"}`: cut the SSH connection of a command containing `match` once its output contains `afterOutput` (default: at once) |
| `docker.pull` | `docker` shim | `{"count", "message"}`: `docker pull` fails with `message` on stderr, exit 1 |
| `docker.vllm` | `docker` shim | `{"count", "mode": "never-healthy" or "dies", "afterSeconds"}`: the next vLLM container never listens, or crashes while loading: exits (status 1) `afterSeconds` after it starts |

"The deploy" is a request without the sandbox's `X-Sandbox-Identity` header (the program states no
identity); a writer that states one is never held or failed, so a test can race the deploy.

Set with `arm(state_dir, name, **spec)`, clear with `clear(state_dir)`; from a shell:
`echo '{"docker.pull": {"count": 1, "message": "manifest unknown"}}' > .sandbox/faults.json`.
The host's shims find the file through `SANDBOX_FAULTS` (set by `sandbox/host/server.py`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FAULTS_FILE = "faults.json"
"""The switches' file name in the sandbox state directory."""

FAULTS_ENV = "SANDBOX_FAULTS"
"""Environment variable naming the switches' file, for the host's shims."""


def faults_path(state_dir: str | os.PathLike[str]) -> Path:
    """`<state_dir>/faults.json`."""
    return Path(state_dir) / FAULTS_FILE


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[dict[str, Any]]:
    """The switches, read and written back under an exclusive lock on `<path>.lock`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            switches = read(path)
            yield switches
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(switches, indent=2) + "\n")
            temporary.replace(path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read(path: Path) -> dict[str, Any]:
    """Every switch now set (a missing or unreadable file: none)."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def take(path: Path | None, name: str, target: str = "") -> dict[str, Any] | None:
    """Fire the first switch `name` (or `name#...`) with firings left whose `match` is in `target`."""
    if path is None or not path.exists():
        return None
    with _locked(path) as switches:
        for key, spec in switches.items():
            if key.split("#", 1)[0] != name or not isinstance(spec, dict):
                continue
            if str(spec.get("match", "")) not in target or int(spec.get("count", 1)) <= 0:
                continue
            if spec.get("count") is not None:
                spec["count"] = int(spec["count"]) - 1
            spec["fired"] = int(spec.get("fired", 0)) + 1
            return dict(spec)
        return None


def update(path: Path, name: str, **fields: Any) -> None:
    """Set fields of switch `name` (the emulator's notes, such as `waiting`), if it is set."""
    with _locked(path) as switches:
        if isinstance(switches.get(name), dict):
            switches[name].update(fields)


def arm(state_dir: str | os.PathLike[str], name: str, **spec: Any) -> None:
    """Set switch `name` to `spec` (replacing it)."""
    with _locked(faults_path(state_dir)) as switches:
        switches[name] = spec


def clear(state_dir: str | os.PathLike[str]) -> None:
    """Remove every switch: the sandbox behaves normally again."""
    with _locked(faults_path(state_dir)) as switches:
        switches.clear()
