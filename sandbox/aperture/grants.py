"""Aperture's grants: who gets which role and which models (`tailscale.com/cap/aperture` capabilities).

A grant's `src` matches `*`, the caller's identity exactly (a login, or a tagged device's tags sorted
and comma-joined), or a `group:<g>` the identity is a member of, among the groups the gateway can see
(`groups`: without visible groups, none). Of every matching grant, the highest
`role` wins (`admin` > `user`; none: 403) and every `models` glob is kept; a model `provider/id`
is allowed when one glob matches it (`*` one path segment, `**` zero or more).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.aperture.config import ROLE_RANK, capabilities


def glob_match(pattern: str, name: str) -> bool:
    """Match a grant `models` glob on a `provider/model` name: `*` one segment, `**` zero or more."""
    return _match_segments(pattern.split("/"), name.split("/"))


def _match_segments(pattern: list[str], name: list[str]) -> bool:
    if not pattern:
        return not name
    if pattern[0] == "**":
        return any(_match_segments(pattern[1:], name[i:]) for i in range(len(name) + 1))
    if not name:
        return False
    return fnmatch.fnmatchcase(name[0], pattern[0]) and _match_segments(pattern[1:], name[1:])


@dataclass(frozen=True)
class Access:
    """What the grants give one identity: its highest role and its model patterns."""

    role: str | None
    """`admin`, `user` or None (no role: 403)."""

    patterns: tuple[str, ...]
    """The `models` globs of every matching grant."""

    def allows(self, fqn: str) -> bool:
        """Whether `provider/model` is granted."""
        return any(glob_match(pattern, fqn) for pattern in self.patterns)


def evaluate_grants(document: Any, identity: str | None, groups: Mapping[str, Sequence[str]]) -> Access:
    """The role and model patterns `identity` gets from the document's grants."""
    if identity is None or not isinstance(document, dict):
        return Access(None, ())
    grants = document.get("grants")
    role: str | None = None
    patterns: list[str] = []
    for grant in grants if isinstance(grants, list) else []:
        src = grant.get("src") if isinstance(grant, dict) else None
        if not isinstance(src, list) or not any(_src_matches(s, identity, groups) for s in src):
            continue
        for cap in capabilities(grant):
            granted = cap.get("role")
            if granted in ROLE_RANK and (role is None or ROLE_RANK[granted] > ROLE_RANK[role]):
                role = granted
            if isinstance(cap.get("models"), str):
                patterns.append(cap["models"])
    return Access(role, tuple(patterns))


def _src_matches(src: Any, identity: str, groups: Mapping[str, Sequence[str]]) -> bool:
    if src == "*" or src == identity:
        return True
    return isinstance(src, str) and src.startswith("group:") and identity in groups.get(src, [])
