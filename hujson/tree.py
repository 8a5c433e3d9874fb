"""The value tree of tailnet/hujson, ported: Go's `parse.go`, `pack.go` and `standard.go`.

Pure module (stdlib only). `parse_value` reads UTF-8 bytes into `Value`s that keep every byte of
whitespace and comments around them (Go's `Extra`), `pack` writes them back byte for byte, and
`is_standard` says whether a tree is plain JSON. `hujson.formatter` formats such a tree as Go's
`hujson.Format` does. Ported from github.com/tailscale/hujson at 78b5b16.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

_WHITESPACE = b" \t\r\n"


class HuJSONFormatError(ValueError):
    """Invalid HuJSON, worded as Go's `hujson.Parse`: `hujson: line N, column M: <what>`."""


class _ParseError(Exception):
    def __init__(self, offset: int, message: str, object_end: bool = False, array_end: bool = False) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message
        self.object_end = object_end
        self.array_end = array_end


@dataclass
class Object:
    members: list[tuple[Value, Value]] = field(default_factory=list)
    after: bytes | None = None


@dataclass
class Array:
    elements: list[Value] = field(default_factory=list)
    after: bytes | None = None


_Composite = Object | Array


@dataclass
class Value:
    """A value with the whitespace and comments before and after it (Go's `Extra`, nil = None)."""

    value: bytes | Object | Array | None = None
    before: bytes | None = None
    after: bytes | None = None
    start: int = 0


# -- composite helpers ----------------------------------------------------------------------------


def all_values(comp: _Composite) -> Iterator[Value]:
    if isinstance(comp, Object):
        for name, value in comp.members:
            yield name
            yield value
    else:
        yield from comp.elements


def length(comp: _Composite) -> int:
    return len(comp.members) if isinstance(comp, Object) else len(comp.elements)


def last_value(comp: _Composite) -> Value | None:
    if isinstance(comp, Object):
        return comp.members[-1][1] if comp.members else None
    return comp.elements[-1] if comp.elements else None


def before_extra_at0(comp: _Composite) -> bytes:
    if isinstance(comp, Object):
        return (comp.members[0][0].before or b"") if comp.members else (comp.after or b"")
    return (comp.elements[0].before or b"") if comp.elements else (comp.after or b"")


def _has_trailing_comma(comp: _Composite) -> bool:
    last = last_value(comp)
    return last is not None and last.after is not None


def set_trailing_comma(comp: _Composite, want: bool) -> None:
    last = last_value(comp)
    if last is None:
        return
    if want and last.after is None:
        last.after = b""
    elif not want and last.after is not None:
        comp.after = last.after + (comp.after or b"")
        last.after = None


# -- parse (parse.go) -----------------------------------------------------------------------------


def consume_whitespace(b: bytes, n: int = 0) -> int:
    start = n
    while n < len(b) and b[n] in _WHITESPACE:
        n += 1
    return n - start


def consume_comment(b: bytes, n: int = 0) -> int:
    if b.startswith(b"//", n):
        end = b"\n"
    elif b.startswith(b"/*", n):
        end = b"*/"
    else:
        return 0
    i = b.find(end, n + 2)
    if i < 0:
        return -1
    return i + len(end) - n


def _consume_extra(n: int, b: bytes) -> int:
    while n < len(b):
        if b[n] in _WHITESPACE:
            n += consume_whitespace(b, n)
        elif b[n] == ord("/"):
            nc = consume_comment(b, n)
            if nc == 0:
                return n
            if nc < 0:
                raise _ParseError(n, "parsing comment: unexpected EOF")
            try:
                b[n : n + nc].decode()
            except UnicodeDecodeError:
                raise _ParseError(n, "invalid UTF-8 in comment") from None
            n += nc
        else:
            return n
    return n


def _invalid_character(b: bytes, n: int, where: str) -> _ParseError:
    text = b[n : n + 4].decode(errors="replace")[:1]
    what = f"'\\x{b[n]:02x}'" if text == "\ufffd" else (f"'{text}'" if text.isprintable() else repr(text))
    return _ParseError(n, f"invalid character {what} {where}")


def _reject_constant(name: str) -> None:
    raise ValueError(name)


def _literal_valid(literal: bytes) -> bool:
    try:
        json.loads(literal.decode(), parse_constant=_reject_constant)
    except ValueError:
        return False
    return True


def _parse_next(n: int, b: bytes) -> tuple[Value, int]:
    value = Value()
    n0 = n
    n = _consume_extra(n, b)
    if n > n0:
        value.before = b[n0:n]
    value.start = n
    try:
        value.value, n = _parse_trimmed(n, b)
    except _ParseError as exc:
        exc.__dict__["partial"] = value
        raise
    end = n
    n = _consume_extra(n, b)
    if n > end:
        value.after = b[end:n]
    return value, n


def _parse_trimmed(n: int, b: bytes) -> tuple[bytes | Object | Array, int]:
    if n == len(b):
        raise _ParseError(n, "parsing value: unexpected EOF")
    ch = b[n]
    if ch in b"{[":
        try:
            return _parse_composite(n + 1, b, Object() if ch == ord("{") else Array())
        except _ParseError as exc:
            # A `}` or `]` met deeper down closes nothing at this level (Go: the value is not nil).
            exc.object_end = exc.array_end = False
            raise
    if ch == ord("}"):
        raise _ParseError(n, "invalid character '}' at start of value", object_end=True)
    if ch == ord("]"):
        raise _ParseError(n, "invalid character ']' at start of value", array_end=True)
    if ch == ord('"'):
        start, n, escaped = n, n + 1, False
        while True:
            if n == len(b):
                raise _ParseError(n, "parsing string: unexpected EOF")
            if escaped:
                escaped = False
            elif b[n] == ord("\\"):
                escaped = True
            elif b[n] == ord('"'):
                literal = b[start : n + 1]
                if not _literal_valid(literal):
                    raise _ParseError(start, f"invalid literal: {literal.decode(errors='replace')}")
                return literal, n + 1
            n += 1
    start = n
    while n < len(b) and (chr(b[n]).isascii() and (chr(b[n]).isalnum() or b[n] in b"-+.")):
        n += 1
    literal = b[start:n]
    if not literal:
        raise _invalid_character(b, start, "at start of value")
    if not _literal_valid(literal):
        raise _ParseError(start, f"invalid literal: {literal.decode()}")
    return literal, n


def _next_or_end(n: int, b: bytes, comp: _Composite) -> tuple[Value | None, int]:
    """The next value inside `comp`, or None and the offset past its closing bracket."""
    try:
        return _parse_next(n, b)
    except _ParseError as exc:
        partial: Value = exc.__dict__.get("partial", Value())
        ended = exc.object_end if isinstance(comp, Object) else exc.array_end
        if ended and partial.value is None:
            set_trailing_comma(comp, length(comp) > 0)
            comp.after = partial.before
            return None, exc.offset + 1
        raise


def _past_value(n: int, b: bytes, comp: _Composite, value: Value) -> int | None:
    """The offset past the `,` after `value`, or None when the closing bracket follows it."""
    kind, close = ("object", "}") if isinstance(comp, Object) else ("array", "]")
    if n == len(b):
        raise _ParseError(n, f"parsing {kind} after value: unexpected EOF")
    if b[n] == ord(","):
        return n + 1
    if b[n] == ord(close):
        comp.after, value.after = value.after, None
        return None
    raise _invalid_character(b, n, f"after {kind} value (expecting ',' or '{close}')")


def _member_value(name: Value, n: int, b: bytes) -> tuple[Value, int]:
    """The value of an object member, after its name `name` and the `:` at `n`."""
    if not isinstance(name.value, bytes) or not name.value.startswith(b'"'):
        raise _invalid_character(b, name.start, "at start of object name")
    if n == len(b):
        raise _ParseError(n, "parsing object after name: unexpected EOF")
    if b[n] != ord(":"):
        raise _invalid_character(b, n, "after object name")
    return _parse_next(n + 1, b)


def _parse_composite(n: int, b: bytes, comp: _Composite) -> tuple[_Composite, int]:
    """`comp` filled with the members or elements from `n` (past its opening bracket) to its closing one."""
    while True:
        value, n = _next_or_end(n, b, comp)
        if value is None:
            return comp, n
        if isinstance(comp, Object):
            name = value
            value, n = _member_value(name, n, b)
            comp.members.append((name, value))
        else:
            comp.elements.append(value)
        after = _past_value(n, b, comp, value)
        if after is None:
            return comp, n + 1
        n = after


def parse_value(b: bytes) -> Value:
    try:
        value, n = _parse_next(0, b)
        if n < len(b):
            raise _invalid_character(b, n, "after top-level value")
    except _ParseError as exc:
        offset = exc.offset
        line = b.count(b"\n", 0, offset) + 1
        column = offset - (b.rfind(b"\n", 0, offset) + 1) + 1
        raise HuJSONFormatError(f"hujson: line {line}, column {column}: {exc.message}") from None
    return value


# -- pack (pack.go) -------------------------------------------------------------------------------


def _pack_trimmed(value: bytes | Object | Array | None) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    parts: list[bytes] = []
    if isinstance(value, Object):
        parts.append(b"{")
        for name, member in value.members:
            parts += [pack(name), b":", pack(member), b","]
    else:
        parts.append(b"[")
        for element in value.elements:
            parts += [pack(element), b","]
    if length(value) and not _has_trailing_comma(value):
        parts.pop()
    parts += [value.after or b"", b"}" if isinstance(value, Object) else b"]"]
    return b"".join(parts)


def pack(value: Value) -> bytes:
    return (value.before or b"") + _pack_trimmed(value.value) + (value.after or b"")


# -- standard.go ----------------------------------------------------------------------------------


def has_comment(extra: bytes | None) -> bool:
    return extra is not None and consume_whitespace(extra) < len(extra)


def is_standard(value: Value) -> bool:
    if has_comment(value.before) or has_comment(value.after):
        return False
    comp = value.value
    if isinstance(comp, Object | Array):
        if not all(is_standard(child) for child in all_values(comp)):
            return False
        if _has_trailing_comma(comp) or has_comment(comp.after):
            return False
    return True
