"""Pulumi's property values on the wire: Struct <-> dict, secrets and unknowns.

The engine encodes a secret as `{SIG_KEY: SECRET_SIG, "value": v}` and an unknown (a value not
known during preview) as the string `UNKNOWN`. This plugin answers `acceptSecrets=false`, so the
engine unwraps secret inputs itself and re-marks outputs by input key; `Configure` arguments stay
wrapped regardless, so `unwrap` is applied to everything that comes in.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, struct_pb2

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The engine's sentinel for a value not known yet (preview)."""

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

Props = dict[str, Any]


def to_dict(struct: struct_pb2.Struct | None) -> Props:
    """A Struct as plain Python values, secrets unwrapped, integral floats as ints."""
    if struct is None:
        return {}
    value = unwrap(json_format.MessageToDict(struct))
    return value if isinstance(value, dict) else {}


def to_struct(props: Props) -> struct_pb2.Struct:
    """Plain values (secrets made with `secret`) as a Struct; None values are left out."""
    struct = struct_pb2.Struct()
    struct.update({key: value for key, value in props.items() if value is not None})
    return struct


def unwrap(value: Any) -> Any:
    """Remove secret wrappers (at any depth) and turn integral floats into ints."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return unwrap(value.get("value"))
        return {key: unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def secret(value: Any) -> dict[str, Any]:
    """`value` marked secret, as the engine's wire format spells it."""
    return {SIG_KEY: SECRET_SIG, "value": value}


def is_unknown(value: Any) -> bool:
    """Is this value (or anything inside it) unknown during preview?"""
    if value == UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(is_unknown(item) for item in value.values())
    if isinstance(value, list):
        return any(is_unknown(item) for item in value)
    return False
