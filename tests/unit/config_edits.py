"""Raw stack configs for the config tests: a copy of one with a single value changed."""

from __future__ import annotations

import copy
from typing import Any


def changed(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`raw` with one value changed; `path` like `hosts.0.port` (a value of None deletes the key)."""
    result = copy.deepcopy(raw)
    *parents, last = path.split(".")
    node: Any = result
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    key: Any = int(last) if last.isdigit() else last
    if value is None:
        del node[key]
    else:
        node[key] = value
    return result
