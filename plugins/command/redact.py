"""Secret values hidden in every text the plugin shows or logs (streamed lines, errors, warnings).

A command may print what it was given on stdin or in its environment; upstream would show it. This
plugin replaces each secret value it knows of, its lines, and the value part of `NAME=value` lines
(an env file sent on stdin), with `[secret]`. Values shorter than `MIN_LENGTH` are left alone so
that a secret such as `1` cannot blank every digit of the output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "[secret]"
MIN_LENGTH = 4
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*=(.*)$")


def _fragments(value: str) -> set[str]:
    """The value, each of its lines, and the right-hand side of `NAME=value` lines."""
    found = {value, value.strip()}
    for line in value.splitlines():
        found.add(line.strip())
        match = _ASSIGNMENT.match(line)
        if match:
            found.add(match.group(1).strip().strip("'\""))
    return {fragment for fragment in found if len(fragment) >= MIN_LENGTH}


class Redactor:
    """Replaces known secret values in text; longest first, so no fragment of one survives."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        fragments: set[str] = set()
        for value in secrets:
            fragments |= _fragments(value)
        self._fragments = sorted(fragments, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for fragment in self._fragments:
            if fragment in text:
                text = text.replace(fragment, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self._fragments)


def secret_strings(value: object) -> list[str]:
    """Every string inside `value` (a secret input: a string, a map of strings, a connection)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in secret_strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in secret_strings(item)]
    return []
