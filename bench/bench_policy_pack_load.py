"""How long the policy pack takes to load: a fresh `policies/venv` interpreter imports every rule
module and builds every policy (everything `policies/__main__.py` does except starting the gRPC
server). Prints one figure: the median wall time of five runs, in seconds. Budget: 2 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5
CODE = (
    "import sys; sys.path.insert(0, '..')\n"
    "from policies import commands, deploy, enforcement, gateway, keys, lockout, stack, tailnet\n"
    "enforcement.check_hook()\n"
    "assert sum(len(m.POLICIES) for m in (tailnet, deploy, gateway, lockout, keys, commands, stack))\n"
)


def load_seconds(python: Path) -> float:
    """Wall time of one interpreter start plus the imports, run where the engine runs the pack."""
    start = time.perf_counter()
    subprocess.run([str(python), "-c", CODE], cwd=ROOT / "policies", check=True)
    return time.perf_counter() - start


def main() -> int:
    python = ROOT / "policies" / "venv" / "bin" / "python"
    if not python.exists():
        print(f"bench_policy_pack_load: {python} is missing; run `make setup`", file=sys.stderr)
        return 1
    times = [load_seconds(python) for _ in range(RUNS)]
    print(f"policy_pack_load_seconds {statistics.median(times):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
