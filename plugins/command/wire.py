"""Property values as the engine sends them, and back: Struct, secrets, unknowns, diff paths.

With `acceptSecrets`, a secret arrives as `{SECRET_KEY: SECRET_SIG, "value": v}`; in a preview an
unknown value is the string `UNKNOWN`. The plugin works on plain values and remembers which top-level
properties held a secret anywhere inside, so it can mark them secret again in what it returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2

SECRET_KEY = "4dabf18193072939515e22adb298388d"
"""The signature key of a special value (secret, output value, asset, resource reference)."""
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
"""The signature of a secret."""
OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
"""The signature of an output value (sent only to providers that accept outputs)."""
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""A value not known yet (preview)."""


def to_python(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as a dict (numbers are floats, as on the wire)."""
    return dict(json_format.MessageToDict(struct))


def to_struct(values: dict[str, Any]) -> struct_pb2.Struct:
    """A dict as a Struct."""
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def reveal(value: Any) -> tuple[Any, bool]:
    """`value` without secret (or output-value) wrappers, and whether any secret was inside."""
    if isinstance(value, dict):
        signature = value.get(SECRET_KEY)
        if signature == SECRET_SIG:
            inner, _ = reveal(value.get("value"))
            return inner, True
        if signature == OUTPUT_SIG:
            inner, inner_secret = reveal(value.get("value", UNKNOWN))
            return inner, bool(value.get("secret")) or inner_secret
        pairs = {key: reveal(item) for key, item in value.items()}
        return {key: pair[0] for key, pair in pairs.items()}, any(pair[1] for pair in pairs.values())
    if isinstance(value, list):
        items = [reveal(item) for item in value]
        return [item[0] for item in items], any(item[1] for item in items)
    return value, False


def secret(value: Any) -> dict[str, Any]:
    """`value` wrapped as a secret."""
    return {SECRET_KEY: SECRET_SIG, "value": value}


def has_unknown(value: Any) -> bool:
    """Whether `value` is, or contains, an unknown."""
    if isinstance(value, dict):
        return any(has_unknown(item) for item in value.values())
    if isinstance(value, list):
        return any(has_unknown(item) for item in value)
    return bool(value == UNKNOWN)


@dataclass
class Props:
    """A property map in plain values, plus the top-level keys to return as secrets."""

    values: dict[str, Any] = field(default_factory=dict)
    secret_keys: set[str] = field(default_factory=set)

    @classmethod
    def from_struct(cls, struct: struct_pb2.Struct) -> Props:
        """Unwrap every secret of `struct`, remembering the top-level key that held it."""
        props = cls()
        for key, raw in to_python(struct).items():
            value, is_secret = reveal(raw)
            props.values[key] = value
            if is_secret:
                props.secret_keys.add(key)
        return props

    def wire(self, always_secret: tuple[str, ...] = ()) -> dict[str, Any]:
        """The values with secret keys (and `always_secret` ones that are set) wrapped again."""
        hidden = self.secret_keys | set(always_secret)
        return {
            key: secret(value) if key in hidden and value is not None else value
            for key, value in self.values.items()
        }

    def to_struct(self, always_secret: tuple[str, ...] = ()) -> struct_pb2.Struct:
        """`wire()` as a Struct."""
        return to_struct(self.wire(always_secret))


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def child_path(parent: str, key: str | int) -> str:
    """A property path one level below `parent`: `a.b`, `a[0]`, `a["x.y"]`."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if _PLAIN_KEY.match(key):
        return f"{parent}.{key}" if parent else key
    quoted = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'{parent}["{quoted}"]'


def changed_paths(old: Any, new: Any, path: str = "") -> dict[str, str]:
    """Leaf paths that differ between `old` and `new`, each `add`, `delete` or `update`.

    Arrays and objects are compared element by element, so a changed trigger shows as
    `triggers[0]`, which the engine matches against the SDK's `replace_on_changes=["triggers[*]"]`.
    """
    if old == new:
        return {}
    if isinstance(old, dict) and isinstance(new, dict):
        keyed: dict[str, str] = {}
        for key in sorted(set(old) | set(new)):
            sub = child_path(path, key)
            if key not in old:
                keyed[sub] = "add"
            elif key not in new:
                keyed[sub] = "delete"
            else:
                keyed.update(changed_paths(old[key], new[key], sub))
        return keyed
    if isinstance(old, list) and isinstance(new, list):
        indexed: dict[str, str] = {}
        for index in range(max(len(old), len(new))):
            sub = child_path(path, index)
            if index >= len(old):
                indexed[sub] = "add"
            elif index >= len(new):
                indexed[sub] = "delete"
            else:
                indexed.update(changed_paths(old[index], new[index], sub))
        return indexed
    return {path: "update"}
