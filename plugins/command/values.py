"""Property values as upstream's go-provider sees them: secrets kept where they are, unknowns, nulls.

Upstream (github.com/pulumi/pulumi-go-provider v1.3.0) reads every request with `KeepSecrets`,
`KeepUnknowns` and `SkipNulls` (`provider.go:649-658`) and writes with `KeepSecrets` and
`KeepOutputValues` (`provider.go:660-669`), so a secret nested anywhere (a connection's
`privateKey`, one environment value, one trigger) stays a secret at that very place, and a
comparison of two values sees secretness. This module works on the wire form (`plugins.wire`'s
`to_python`): a secret is `{SIG_KEY: SECRET_SIG, "value": v}`, an unknown is `UNKNOWN`, and an
unknown secret is what upstream writes for it, an output value `{SIG_KEY: OUTPUT_VALUE_SIG,
"secret": true}` (`internal/putil/putil.go` MakeSecret of a computed value).
"""

from __future__ import annotations

from typing import Any

from plugins.wire import OUTPUT_VALUE_SIG, SECRET_SIG, SIG_KEY, UNKNOWN, child_path, reveal

Props = dict[str, Any]
"""A property map in wire form."""


def is_secret(value: Any) -> bool:
    """Whether `value` itself (not something inside it) is a secret (`putil.IsSecret`)."""
    if not isinstance(value, dict):
        return False
    signature = value.get(SIG_KEY)
    return signature == SECRET_SIG or (signature == OUTPUT_VALUE_SIG and bool(value.get("secret")))


def is_unknown(value: Any) -> bool:
    """Whether `value` itself is unknown (`putil.IsComputed`): `UNKNOWN` or an output without a value."""
    if isinstance(value, dict) and value.get(SIG_KEY) == OUTPUT_VALUE_SIG:
        return "value" not in value
    return bool(value == UNKNOWN)


def make_secret(value: Any) -> Any:
    """`value` marked secret, as `putil.MakeSecret` does (go-provider `internal/putil/putil.go:58-73`)."""
    if is_secret(value):
        return value
    if isinstance(value, dict) and value.get(SIG_KEY) == OUTPUT_VALUE_SIG:
        return {**value, "secret": True}
    if value == UNKNOWN:
        return {SIG_KEY: OUTPUT_VALUE_SIG, "secret": True}
    return {SIG_KEY: SECRET_SIG, "value": value}


def inner(value: Any) -> Any:
    """The value inside one secret wrapper (`putil.MakePublic`), else `value` itself."""
    if isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG:
        return value.get("value")
    if isinstance(value, dict) and value.get(SIG_KEY) == OUTPUT_VALUE_SIG:
        return value.get("value", UNKNOWN)
    return value


def rewrap(original: Any, new_inner: Any) -> Any:
    """`new_inner` with the secret wrapper `original` had (if any)."""
    return make_secret(new_inner) if is_secret(original) else new_inner


def plain(value: Any) -> Any:
    """`value` without any secret wrapper, at any depth (what a command run uses)."""
    return reveal(value)[0]


def skip_nulls(value: Any) -> Any:
    """`value` without null object entries at any depth, as `UnmarshalProperties` with `SkipNulls`
    reads a request (github.com/pulumi/pulumi sdk v3.224.0 `go/common/resource/plugin/rpc.go:302`);
    nulls inside arrays stay."""
    if isinstance(value, dict):
        return {key: skip_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [skip_nulls(item) for item in value]
    return value


def is_plain_object(value: Any) -> bool:
    """An object that is neither a secret nor another special value (`PropertyValue.IsObject`)."""
    return isinstance(value, dict) and SIG_KEY not in value


def deep_equals(a: Any, b: Any) -> bool:
    """Go's `PropertyValue.DeepEquals` on wire values: a bool never equals a number, a secret never
    equals a plain value, object entries without a value are ignored (`properties_diff.go:335-470`)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        keys = {key for key, item in a.items() if item is not None}
        if keys != {key for key, item in b.items() if item is not None}:
            return False
        return all(deep_equals(a[key], b[key]) for key in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(deep_equals(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    return bool(a == b)


# -- differences, as `resource.PropertyValue.Diff` and `plugin.NewDetailedDiffFromObjectDiff` ----


def object_diff(old: Props, new: Props, path: str = "") -> dict[str, str]:
    """`{path: add|delete|update}` between two objects (sdk v3.224.0
    `go/common/resource/properties_diff.go:187-255` with `plugin/provider.go:642-708` at v3.224.0).

    Arrays and plain objects are compared element by element; anything else (a secret, including a
    secret object, an unknown, a string) is one leaf compared by deep equality, so a secret
    `connection` that changed inside is the single path `connection`.
    """
    changes: dict[str, str] = {}
    for key, before in old.items():
        sub = child_path(path, key)
        if key not in new:
            if before is not None:
                changes[sub] = "delete"
            continue
        after = new[key]
        if isinstance(after, dict) and after.get(SIG_KEY) == OUTPUT_VALUE_SIG:
            continue  # an output value in the news is never a difference (properties_diff.go:215)
        if deep_equals(before, after):
            continue
        if before is None:
            changes[sub] = "add"
        elif after is None:
            changes[sub] = "delete"
        else:
            changes.update(_value_diff(before, after, sub))
    for key, after in new.items():
        if key not in old and after is not None:
            changes[child_path(path, key)] = "add"
    return changes


def _value_diff(before: Any, after: Any, path: str) -> dict[str, str]:
    """A changed value's paths (`properties_diff.go:275-332`, `provider.go:674-708`)."""
    if isinstance(before, list) and isinstance(after, list):
        changes: dict[str, str] = {}
        for index in range(max(len(before), len(after))):
            sub = child_path(path, index)
            if index >= len(before):
                changes[sub] = "add"
            elif index >= len(after):
                changes[sub] = "delete"
            elif not deep_equals(before[index], after[index]):
                changes.update(_value_diff(before[index], after[index], sub))
        return changes
    if is_plain_object(before) and is_plain_object(after):
        return object_diff(before, after, path)
    if before is None:
        return {path: "add"}
    if after is None:
        return {path: "delete"}
    return {path: "update"}
