"""Pulumi property values on the wire, for every plugin here: Struct <-> Python, secrets, unknowns, paths.

The engine's sentinels are the SDK's own (`pulumi.runtime.rpc`; in Go `sdk/go/common/resource/sig/sig.go`
and `UnknownStringValue` in `sdk/go/common/resource/plugin/rpc.go` of github.com/pulumi/pulumi):

- a secret is `{SIG_KEY: SECRET_SIG, "value": v}`; an output value (sent only to a provider that
  accepts outputs) is `{SIG_KEY: OUTPUT_VALUE_SIG, "value": v, "secret": bool, ...}`;
- a value not known yet (preview) is the string `UNKNOWN`, alone or anywhere inside a value.

A plugin that answers `acceptSecrets=false` (tailscale) gets inputs unwrapped but `Configure`
arguments wrapped regardless, so it unwraps everything (`plain`); one that answers `acceptSecrets=true`
(command) keeps track of which top-level keys held a secret (`RevealedProps`) and marks them again in
what it returns. Detailed-diff paths (`a.b`, `a[0]`, `a["x.y"]`) are spelled as the engine parses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.rpc import UNKNOWN

# The SDK exports UNKNOWN but keeps the signatures private (leading underscore): they are aliased
# here, once, under public names for the plugins.
SIG_KEY: str = rpc._special_sig_key
"""The key whose value says what a special map is (secret, output value, asset, resource reference)."""
SECRET_SIG: str = rpc._special_secret_sig
"""The signature of a secret."""
OUTPUT_VALUE_SIG: str = rpc._special_output_value_sig
"""The signature of an output value (sent only to providers that accept outputs)."""

Props = dict[str, Any]
"""A property map in plain Python values, keyed by the wire's camelCase names."""


# -- Struct <-> Python --------------------------------------------------------------------------


def to_python(struct: struct_pb2.Struct | None) -> Props:
    """A Struct as a dict, as on the wire: numbers are floats, secrets stay wrapped."""
    if struct is None:
        return {}
    return dict(json_format.MessageToDict(struct))


def to_plain(struct: struct_pb2.Struct | None) -> Props:
    """A Struct as plain values: secrets unwrapped at any depth, integral floats as ints (`plain`)."""
    value = plain(to_python(struct))
    return value if isinstance(value, dict) else {}


def to_struct(values: Mapping[str, Any], *, omit_none: bool = False) -> struct_pb2.Struct:
    """A dict as a Struct; a None value is a null, or left out with `omit_none`."""
    struct = struct_pb2.Struct()
    struct.update({key: value for key, value in values.items() if not (omit_none and value is None)})
    return struct


def json_kind(value: Any) -> str:
    """The JSON kind of a plain value, as Go's encoding/json names it in an `UnmarshalTypeError`:
    `bool`, `number`, `string`, `array`, else `object` (null included)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


# -- secrets ------------------------------------------------------------------------------------


def secret(value: Any) -> dict[str, Any]:
    """`value` marked secret, as the engine's wire format spells it."""
    return {SIG_KEY: SECRET_SIG, "value": value}


def reveal(value: Any) -> tuple[Any, bool]:
    """`value` without secret (or output-value) wrappers, and whether any secret was inside."""
    if isinstance(value, dict):
        signature = value.get(SIG_KEY)
        if signature == SECRET_SIG:
            inner, _ = reveal(value.get("value"))
            return inner, True
        if signature == OUTPUT_VALUE_SIG:
            inner, inner_secret = reveal(value.get("value", UNKNOWN))
            return inner, bool(value.get("secret")) or inner_secret
        pairs = {key: reveal(item) for key, item in value.items()}
        return {key: pair[0] for key, pair in pairs.items()}, any(pair[1] for pair in pairs.values())
    if isinstance(value, list):
        items = [reveal(item) for item in value]
        return [item[0] for item in items], any(item[1] for item in items)
    return value, False


def plain(value: Any) -> Any:
    """`value` revealed, with integral floats (the wire has only doubles) turned into ints."""
    return _ints(reveal(value)[0])


def _ints(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_ints(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass
class RevealedProps:
    """A property map in plain values, plus the top-level keys to return as secrets."""

    values: Props = field(default_factory=dict)
    secret_keys: set[str] = field(default_factory=set)

    @classmethod
    def from_struct(cls, struct: struct_pb2.Struct) -> RevealedProps:
        """Unwrap every secret of `struct`, remembering the top-level key that held it."""
        props = cls()
        for key, raw in to_python(struct).items():
            value, is_secret = reveal(raw)
            props.values[key] = value
            if is_secret:
                props.secret_keys.add(key)
        return props

    def wire(self, always_secret: tuple[str, ...] = ()) -> Props:
        """The values with secret keys (and `always_secret` ones that are set) wrapped again."""
        hidden = self.secret_keys | set(always_secret)
        return {
            key: secret(value) if key in hidden and value is not None else value
            for key, value in self.values.items()
        }

    def to_struct(self, always_secret: tuple[str, ...] = ()) -> struct_pb2.Struct:
        """`wire()` as a Struct."""
        return to_struct(self.wire(always_secret))


# -- unknowns -----------------------------------------------------------------------------------


def has_unknown(value: Any) -> bool:
    """Whether `value` is, or contains, an unknown (preview)."""
    if isinstance(value, dict):
        return any(has_unknown(item) for item in value.values())
    if isinstance(value, list):
        return any(has_unknown(item) for item in value)
    return bool(value == UNKNOWN)


# -- URNs and property paths --------------------------------------------------------------------


def parse_urn(urn: str) -> tuple[str, str]:
    """(type token, name) of `urn:pulumi:<stack>::<project>::<parent$type>::<name>`; ("", urn) if not one."""
    parts = urn.split("::")
    if len(parts) < 4:
        return "", urn
    return parts[2].split("$")[-1], parts[-1]


def _requires_quote(char: str) -> bool:
    """sdk v3.224.0 `go/common/resource/properties_path.go:574-576`."""
    return not (char.isascii() and (char.isalnum() or char == "_"))


def child_path(parent: str, key: str | int) -> str:
    """`parent` + one key, as `PropertyPath.String()` writes it: `a.b`, `a[0]`, `a["x.y"]`
    (`properties_path.go:578-608`)."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if any(_requires_quote(char) for char in key):
        return parent + '["' + key.replace('"', '\\"') + '"]'
    return f"{parent}.{key}" if parent else key
