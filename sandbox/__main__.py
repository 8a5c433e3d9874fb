"""`python -m sandbox up|down|status`: the offline sandbox (see sandbox/orchestrator.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sandbox.orchestrator import DEFAULT_STATE, Options, down, serve, status, up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "serve"])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE, help="default: .sandbox/")
    parser.add_argument(
        "--port-base", type=int, default=0, help="Tailscale API port (Aperture: +1); 0 = OS-chosen"
    )
    parser.add_argument(
        "--visible-groups",
        action="store_true",
        help="turn on Aperture's visible groups for the tailnet (off, as on a new tailnet)",
    )
    parser.add_argument("--hosts", type=int, default=1, help="emulated GB10 hosts: spark, spark-2, ...")
    parser.add_argument(
        "--vllm-startup-seconds",
        type=float,
        default=0.0,
        help="how long each fake vLLM container takes to load its model (a real first load: 10-15 min)",
    )
    args = parser.parse_args(argv)
    if args.hosts < 1:
        parser.error("--hosts must be 1 or more")
    state_dir = args.state_dir.resolve()
    options = Options(args.port_base, args.visible_groups, args.hosts, args.vllm_startup_seconds)
    if args.command == "up":
        return up(state_dir, options)
    if args.command == "down":
        return down(state_dir)
    if args.command == "status":
        return status(state_dir)
    return serve(state_dir, options)


if __name__ == "__main__":
    sys.exit(main())
