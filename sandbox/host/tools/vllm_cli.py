"""The `vllm` command inside a container: `vllm serve MODEL ARGS...` runs the fake vLLM in the foreground.

It replaces itself (same pid, so `pkill -f 'vllm serve'` finds it) with `python -m sandbox.vllm serve
MODEL ARGS... --startup-seconds S`, S being the host's `vllm_startup_seconds` (state/settings.json), its
output on the caller's stdout and stderr. `vllm --version` prints the fake's version.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from sandbox.host.state import HostPaths, read_json
from sandbox.vllm.server import VERSION


def main(argv: Sequence[str]) -> int:
    """`vllm serve ...` or `vllm --version`."""
    words = list(argv)
    if words[:1] in (["--version"], ["-v"]):
        print(VERSION)
        return 0
    if words[:1] != ["serve"]:
        print("vllm: sandbox: only `vllm serve` and `vllm --version` are emulated", file=sys.stderr)
        return 2
    startup = float(read_json(HostPaths.from_env().settings, {}).get("vllm_startup_seconds", 0.0))
    python = os.environ.get("SANDBOX_PYTHON", sys.executable)
    os.execv(python, [python, "-m", "sandbox.vllm", *words, "--startup-seconds", str(startup)])
