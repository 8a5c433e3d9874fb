"""The emulated `systemctl`: unit states recorded in `state/systemctl.json`; nothing is started.

Known units: `docker`, `tailscaled`, `ssh`, `nvidia-persistenced` (all enabled and active, as on a
DGX Spark with Tailscale installed). `enable`/`disable [--now]`, `start`/`stop`/`restart` need `sudo`
(`Interactive authentication required.`, exit 1, like polkit without a TTY); an unknown unit is
`Unit <u>.service not found.` (exit 5). `is-active` exits 3 when inactive, `is-enabled` 1 when
disabled; `daemon-reload` is a no-op.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from sandbox.host.state import HostPaths, locked_json, read_json

UNITS = ("docker", "tailscaled", "ssh", "nvidia-persistenced")
DEFAULT_STATE: dict[str, Any] = {"units": {u: {"enabled": True, "active": True} for u in UNITS}}
MUTATING = {"enable", "disable", "start", "stop", "restart", "reload", "daemon-reload"}


def _unit(name: str) -> str:
    return name.removesuffix(".service")


def main(argv: Sequence[str]) -> int:
    """Dispatch `systemctl COMMAND [--now] UNIT...`."""
    now = "--now" in argv
    words = [w for w in argv if not w.startswith("-")]
    if not words:
        print("sandbox systemctl: listing units is not emulated", file=sys.stderr)
        return 1
    command, units = words[0], [_unit(w) for w in words[1:]]
    paths = HostPaths.from_env()
    if command in MUTATING and os.environ.get("SANDBOX_SUDO") != "1":
        print(f"Failed to {command} unit: Interactive authentication required.", file=sys.stderr)
        return 1
    if command == "daemon-reload":
        return 0
    if command in ("is-active", "is-enabled", "status"):
        state = read_json(paths.systemctl, DEFAULT_STATE)["units"]
        status = 0
        for unit in units:
            record = state.get(unit, {"enabled": False, "active": False})
            if command == "is-active":
                print("active" if record["active"] else "inactive")
                status = status or (0 if record["active"] else 3)
            elif command == "is-enabled":
                print("enabled" if record["enabled"] else "disabled")
                status = status or (0 if record["enabled"] else 1)
            else:
                active = "active (running)" if record["active"] else "inactive (dead)"
                print(
                    f"* {unit}.service\n     Loaded: loaded; {'enabled' if record['enabled'] else 'disabled'}\n"
                    f"     Active: {active}"
                )
                status = status or (0 if record["active"] else 3)
        return status
    if command not in MUTATING:
        print(
            f"Unknown command verb '{command}' (sandbox emulates enable, disable, start, stop, restart, "
            "is-active, is-enabled, status, daemon-reload).",
            file=sys.stderr,
        )
        return 1
    with locked_json(paths.systemctl, DEFAULT_STATE) as state:
        for unit in units:
            if unit not in state["units"]:
                print(f"Failed to {command} unit: Unit {unit}.service not found.", file=sys.stderr)
                return 5
            record = state["units"][unit]
            if command in ("enable", "disable"):
                record["enabled"] = command == "enable"
                if now:
                    record["active"] = command == "enable"
            elif command in ("start", "restart", "reload"):
                record["active"] = True
            elif command == "stop":
                record["active"] = False
    return 0
