"""An asyncio loop on a thread of its own, for the SSH work of gRPC handlers running in a thread pool.

gRPC calls handlers on pool threads; asyncssh needs a running loop. Each handler submits its
coroutine here and waits for the result; `cancel_all()` (the engine's `Cancel`) cancels every
coroutine still running, which closes its SSH connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from plugins.inflight import InFlight

T = TypeVar("T")


class LoopThread:
    """One event loop, run forever on a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._running: InFlight[concurrent.futures.Future[Any]] = InFlight()
        self._thread = threading.Thread(target=self.loop.run_forever, name="command-ssh", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the loop and wait for it; raises `concurrent.futures.CancelledError` if cancelled."""
        with self._running.track(asyncio.run_coroutine_threadsafe(coroutine, self.loop)) as future:
            return future.result()

    def cancel_all(self) -> int:
        """Cancel every coroutine still running; returns how many."""
        running = self._running.snapshot()
        for future in running:
            future.cancel()
        return len(running)
