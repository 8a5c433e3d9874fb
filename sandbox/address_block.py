"""A block of emulated tailnet addresses of its own for each running sandbox.

Sandbox devices get addresses in 127.100.0.0/16, which Linux routes to loopback, and a fake vLLM
binds `<address>:<port>`. Two sandboxes running at once (a test's beside `make sandbox-up`, or two
tests) must therefore not hand out the same addresses. Each sandbox process claims one /24 of the
range by holding an exclusive `flock` on `<tmp>/sovereign-ai-sandbox-blocks/<n>.lock` for its
lifetime; the kernel releases it when the process ends, however it ends. Block 0 (127.100.0.1, ...)
is the one `make sandbox-up` asks for first, so the demo's addresses stay the documented ones.
"""

from __future__ import annotations

import fcntl
import tempfile
from pathlib import Path
from typing import IO

BLOCKS = 255
"""127.100.<n>.0/24 for n in 0..254."""

_held: list[IO[str]] = []
"""The lock files this process holds (kept open for its lifetime)."""


def lock_directory() -> Path:
    return Path(tempfile.gettempdir()) / "sovereign-ai-sandbox-blocks"


def claim(first: int = 0) -> int:
    """The first free block from `first` on, claimed for this process; RuntimeError when none is."""
    directory = lock_directory()
    directory.mkdir(exist_ok=True)
    for block in [*range(first, BLOCKS), *range(0, first)]:
        handle = (directory / f"{block}.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _held.append(handle)
        return block
    raise RuntimeError(
        f"all {BLOCKS} sandbox address blocks are in use: stop a sandbox (`make sandbox-down`)"
    )


def first_address_index(block: int) -> int:
    """The index in 127.100.0.0/16 of a block's first device address (127.100.<block>.1)."""
    return 256 * block + 1
