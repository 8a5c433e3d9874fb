"""Aperture's grants: who gets which role and which models (`tailscale.com/cap/aperture` capabilities).

A grant's `src` matches `*`, the caller's identity exactly (a login, or a tagged device's tags sorted
and comma-joined), or a `group:<g>` the identity is a member of, among the groups the gateway can see
(`groups`: without visible groups, none). Of every matching grant, the highest
`role` wins (`admin` > `user`; none: 403) and every `models` glob is kept; a model `provider/id`
is allowed when one glob matches it (`*` one path segment, `**` zero or more). A capability object's
`quotas` (`[{"bucket": "<name>"}]`) names the buckets charged for the models of its `models` glob,
or for every model when it has none (a "floating" object).
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

    quotas: tuple[tuple[str | None, tuple[str, ...]], ...] = ()
    """(`models` glob, or None for every model; the bucket names it charges), per capability object."""

    def allows(self, fqn: str) -> bool:
        """Whether `provider/model` is granted."""
        return any(glob_match(pattern, fqn) for pattern in self.patterns)

    def buckets(self, fqn: str | None = None) -> list[str]:
        """The bucket names (templates as written) charged for `provider/model`; every one named
        when `fqn` is None. Each once, in grant order."""
        found: list[str] = []
        for pattern, names in self.quotas:
            if fqn is None or pattern is None or glob_match(pattern, fqn):
                found.extend(name for name in names if name not in found)
        return found


def evaluate_grants(document: Any, identity: str | None, groups: Mapping[str, Sequence[str]]) -> Access:
    """The role and model patterns `identity` gets from the document's grants."""
    if identity is None or not isinstance(document, dict):
        return Access(None, ())
    grants = document.get("grants")
    role: str | None = None
    patterns: list[str] = []
    quotas: list[tuple[str | None, tuple[str, ...]]] = []
    for grant in grants if isinstance(grants, list) else []:
        src = grant.get("src") if isinstance(grant, dict) else None
        if not isinstance(src, list) or not any(_src_matches(s, identity, groups) for s in src):
            continue
        for cap in capabilities(grant):
            granted = cap.get("role")
            if granted in ROLE_RANK and (role is None or ROLE_RANK[granted] > ROLE_RANK[role]):
                role = granted
            models = cap.get("models") if isinstance(cap.get("models"), str) else None
            if models is not None:
                patterns.append(models)
            names = bucket_names(cap)
            if names:
                quotas.append((models, names))
    return Access(role, tuple(patterns), tuple(quotas))


def bucket_names(capability: dict[str, Any]) -> tuple[str, ...]:
    """The bucket names a capability object's `quotas` lists (`[{"bucket": "<name>"}]`)."""
    refs = capability.get("quotas")
    return tuple(
        ref["bucket"]
        for ref in (refs if isinstance(refs, list) else [])
        if isinstance(ref, dict) and isinstance(ref.get("bucket"), str)
    )


def _src_matches(src: Any, identity: str, groups: Mapping[str, Sequence[str]]) -> bool:
    if src == "*" or src == identity:
        return True
    return isinstance(src, str) and src.startswith("group:") and identity in groups.get(src, [])
