"""Messages for the engine while a command runs: its output line by line, retries, setenv refusals.

Upstream sends each line of the shown output as an ephemeral info status (`InfoStatus`) tied to the
resource (github.com/pulumi/pulumi-command v1.2.1 `provider/pkg/provider/util/util.go:32-53`, a
`bufio.Scanner` over one pipe that stdout and stderr both write to), unmasked. The SSH side runs on
an asyncio loop that must not block on gRPC, so messages go through a queue to a thread of their
own, which calls the engine's `Log` in order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from plugins.engine_log import EngineLog


class LineSplitter:
    """Bytes in, lines out as `bufio.ScanLines` cuts them: without `\\n` and one trailing `\\r`;
    `finish()` gives the unterminated rest."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._pending = b""

    def feed(self, data: bytes) -> None:
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        for line in lines:
            self._emit(line.removesuffix(b"\r").decode("utf-8", "replace"))

    def finish(self) -> None:
        if self._pending:
            self._emit(self._pending.removesuffix(b"\r").decode("utf-8", "replace"))
            self._pending = b""


class EngineStream:
    """Sends messages for one resource to the engine from a background thread, in order."""

    def __init__(self, engine: EngineLog | None, urn: str) -> None:
        self._engine = engine
        self._urn = urn
        self._queue: queue.Queue[tuple[str, str, bool] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, name="engine-stream", daemon=True)
        self._thread.start()

    def status(self, line: str) -> None:
        """An ephemeral info line (`InfoStatus`): a line of command output, a retry notice."""
        self._queue.put(("info", line, True))

    def warning(self, message: str) -> None:
        """A warning that stays in the output (`Warning`)."""
        self._queue.put(("warning", message, False))

    def error(self, message: str) -> None:
        """An error diagnostic that stays in the output (`Error`)."""
        self._queue.put(("error", message, False))

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _pump(self) -> None:
        while (item := self._queue.get()) is not None:
            severity, message, ephemeral = item
            if self._engine is not None:
                self._engine.log(severity, message, self._urn, ephemeral)
