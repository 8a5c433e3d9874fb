"""`hujson.Format` of tailscale/hujson, ported: the canonical text Tailscale hashes and compares.

Pure module (stdlib only), shared by the Tailscale API emulator and the project's `tailscale`
plugin. Tailscale's policy-file ETag is the SHA-256 (hex) of the `hujson.Format`ted policy, and
the Terraform provider (so pulumi-tailscale) suppresses an `acl` diff when
`hujson.Format(config) == hujson.Format(state)` (terraform-provider-tailscale
`tailscale/resource_acl.go`; docs/architecture.md §10.1). Both need the exact same bytes as Go's
formatter, so this is a line-by-line port of `format.go` of github.com/tailscale/hujson at
78b5b16 (on the value tree of `hujson.tree`), checked against that repository's own `TestFormat`
table (tests/unit/test_hujson_format.py).

It works on UTF-8 bytes, as Go does: the alignment of object values counts bytes. `format_text`
and `etag` are the two entry points; `HuJSONFormatError` carries Go's message,
`hujson: line N, column M: ...`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from hujson.tree import (
    Array,
    HuJSONFormatError,
    Object,
    Value,
    all_values,
    before_extra_at0,
    consume_comment,
    consume_whitespace,
    has_comment,
    is_standard,
    last_value,
    length,
    pack,
    parse_value,
    set_trailing_comma,
)

__all__ = ["HuJSONFormatError", "etag", "format_bytes", "format_text"]

PUNCH_CARD_WIDTH = 80


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


def _normalize(value: Value) -> None:
    inner = value.value
    if isinstance(inner, bytes):
        if inner.startswith(b'"') and b"\\" in inner:
            value.value = _go_string(json.loads(inner.decode()))
        return
    if inner is None:
        return
    if length(inner) == 0:
        if not has_comment(inner.after):
            inner.after = None
        return
    for child in all_values(inner):
        if not has_comment(child.after):
            child.after = None
    for child in all_values(inner):
        _normalize(child)


@dataclass
class _LineStats:
    first: int
    last: int
    multiline: bool


def _comment_length(b: bytes) -> int:
    n = 0
    while True:
        b = b[consume_whitespace(b) :]
        if b.startswith(b"//"):
            return n + 1 + len(b)
        if b.startswith(b"/*"):
            nc = consume_comment(b)
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


def _expand_composites(value: Value, need_expand: set[int]) -> _LineStats:
    inner = value.value
    if not isinstance(inner, Object | Array):
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
    if isinstance(inner, Object):
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
    last = last_value(inner)
    if last is not None:
        expand = expand or b"\n" in (last.after or b"")
    expand = expand or b"\n" in (inner.after or b"")
    line_lengths.append(line_length)
    stats = _LineStats(line_lengths[0], line_lengths[-1], len(line_lengths) > 1)
    expand = expand or any(length > PUNCH_CARD_WIDTH for length in line_lengths)
    if expand:
        stats = _LineStats(1 + _extra_stats(before_extra_at0(inner)).first, 1, True)
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
        n = consume_whitespace(data)
        if n > 0:
            out += b"\n" * min(data[:n].count(b"\n"), 2)
            data = data[n:]
            continue
        n = consume_comment(data)
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
        if line.endswith(b"*/") and consume_whitespace(line) + 2 == len(line):
            prefix_len = consume_whitespace(common)
            lines[i + 1] = common[:prefix_len] + b"*/"
            break
        # Go's loop `continue`s instead of breaking after truncating, so it re-reads the shorter
        # prefix and stops at its end: the result is the longest common prefix all the same.
        j = 0
        while j < len(line) and j < len(common) and line[j] == common[j]:
            j += 1
        common = common[:j]
    prefix_len = consume_whitespace(common)
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


def _leading_extra(extra: bytes | None, depth: int, expand: bool, first: bool) -> bytes | None:
    """The extra before a member's name or an element: its own line when expanded."""
    return _format_extra(
        extra,
        depth,
        ensure_leading_newline=expand,
        remove_leading_empty_lines=first,
        append_space_if_empty=not first,
    )


def _inner_extra(extra: bytes | None, depth: int) -> bytes | None:
    """The extra after a name or a value, with no empty lines around it."""
    return _format_extra(extra, depth, remove_leading_empty_lines=True, remove_trailing_empty_lines=True)


def _format_whitespace(value: Value, depth: int, need_expand: set[int], standardize: bool) -> None:
    comp = value.value
    if not isinstance(comp, Object | Array):
        return
    expand = id(comp) in need_expand
    pairs: list[tuple[Value | None, Value]] = (
        [(name, member) for name, member in comp.members]
        if isinstance(comp, Object)
        else [(None, element) for element in comp.elements]
    )
    for i, (name, member) in enumerate(pairs):
        offset = 1 if expand else 0
        if name is not None:
            name.before = _leading_extra(name.before, depth + 1, expand, first=i == 0)
            name.after = _inner_extra(name.after, depth + 2)
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
            member.before = _leading_extra(member.before, depth + 1, expand, first=i == 0)
        _format_whitespace(member, depth + offset, need_expand, standardize)
        member.after = _inner_extra(member.after, depth + 2)
    comp.after = _format_extra(
        comp.after,
        depth + 1,
        ensure_trailing_newline=expand,
        remove_leading_empty_lines=length(comp) == 0,
        remove_trailing_empty_lines=True,
        unindent_last_line=True,
    )
    last = last_value(comp)
    surrounded = last is not None and bool(last.after) and bool(comp.after)
    if not expand and not surrounded:
        set_trailing_comma(comp, False)
    elif expand and not standardize:
        set_trailing_comma(comp, True)


def _has_newline(value: Value, check_top_level_extra: bool) -> bool:
    if check_top_level_extra and (b"\n" in (value.before or b"") or b"\n" in (value.after or b"")):
        return True
    comp = value.value
    if isinstance(comp, Object | Array):
        return any(_has_newline(child, True) for child in all_values(comp))
    return False


def _align_object_values(value: Value) -> None:
    comp = value.value
    if isinstance(comp, Object):
        rows: list[tuple[Value, int]] = []

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
    if isinstance(comp, Object | Array):
        for child in all_values(comp):
            _align_object_values(child)


def format_bytes(data: bytes) -> bytes:
    """Go's `hujson.Format(b)`; raises HuJSONFormatError where Go returns an error."""
    root = parse_value(data)
    root.before = _format_extra(root.before, 0)
    before = root.before or b""
    root.before = before[consume_whitespace(before) :]
    need_expand: set[int] = set()
    standard = is_standard(root)
    _normalize(root)
    _expand_composites(root, need_expand)
    _format_whitespace(root, 0, need_expand, standard)
    _align_object_values(root)
    after = _format_extra(root.after, 0) or b""
    root.after = after.rstrip() + b"\n"
    return pack(root)


def format_text(text: str) -> str:
    """`hujson.Format` of a text: canonical, tab-indented HuJSON, comments kept."""
    return format_bytes(text.encode()).decode()


def etag(text: str) -> str:
    """Tailscale's policy-file ETag: the SHA-256 hex of the `hujson.Format`ted text (unquoted)."""
    return hashlib.sha256(format_bytes(text.encode())).hexdigest()
