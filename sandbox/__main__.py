"""`python -m sandbox up|down|status`: the offline sandbox (see sandbox/orchestrator.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sandbox.orchestrator import DEFAULT_STATE, down, serve, status, up


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
    args = parser.parse_args(argv)
    state_dir = args.state_dir.resolve()
    if args.command == "up":
        return up(state_dir, args.port_base, args.visible_groups)
    if args.command == "down":
        return down(state_dir)
    if args.command == "status":
        return status(state_dir)
    return serve(state_dir, args.port_base, args.visible_groups)


if __name__ == "__main__":
    sys.exit(main())
