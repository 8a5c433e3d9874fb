"""The keys of a policy file: their documented spellings, read in any letter case, and the keys the
evaluator does not know.

Pure module. Tailscale decodes the policy file with Go's `encoding/json`, which matches an object's
keys to the fields of its type case-insensitively: `Grants`, `SRC` and `Ip` are `grants`, `src` and
`ip` (that is why the original `ACLs`/`Action`/`Users` spellings still work). So every level of the
file is read the same way here: `canonical_keys` renames each key of a known level to its documented
spelling, so that the model (`policy_file`), the evaluator (`reachability`) and the guardrails see
what Tailscale sees.

A key that is no field of its level, or two keys that are the same key to Tailscale (`src` and
`Src`), is a `KeyProblem`: what Tailscale makes of it cannot be told from here (an ignored field, a
refused file, or access), so the guardrails treat it as undecidable (`tailnet-policy-checkable`).
Sections whose keys are names you choose (`groups`, `hosts`, `tagOwners`, `postures`, `ipsets`) or
whose content opens no access (`derpMap`) are not looked into.

Sources: https://tailscale.com/kb/1337/acl-syntax (sections, `acls`, `tests`, `ssh`, `sshTests`,
`nodeAttrs`, `autoApprovers`), https://tailscale.com/kb/1538/grants-syntax (`grants`),
https://tailscale.com/kb/1288/device-posture (`srcPosture`, `defaultSrcPosture`, `srcPostureAttrs`),
https://pkg.go.dev/encoding/json#Unmarshal (case-insensitive key matching).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SECTIONS = (
    "acls",
    "grants",
    "groups",
    "hosts",
    "tagOwners",
    "ssh",
    "nodeAttrs",
    "tests",
    "sshTests",
    "postures",
    "defaultSrcPosture",
    "autoApprovers",
    "ipsets",
    "derpMap",
    "disableIPv4",
    "OneCGNATRoute",
    "randomizeClientPort",
)
"""The top-level sections Tailscale documents."""


@dataclass(frozen=True)
class Level:
    """The keys one kind of object of the policy file may have, in their documented spelling."""

    name: str
    """How a message names the object, e.g. `a grant`."""

    keys: tuple[str, ...]

    def spelling(self, key: str) -> str | None:
        """The documented spelling of `key` (matched in any letter case), or None for an unknown key."""
        folded = fold(key)
        return next((known for known in self.keys if fold(known) == folded), None)


TOP_LEVEL = Level("the policy file", SECTIONS)
ENTRY_LEVELS = {
    "acls": Level("an acls rule", ("action", "src", "dst", "proto", "users", "ports", "srcPosture")),
    "grants": Level("a grant", ("src", "dst", "ip", "app", "srcPosture", "via")),
    "ssh": Level(
        "an ssh rule",
        (
            "action",
            "src",
            "dst",
            "users",
            "checkPeriod",
            "acceptEnv",
            "srcPosture",
            "recorder",
            "enforceRecorder",
        ),
    ),
    "nodeAttrs": Level("a nodeAttrs entry", ("target", "attr", "app", "ipPool")),
    "tests": Level("a test", ("src", "proto", "accept", "deny", "srcPostureAttrs", "user", "allow")),
    "sshTests": Level("an sshTests entry", ("src", "dst", "accept", "check", "deny", "srcPostureAttrs")),
}
"""The keys of each entry of a section that is a list of entries."""

AUTO_APPROVERS = Level("autoApprovers", ("routes", "exitNode", "services"))


@dataclass(frozen=True)
class KeyProblem:
    """A key the evaluator cannot judge: where it is, the key as written, and why."""

    where: str
    """`grants[1]`, `autoApprovers`, or `top level`."""

    key: str
    why: str

    def __str__(self) -> str:
        return f'{self.where}: key "{self.key}" {self.why}'


def fold(key: str) -> str:
    """`key` case-folded the way Go's `strings.EqualFold` compares: one character to one (simple
    folding), so that the long s (U+017F) matches `s` but the sharp s (U+00DF) does not match `ss`."""
    return "".join(c.casefold() if len(c.casefold()) == 1 else c for c in key)


def canonical_keys(
    raw: Mapping[str, Any], level: Level, where: str, problems: list[KeyProblem]
) -> dict[str, Any]:
    """`raw` with each known key in its documented spelling; unknown keys kept as written.

    Appends to `problems` each unknown key and each key that repeats another in another letter case
    (Go's decoder keeps the last one, as this does).
    """
    out: dict[str, Any] = {}
    written: dict[str, str] = {}
    for key, value in raw.items():
        name = level.spelling(key)
        if name is None:
            problems.append(KeyProblem(where, key, f"is not a key of {level.name} ({', '.join(level.keys)})"))
            name = key
        elif name in written:
            why = f'is the same key to Tailscale as "{written[name]}" (keys match in any letter case)'
            problems.append(KeyProblem(where, key, why))
        written[name] = key
        out[name] = value
    return out
