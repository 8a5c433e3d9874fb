"""Each running sandbox claims a /24 of the emulated tailnet of its own, released when it exits."""

from __future__ import annotations

import subprocess
import sys

from sandbox import address_block
from testing.engine import ROOT

CLAIM_AND_WAIT = "from sandbox import address_block; import sys; print(address_block.claim(1), flush=True); sys.stdin.read()"


def test_two_sandboxes_get_different_blocks_and_an_exit_frees_one() -> None:
    first = subprocess.Popen(
        [sys.executable, "-c", CLAIM_AND_WAIT],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert first.stdout is not None and first.stdin is not None
    held = int(first.stdout.readline())
    mine = address_block.claim(held)  # asks for the held block first: must be given another
    assert mine != held
    first.stdin.close()
    first.wait(10)
    again = subprocess.run(
        [sys.executable, "-c", f"from sandbox import address_block; print(address_block.claim({held}))"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert int(again.stdout) == held, "the block of a sandbox that exited was not released"


def test_a_block_starts_at_its_first_host_address() -> None:
    assert address_block.first_address_index(0) == 1  # 127.100.0.1, the demo's documented address
    assert address_block.first_address_index(3) == 3 * 256 + 1
