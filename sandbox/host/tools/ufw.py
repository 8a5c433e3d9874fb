"""The emulated `ufw`: defaults, rules and the enabled flag recorded in `state/ufw.json`; no packet filtering.

Needs `sudo` (`ERROR: You need to be root to run this script`, exit 1). `enable` without `--force`
asks on stdin as ufw does and aborts unless the answer starts with `y`. Rules are kept as the words
given (`allow 22/tcp`, `allow in on enp1s0f1np1`); a new rule prints `Rules updated` (+ `(v6)`) while
the firewall is inactive and `Rule added` (+ `(v6)`) once it is enabled, as ufw's
backend_iptables.py `set_rule` does; a repeated rule prints `Skipping adding existing rule`.
`status [verbose]` prints them (`allow in on IFACE` as `Anywhere on IFACE  ALLOW  Anywhere`).
Not emulated: application profiles, `insert`, numbered deletes, logging levels.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from sandbox.host.state import HostPaths, locked_json, read_json

DEFAULT_STATE: dict[str, Any] = {
    "enabled": False,
    "defaults": {"incoming": "deny", "outgoing": "allow", "routed": "disabled"},
    "rules": [],
}
ACTIONS = ("allow", "deny", "reject", "limit")


def main(argv: Sequence[str]) -> int:
    """Dispatch `ufw [--force] COMMAND ...`."""
    words = list(argv)
    force = "--force" in words
    words = [w for w in words if w != "--force"]
    if not words:
        print("ERROR: not enough args", file=sys.stderr)
        return 1
    if words[0] not in ("status", "version", "--version") and os.environ.get("SANDBOX_SUDO") != "1":
        print("ERROR: You need to be root to run this script", file=sys.stderr)
        return 1
    paths = HostPaths.from_env()
    command, rest = words[0], words[1:]
    if command in ("version", "--version"):
        print("ufw 0.36.2 (sandbox)")
        return 0
    if command == "status":
        return _status(read_json(paths.ufw, DEFAULT_STATE), verbose="verbose" in rest)
    if command == "enable" and not force:
        print(
            "Command may disrupt existing ssh connections. Proceed with operation (y|n)? ", end="", flush=True
        )
        if not sys.stdin.readline().strip().lower().startswith("y"):
            print("Aborted")
            return 1
    with locked_json(paths.ufw, DEFAULT_STATE) as state:
        if command == "default" and len(rest) in (1, 2) and rest[0] in ("allow", "deny", "reject"):
            direction = rest[1] if len(rest) == 2 else "incoming"
            state["defaults"][direction] = rest[0]
            print(
                f"Default {direction} policy changed to '{rest[0]}'\n(be sure to update your rules accordingly)"
            )
        elif command in ACTIONS and rest:
            rule = " ".join([command, *rest])
            if rule in state["rules"]:
                print("Skipping adding existing rule\nSkipping adding existing rule (v6)")
            else:
                state["rules"].append(rule)
                done = "Rule added" if state["enabled"] else "Rules updated"
                print(f"{done}\n{done} (v6)")
        elif command == "delete" and rest:
            rule = " ".join(rest)
            if rule in state["rules"]:
                state["rules"].remove(rule)
                print("Rule deleted\nRule deleted (v6)")
            else:
                print("Could not delete non-existent rule\nCould not delete non-existent rule (v6)")
        elif command == "enable":
            state["enabled"] = True
            print("Firewall is active and enabled on system startup")
        elif command == "disable":
            state["enabled"] = False
            print("Firewall stopped and disabled on system startup")
        elif command == "reset":
            state.clear()
            state.update(DEFAULT_STATE, rules=[], defaults=dict(DEFAULT_STATE["defaults"]))
            print("Resetting all rules to installed defaults.")
        else:
            print(
                f"ERROR: Invalid syntax (sandbox ufw emulates default, {', '.join(ACTIONS)}, delete, "
                "enable, disable, reset, status)",
                file=sys.stderr,
            )
            return 1
    return 0


def _status(state: dict[str, Any], verbose: bool) -> int:
    if not state["enabled"]:
        print("Status: inactive")
        return 0
    print("Status: active")
    if verbose:
        defaults = state["defaults"]
        print(
            f"Default: {defaults['incoming']} (incoming), {defaults['outgoing']} (outgoing), "
            f"{defaults['routed']} (routed)"
        )
    print(f"\n{'To':<27}{'Action':<12}From\n{'--':<27}{'------':<12}----")
    for rule in state["rules"]:
        action, _, target = rule.partition(" ")
        if target.startswith("in on "):
            target = "Anywhere on " + target[len("in on ") :]
        print(f"{target:<27}{action.upper():<12}Anywhere")
    return 0
