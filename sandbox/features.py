"""Tailnet features of a running sandbox: `<state>/features.json`, read by the emulators on each request.

Some Tailscale features exist only once Tailscale has switched them on for a tailnet (alpha features
are activated on request, never through the API), so a new tailnet has them off and so does the
sandbox. The sandbox runs in a process of its own, so the switches live in a file that `up` writes
and a test, or a person, changes while it runs:

| feature | Tailscale's flag | on: |
| --- | --- | --- |
| `visibleGroups` | `node-attr-visible-groups` | a `tailscale.com/visible-groups` node attribute sends the gateway group memberships, so Aperture matches the `group:` grant sources it lists (sandbox/reachability.py `VisibleGroups`) |

`python -m sandbox up --visible-groups` starts with `visibleGroups` on; while it runs,
`set_feature(state_dir, "visibleGroups", True)`, or from a shell:
`echo '{"visibleGroups": true}' > .sandbox/features.json`. A missing file means every feature off.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sandbox import faults

FEATURES_FILE = "features.json"
"""The features' file name in the sandbox state directory."""

VISIBLE_GROUPS = "visibleGroups"
"""Tailscale's `node-attr-visible-groups` flag (Aperture's visible groups), off on a new tailnet."""

FEATURES = (VISIBLE_GROUPS,)


def features_path(state_dir: str | os.PathLike[str]) -> Path:
    """`<state_dir>/features.json`."""
    return Path(state_dir) / FEATURES_FILE


def enabled(path: Path | None, name: str) -> bool:
    """Whether feature `name` is on now (no file, or not set: off)."""
    return path is not None and faults.read(path).get(name) is True


def set_feature(state_dir: str | os.PathLike[str], name: str, on: bool) -> None:
    """Switch feature `name` on or off (the other features keep their state)."""
    if name not in FEATURES:
        raise ValueError(f"{name!r} is not a sandbox feature: use one of {', '.join(FEATURES)}")
    path = features_path(state_dir)
    switches = faults.read(path) | {name: on}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(switches, indent=2) + "\n")
    temporary.replace(path)
