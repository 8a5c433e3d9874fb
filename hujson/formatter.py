"""`hujson.Format` of tailscale/hujson, ported: the canonical text Tailscale hashes and compares.

Pure module (stdlib only), shared by the Tailscale API emulator and the project's `tailscale`
plugin. Tailscale's policy-file ETag is the SHA-256 (hex) of the `hujson.Format`ted policy, and
the Terraform provider (so pulumi-tailscale) suppresses an `acl` diff when
`hujson.Format(config) == hujson.Format(state)` (reference/tailscale-api.md §2.4). Both need the
exact same bytes as Go's formatter, so this is a line-by-line port of `parse.go`, `pack.go`,
`standard.go` and `format.go` (github.com/tailscale/hujson at 78b5b16), checked against that
repository's own `TestFormat` table (tests/unit/test_hujson_format.py).

It works on UTF-8 bytes, as Go does: the alignment of object values counts bytes. `format_text`
and `etag` are the two entry points; `HuJSONFormatError` carries Go's message,
`hujson: line N, column M: ...`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

PUNCH_CARD_WIDTH = 80
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
class _Object:
    members: list[tuple[_Value, _Value]] = field(default_factory=list)
    after: bytes | None = None


@dataclass
class _Array:
    elements: list[_Value] = field(default_factory=list)
    after: bytes | None = None


_Composite = _Object | _Array


@dataclass
class _Value:
    """A value with the whitespace and comments before and after it (Go's `Extra`, nil = None)."""

    value: bytes | _Object | _Array | None = None
    before: bytes | None = None
    after: bytes | None = None
    start: int = 0


# -- composite helpers ----------------------------------------------------------------------------


def _all_values(comp: _Composite) -> Iterator[_Value]:
    if isinstance(comp, _Object):
        for name, value in comp.members:
            yield name
            yield value
    else:
        yield from comp.elements


def _length(comp: _Composite) -> int:
    return len(comp.members) if isinstance(comp, _Object) else len(comp.elements)


def _last_value(comp: _Composite) -> _Value | None:
    if isinstance(comp, _Object):
        return comp.members[-1][1] if comp.members else None
    return comp.elements[-1] if comp.elements else None


def _before_extra_at0(comp: _Composite) -> bytes:
    if isinstance(comp, _Object):
        return (comp.members[0][0].before or b"") if comp.members else (comp.after or b"")
    return (comp.elements[0].before or b"") if comp.elements else (comp.after or b"")


def _has_trailing_comma(comp: _Composite) -> bool:
    last = _last_value(comp)
    return last is not None and last.after is not None


def _set_trailing_comma(comp: _Composite, want: bool) -> None:
    last = _last_value(comp)
    if last is None:
        return
    if want and last.after is None:
        last.after = b""
    elif not want and last.after is not None:
        comp.after = last.after + (comp.after or b"")
        last.after = None


# -- parse (parse.go) -----------------------------------------------------------------------------


def _consume_whitespace(b: bytes, n: int = 0) -> int:
    start = n
    while n < len(b) and b[n] in _WHITESPACE:
        n += 1
    return n - start


def _consume_comment(b: bytes, n: int = 0) -> int:
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
            n += _consume_whitespace(b, n)
        elif b[n] == ord("/"):
            nc = _consume_comment(b, n)
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


def _parse_next(n: int, b: bytes) -> tuple[_Value, int]:
    value = _Value()
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


def _parse_trimmed(n: int, b: bytes) -> tuple[bytes | _Object | _Array, int]:
    if n == len(b):
        raise _ParseError(n, "parsing value: unexpected EOF")
    ch = b[n]
    if ch in b"{[":
        try:
            return _parse_object(n + 1, b) if ch == ord("{") else _parse_array(n + 1, b)
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


def _parse_object(n: int, b: bytes) -> tuple[_Object, int]:
    obj = _Object()
    while True:
        try:
            name, n = _parse_next(n, b)
        except _ParseError as exc:
            partial: _Value = exc.__dict__.get("partial", _Value())
            if exc.object_end and partial.value is None:
                _set_trailing_comma(obj, bool(obj.members))
                obj.after = partial.before
                return obj, exc.offset + 1
            raise
        if not isinstance(name.value, bytes) or not name.value.startswith(b'"'):
            raise _invalid_character(b, name.start, "at start of object name")
        if n == len(b):
            raise _ParseError(n, "parsing object after name: unexpected EOF")
        if b[n] != ord(":"):
            raise _invalid_character(b, n, "after object name")
        value, n = _parse_next(n + 1, b)
        obj.members.append((name, value))
        if n == len(b):
            raise _ParseError(n, "parsing object after value: unexpected EOF")
        if b[n] == ord(","):
            n += 1
        elif b[n] == ord("}"):
            obj.after, value.after = value.after, None
            return obj, n + 1
        else:
            raise _invalid_character(b, n, "after object value (expecting ',' or '}')")


def _parse_array(n: int, b: bytes) -> tuple[_Array, int]:
    arr = _Array()
    while True:
        try:
            value, n = _parse_next(n, b)
        except _ParseError as exc:
            partial: _Value = exc.__dict__.get("partial", _Value())
            if exc.array_end and partial.value is None:
                _set_trailing_comma(arr, bool(arr.elements))
                arr.after = partial.before
                return arr, exc.offset + 1
            raise
        arr.elements.append(value)
        if n == len(b):
            raise _ParseError(n, "parsing array after value: unexpected EOF")
        if b[n] == ord(","):
            n += 1
        elif b[n] == ord("]"):
            arr.after, value.after = value.after, None
            return arr, n + 1
        else:
            raise _invalid_character(b, n, "after array value (expecting ',' or ']')")


def _parse(b: bytes) -> _Value:
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


def _pack_trimmed(value: bytes | _Object | _Array | None) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    parts: list[bytes] = []
    if isinstance(value, _Object):
        parts.append(b"{")
        for name, member in value.members:
            parts += [_pack(name), b":", _pack(member), b","]
    else:
        parts.append(b"[")
        for element in value.elements:
            parts += [_pack(element), b","]
    if _length(value) and not _has_trailing_comma(value):
        parts.pop()
    parts += [value.after or b"", b"}" if isinstance(value, _Object) else b"]"]
    return b"".join(parts)


def _pack(value: _Value) -> bytes:
    return (value.before or b"") + _pack_trimmed(value.value) + (value.after or b"")


# -- standard.go ----------------------------------------------------------------------------------


def _has_comment(extra: bytes | None) -> bool:
    return extra is not None and _consume_whitespace(extra) < len(extra)


def _is_standard(value: _Value) -> bool:
    if _has_comment(value.before) or _has_comment(value.after):
        return False
    comp = value.value
    if isinstance(comp, _Object | _Array):
        if not all(_is_standard(child) for child in _all_values(comp)):
            return False
        if _has_trailing_comma(comp) or _has_comment(comp.after):
            return False
    return True


# -- format (format.go) ---------------------------------------------------------------------------


def _go_string(text: str) -> bytes:
    out: list[str] = ['"']
    escapes = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", "\\": "\\\\", '"': '\\"'}
    for ch in re.sub("[\ud800-\udfff]", "\ufffd", text):
        if ch in escapes:
            out.append(escapes[ch])
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out).encode()


def _normalize(value: _Value) -> None:
    inner = value.value
    if isinstance(inner, bytes):
        if inner.startswith(b'"') and b"\\" in inner:
            value.value = _go_string(json.loads(inner.decode()))
        return
    if inner is None:
        return
    if _length(inner) == 0:
        if not _has_comment(inner.after):
            inner.after = None
        return
    for child in _all_values(inner):
        if not _has_comment(child.after):
            child.after = None
    for child in _all_values(inner):
        _normalize(child)


@dataclass
class _LineStats:
    first: int
    last: int
    multiline: bool


def _comment_length(b: bytes) -> int:
    n = 0
    while True:
        b = b[_consume_whitespace(b) :]
        if b.startswith(b"//"):
            return n + 1 + len(b)
        if b.startswith(b"/*"):
            nc = _consume_comment(b)
            if nc <= 0:
                return n + 1 + len(b)
            n += 1 + nc
            b = b[nc:]
            continue
        return n + 1 if n > 0 else n


def _extra_stats(extra: bytes | None) -> _LineStats:
    b = extra or b""
    if b"\n" not in b:
        n = _comment_length(b)
        return _LineStats(n, n, False)
    return _LineStats(_comment_length(b[: b.index(b"\n")]), _comment_length(b[b.rindex(b"\n") + 1 :]), True)


def _expand_composites(value: _Value, need_expand: set[int]) -> _LineStats:
    inner = value.value
    if not isinstance(inner, _Object | _Array):
        size = len(inner or b"")
        return _LineStats(size, size, False)
    expand = False
    line_length = 0
    line_lengths: list[int] = []

    def update(stats: _LineStats) -> None:
        nonlocal line_length
        line_length += stats.first
        if stats.multiline:
            line_lengths.append(line_length)
            line_length = stats.last

    line_length += 1
    if isinstance(inner, _Object):
        for name, member in inner.members:
            expand = expand or b"\n" in (name.before or b"")
            update(_extra_stats(name.before))
            update(_expand_composites(name, need_expand))
            update(_extra_stats(name.after))
            line_length += 2
            update(_extra_stats(member.before))
            update(_expand_composites(member, need_expand))
            update(_extra_stats(member.after))
            line_length += 2
        # Go's `v2.length() > 1 && stats.multiline` reads the still-zero named result: always false.
    else:
        for element in inner.elements:
            expand = expand or b"\n" in (element.before or b"")
            update(_extra_stats(element.before))
            update(_expand_composites(element, need_expand))
            update(_extra_stats(element.after))
            line_length += 2
    line_length += 1
    last = _last_value(inner)
    if last is not None:
        expand = expand or b"\n" in (last.after or b"")
    expand = expand or b"\n" in (inner.after or b"")
    line_lengths.append(line_length)
    stats = _LineStats(line_lengths[0], line_lengths[-1], len(line_lengths) > 1)
    expand = expand or any(length > PUNCH_CARD_WIDTH for length in line_lengths)
    if expand:
        stats = _LineStats(1 + _extra_stats(_before_extra_at0(inner)).first, 1, True)
        need_expand.add(id(inner))
    return stats


def _format_extra(
    extra: bytes | None,
    depth: int,
    *,
    ensure_leading_newline: bool = False,
    ensure_trailing_newline: bool = False,
    remove_leading_empty_lines: bool = False,
    remove_trailing_empty_lines: bool = False,
    unindent_last_line: bool = False,
    append_space_if_empty: bool = False,
) -> bytes | None:
    source = extra or b""
    if b"\r" in source:
        source = source.replace(b"\r\n", b"\n").replace(b"\n\r", b"\n").replace(b"\r", b" ")
    data = source
    out = bytearray()
    if ensure_leading_newline and b"\n" not in data:
        out += b"\n"
    while data:
        n = _consume_whitespace(data)
        if n > 0:
            out += b"\n" * min(data[:n].count(b"\n"), 2)
            data = data[n:]
            continue
        n = _consume_comment(data)
        if n <= 0:
            return source if extra is not None else None  # invalid comment: Go returns early
        if out.endswith(b"\n"):
            out += b"\t" * depth
        else:
            out += b" "
        comment = data[:n]
        if comment.startswith(b"//") or b"\n" not in comment:
            comment = comment.rstrip()
            if comment.startswith(b"//"):
                n -= 1
            out += comment
            data = data[n:]
            continue
        out += _format_block_comment(comment, depth)
        data = data[n:]
    if ensure_trailing_newline and not out.endswith(b"\n"):
        out += b"\n"
    while remove_leading_empty_lines and out.startswith(b"\n\n"):
        del out[0]
    while remove_trailing_empty_lines and out.endswith(b"\n\n"):
        del out[-1]
    if out.endswith(b"\n"):
        out += b"\t" * (depth - 1 if unindent_last_line else depth)
    elif out:
        out += b" "
    if append_space_if_empty and not out:
        out += b" "
    if extra is None and not out:
        return None
    return bytes(out)


def _format_block_comment(comment: bytes, depth: int) -> bytes:
    lines = [line.rstrip() for line in comment.split(b"\n")]
    first_line = b""
    has_empty_line = False
    for i, line in enumerate(lines):
        if not first_line and line and i > 0:
            first_line = line
        has_empty_line = has_empty_line or not line
    common = first_line
    for i, line in enumerate(lines[1:]):
        if not line:
            continue
        if line.endswith(b"*/") and _consume_whitespace(line) + 2 == len(line):
            prefix_len = _consume_whitespace(common)
            lines[i + 1] = common[:prefix_len] + b"*/"
            break
        # Go's loop `continue`s instead of breaking after truncating, so it re-reads the shorter
        # prefix and stops at its end: the result is the longest common prefix all the same.
        j = 0
        while j < len(line) and j < len(common) and line[j] == common[j]:
            j += 1
        common = common[:j]
    prefix_len = _consume_whitespace(common)
    star_aligned = not has_empty_line and len(common) > prefix_len and common[prefix_len] == ord("*")
    out = bytearray(lines[0] + b"\n")
    for line in lines[1:]:
        if line:
            out += b"\t" * depth
            if star_aligned:
                out += b" "
            out += line[prefix_len:]
        out += b"\n"
    return bytes(out.rstrip(b"\n"))


def _format_whitespace(value: _Value, depth: int, need_expand: set[int], standardize: bool) -> None:
    comp = value.value
    if not isinstance(comp, _Object | _Array):
        return
    expand = id(comp) in need_expand
    pairs: list[tuple[_Value | None, _Value]] = (
        [(name, member) for name, member in comp.members]
        if isinstance(comp, _Object)
        else [(None, element) for element in comp.elements]
    )
    for i, (name, member) in enumerate(pairs):
        offset = 1 if expand else 0
        if name is not None:
            name.before = _format_extra(
                name.before,
                depth + 1,
                ensure_leading_newline=expand,
                remove_leading_empty_lines=i == 0,
                append_space_if_empty=i != 0,
            )
            name.after = _format_extra(
                name.after, depth + 2, remove_leading_empty_lines=True, remove_trailing_empty_lines=True
            )
            member.before = _format_extra(
                member.before,
                depth + 2,
                remove_leading_empty_lines=True,
                remove_trailing_empty_lines=True,
                append_space_if_empty=True,
            )
            if b"\n" in (name.after or b"") or b"\n" in (member.before or b""):
                offset += 1
        else:
            member.before = _format_extra(
                member.before,
                depth + 1,
                ensure_leading_newline=expand,
                remove_leading_empty_lines=i == 0,
                append_space_if_empty=i != 0,
            )
        _format_whitespace(member, depth + offset, need_expand, standardize)
        member.after = _format_extra(
            member.after, depth + 2, remove_leading_empty_lines=True, remove_trailing_empty_lines=True
        )
    comp.after = _format_extra(
        comp.after,
        depth + 1,
        ensure_trailing_newline=expand,
        remove_leading_empty_lines=_length(comp) == 0,
        remove_trailing_empty_lines=True,
        unindent_last_line=True,
    )
    last = _last_value(comp)
    surrounded = last is not None and bool(last.after) and bool(comp.after)
    if not expand and not surrounded:
        _set_trailing_comma(comp, False)
    elif expand and not standardize:
        _set_trailing_comma(comp, True)


def _has_newline(value: _Value, check_top_level_extra: bool) -> bool:
    if check_top_level_extra and (b"\n" in (value.before or b"") or b"\n" in (value.after or b"")):
        return True
    comp = value.value
    if isinstance(comp, _Object | _Array):
        return any(_has_newline(child, True) for child in _all_values(comp))
    return False


def _align_object_values(value: _Value) -> None:
    comp = value.value
    if isinstance(comp, _Object):
        rows: list[tuple[_Value, int]] = []

        def align_rows() -> None:
            widest = max((length for _, length in rows), default=0)
            for member, length in rows:
                member.before = (member.before or b"") + b" " * (widest - length)
            rows.clear()

        for name, member in comp.members:
            if (
                b"\n" not in (name.before or b"")
                or _has_newline(name, False)
                or b"\n" in (name.after or b"")
                or b"\n" in (member.before or b"")
                or _has_newline(member, False)
                or b"\n" in (member.after or b"")
            ):
                align_rows()
                continue
            if (name.before or b"").count(b"\n") > 1:
                align_rows()
            assert isinstance(name.value, bytes)
            length = len(name.value) + len(name.after or b"") + 1 + len(member.before or b"")
            rows.append((member, length))
        align_rows()
    if isinstance(comp, _Object | _Array):
        for child in _all_values(comp):
            _align_object_values(child)


def format_bytes(data: bytes) -> bytes:
    """Go's `hujson.Format(b)`; raises HuJSONFormatError where Go returns an error."""
    root = _parse(data)
    root.before = _format_extra(root.before, 0)
    before = root.before or b""
    root.before = before[_consume_whitespace(before) :]
    need_expand: set[int] = set()
    standard = _is_standard(root)
    _normalize(root)
    _expand_composites(root, need_expand)
    _format_whitespace(root, 0, need_expand, standard)
    _align_object_values(root)
    after = _format_extra(root.after, 0) or b""
    root.after = after.rstrip() + b"\n"
    return _pack(root)


def format_text(text: str) -> str:
    """`hujson.Format` of a text: canonical, tab-indented HuJSON, comments kept."""
    return format_bytes(text.encode()).decode()


def etag(text: str) -> str:
    """Tailscale's policy-file ETag: the SHA-256 hex of the `hujson.Format`ted text (unquoted)."""
    return hashlib.sha256(format_bytes(text.encode())).hexdigest()
