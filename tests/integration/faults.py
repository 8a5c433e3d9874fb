"""Helpers of the fault tests: a timed `pulumi up`, audit counts, orphan checks, a racing writer.

Every fault test drives the real engine (`SandboxStack`) with a sandbox fault switch on
(sandbox/faults.py) and then looks at what a user would see: the engine's output and what is left
in the emulated Tailscale, Aperture and host.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from testing.sandbox_stack import SandboxStack

KEY_TYPE = "tailscale:index/tailnetKey:TailnetKey"


@dataclass(frozen=True)
class Run:
    """One `pulumi up`: its exit status, everything it printed, and how long it took."""

    returncode: int
    output: str
    seconds: float


def up(stack: SandboxStack, *extra: str) -> Run:
    """`pulumi up --yes --skip-preview` in the project copy (no policy pack: faults, not findings)."""
    started = time.monotonic()
    result = stack.pulumi("up", "--yes", "--skip-preview", *extra)
    return Run(result.returncode, result.stdout + result.stderr, time.monotonic() - started)


def converges(stack: SandboxStack) -> Run:
    """A second, plain `pulumi up` with every switch off: it must succeed, and a preview after it must
    show no change."""
    stack.clear_faults()
    second = up(stack)
    assert second.returncode == 0, second.output
    check = stack.pulumi("preview", "--expect-no-changes")
    assert check.returncode == 0, check.stdout + check.stderr
    return second


def requests(stack: SandboxStack, service: str, method: str, path_part: str) -> list[int]:
    """Statuses of `service` requests (since the mark) with `method` whose path contains `path_part`."""
    return [
        int(line["status"])
        for line in stack.since_mark()
        if line["service"] == service and line.get("method") == method and path_part in line.get("path", "")
    ]


def live_keys(stack: SandboxStack) -> list[str]:
    """Ids of the tailnet's auth keys that could still join a device (not spent, revoked or expired)."""
    listing = stack.api("GET", "/api/v2/tailnet/-/keys?all=true").get("keys") or []
    keys = [stack.api("GET", f"/api/v2/tailnet/-/keys/{k['id']}") for k in listing]
    return [str(k["id"]) for k in keys if not k.get("invalid") and not k.get("revoked")]


def assert_no_orphans(stack: SandboxStack) -> None:
    """Every live auth key is one the stack holds, and the host runs exactly its one container."""
    held = {str(r["id"]) for r in stack.resources() if r["type"] == KEY_TYPE}
    orphans = set(live_keys(stack)) - held
    assert not orphans, f"auth keys the stack does not know: {orphans}"
    containers = stack.containers()
    assert list(containers) == ["vllm-spark"], containers
    assert containers["vllm-spark"]["status"] == "running", containers["vllm-spark"]


@dataclass
class RacingWriter:
    """Another admin saving Aperture's config while the deploy holds a stale ETag (a real 412).

    Runs while the `aperture.race` switch holds the deploy's GET: each time it sees a new held ETag
    it reads the document as an admin, edits a comment and an undeclared provider, and saves it.
    """

    stack: SandboxStack
    written: list[str] = field(default_factory=list)
    """Each document this writer saved, in order."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RacingWriter:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)

    def _run(self) -> None:
        handled: set[str] = set()
        while not self._stop.is_set():
            waiting = (self.stack.faults().get("aperture.race") or {}).get("waiting")
            if waiting and waiting not in handled:
                handled.add(waiting)
                self._write(len(handled))
            time.sleep(0.02)

    def _write(self, round_: int) -> None:
        text, etag = self.stack.aperture_config()
        edited = text.replace('"claude-haiku-4-5"', f'"claude-haiku-4-5", "claude-race-{round_}"', 1)
        edited = edited.replace(
            '"providers": {', f'// saved by another admin, round {round_}\n  "providers": {{', 1
        )
        assert edited != text, "the writer found nothing to edit"
        status, body = self.stack.put_aperture_config(edited, etag)
        assert status == 200, body
        self.written.append(self.stack.aperture_config()[0])
