"""Command output sent to the engine line by line while the command runs.

Upstream sends each line of output as an ephemeral info status (`InfoStatus`) tied to the resource,
so a long step shows progress. The SSH side runs on an asyncio loop that must not block on gRPC, so
lines go through a queue to a thread of their own, which calls the engine's `Log` in order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from plugins.engine_log import EngineLog


class LineSplitter:
    """Bytes in, complete lines out (without `\\n` or `\\r`); `finish()` gives the unterminated rest."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._pending = b""

    def feed(self, data: bytes) -> None:
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        for line in lines:
            self._emit(line.rstrip(b"\r").decode("utf-8", "replace"))

    def finish(self) -> None:
        if self._pending:
            self._emit(self._pending.rstrip(b"\r").decode("utf-8", "replace"))
            self._pending = b""


class EngineStream:
    """Sends status lines for one resource to the engine from a background thread, in order."""

    def __init__(self, engine: EngineLog | None, urn: str, redact: Callable[[str], str]) -> None:
        self._engine = engine
        self._urn = urn
        self._redact = redact
        self._queue: queue.Queue[tuple[str, str, bool] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, name="engine-stream", daemon=True)
        self._thread.start()

    def status(self, line: str) -> None:
        """An ephemeral info line (a line of command output, a retry notice)."""
        self._queue.put(("info", self._redact(line), True))

    def warning(self, message: str) -> None:
        """A warning that stays in the output."""
        self._queue.put(("warning", self._redact(message), False))

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _pump(self) -> None:
        while (item := self._queue.get()) is not None:
            severity, message, ephemeral = item
            if self._engine is not None:
                self._engine.log(severity, message, self._urn, ephemeral)
