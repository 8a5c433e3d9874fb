"""The emulated `nvidia-smi` of a DGX Spark: one NVIDIA GB10, memory fields unavailable (unified memory).

`-L` prints `GPU 0: NVIDIA GB10 (UUID: GPU-sandbox)`. `--query-gpu=FIELDS --format=csv[,noheader]
[,nounits]` answers the fields below, `[N/A]` for the memory ones as the real GB10 does; the bare
command prints a summary table with `Not Supported` memory usage. Other flags are refused (exit 2).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

NAME = "NVIDIA GB10"
UUID = "GPU-sandbox"
DRIVER = "580.95.05"
FIELDS = {
    "index": "0",
    "name": NAME,
    "uuid": UUID,
    "driver_version": DRIVER,
    "compute_cap": "12.1",
    "memory.total": "[N/A]",
    "memory.used": "[N/A]",
    "memory.free": "[N/A]",
    "temperature.gpu": "41",
    "utilization.gpu": "0 %",
    "power.draw": "[N/A]",
    "pci.bus_id": "0000000F:01:00.0",
}


def main(argv: Sequence[str]) -> int:
    """`nvidia-smi [-L | --query-gpu=... --format=csv...]`."""
    args = list(argv)
    if not args:
        print(
            f"+-----------------------------------------------------------------------------------------+\n"
            f"| NVIDIA-SMI {DRIVER}              Driver Version: {DRIVER}      CUDA Version: 13.0     |\n"
            f"|   0  {NAME:<28}On  |   {FIELDS['pci.bus_id']} Off |                  N/A |\n"
            f"| N/A   41C    P0             11W /  N/A  |             Not Supported  |      0%      Default |\n"
            f"+-----------------------------------------------------------------------------------------+"
        )
        return 0
    if args in (["-L"], ["--list-gpus"]):
        print(f"GPU 0: {NAME} (UUID: {UUID})")
        return 0
    query = next((a.split("=", 1)[1] for a in args if a.startswith("--query-gpu=")), None)
    formats = next((a.split("=", 1)[1] for a in args if a.startswith("--format=")), "")
    if query is None or not formats.startswith("csv"):
        print(
            f"sandbox nvidia-smi: only -L and --query-gpu=... --format=csv are emulated, not {args}",
            file=sys.stderr,
        )
        return 2
    names = [n.strip() for n in query.split(",") if n.strip()]
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        print(f'Field "{unknown[0]}" is not a valid field to query.', file=sys.stderr)
        return 2
    options = formats.split(",")[1:]
    if "noheader" not in options:
        print(", ".join(names))
    values = [FIELDS[n] for n in names]
    if "nounits" in options:
        values = [v.removesuffix(" %") for v in values]
    print(", ".join(values))
    return 0
