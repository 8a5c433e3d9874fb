"""What a plugin has in progress (processes, futures), so that a cancel or an exit reaches every one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class InFlight(Generic[T]):
    """A thread-safe set of things in progress: each is in it while `track` holds it."""

    def __init__(self) -> None:
        self._items: set[T] = set()
        self._lock = threading.Lock()

    @contextmanager
    def track(self, item: T) -> Iterator[T]:
        """Hold `item` in the set for the duration of the `with` block."""
        with self._lock:
            self._items.add(item)
        try:
            yield item
        finally:
            with self._lock:
                self._items.discard(item)

    def snapshot(self) -> list[T]:
        """The items in progress now."""
        with self._lock:
            return list(self._items)
