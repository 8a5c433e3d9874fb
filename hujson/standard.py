"""`Minimize` and `Standardize` of tailscale/hujson, ported: HuJSON made plain JSON, Go's way.

Pure module (stdlib only), on the value tree of `hujson.tree`. Ported from github.com/tailscale/hujson
at ecc657c (the version terraform-provider-tailscale v0.29.2 pins): `standard.go:40-89` and the
byte-level wrappers `format.go:12-36`.

- `minimize` drops every whitespace, comment and trailing comma and keeps each literal's bytes as
  written: string escapes (`"\\u0041"` stays), number spelling (`1.0e2` stays) and duplicate object
  names (both kept). This is what `getAcl`'s `json` output is (`data_source_acl.go:73-77`), not a
  re-serialisation of the parsed document.
- `standardize` replaces every comment and trailing comma with spaces (newlines kept), so offsets
  and line numbers stay as they were; tailscale-client-go runs it on a 2xx body that is not valid
  JSON before decoding it (`client.go:352-358` at v2.9.0).
"""

from __future__ import annotations

from hujson.tree import Array, Object, Value, all_values, last_value, pack, parse_value, set_trailing_comma

__all__ = ["minimize", "minimize_bytes", "minimize_text", "standardize", "standardize_bytes"]

_WHITESPACE = b" \t\r\n"


def minimize(value: Value) -> None:
    """Go's `(*Value).minimize` (`standard.go:46-56`): no extra bytes anywhere, in place."""
    value.before = None
    inner = value.value
    if isinstance(inner, Object | Array):
        for child in all_values(inner):
            minimize(child)
        set_trailing_comma(inner, False)
        inner.after = None
    value.after = None


def _blank(extra: bytes | None) -> bytes | None:
    """Go's `(*Extra).standardize` (`standard.go:80-89`): every byte but whitespace becomes a space."""
    if extra is None:
        return None
    return bytes(c if c in _WHITESPACE else 0x20 for c in extra)


def standardize(value: Value) -> None:
    """Go's `(*Value).standardize` (`standard.go:66-79`): comments and trailing commas to spaces."""
    value.before = _blank(value.before)
    inner = value.value
    if isinstance(inner, Object | Array):
        for child in all_values(inner):
            standardize(child)
        last = last_value(inner)
        if last is not None and last.after is not None:
            inner.after = last.after + b" " + (inner.after or b"")
            last.after = None
        inner.after = _blank(inner.after)
    value.after = _blank(value.after)


def minimize_bytes(data: bytes) -> bytes:
    """Go's `hujson.Minimize(b)` (`format.go:29-36`); raises `HuJSONFormatError` as `Parse` does."""
    tree = parse_value(data)
    minimize(tree)
    return pack(tree)


def minimize_text(text: str) -> str:
    """`minimize_bytes` of UTF-8 text."""
    return minimize_bytes(text.encode()).decode()


def standardize_bytes(data: bytes) -> bytes:
    """Go's `hujson.Standardize(b)` (`format.go:17-24`); raises `HuJSONFormatError` as `Parse` does."""
    tree = parse_value(data)
    standardize(tree)
    return pack(tree)
