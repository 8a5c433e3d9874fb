"""HuJSON ("human JSON": JSON with comments and trailing commas), as Tailscale and Aperture use it.

Pure module. `loads` turns HuJSON text into plain Python values and reports errors with line and
column. `parse` keeps the source positions of every value and object member, so that a document can
be edited in place (`replace_member`, `remove_member`, `insert_member`) while every byte outside the
edited member, comments included, stays exactly as the user wrote it. `dumps` writes deterministic
HuJSON: two-space indent, keys in the order given, an optional header comment.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


class HuJSONError(ValueError):
    """The text is not valid HuJSON; the message starts with `line N, column M:`."""

    def __init__(self, text: str, offset: int, message: str) -> None:
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        self.line = line
        self.column = column
        super().__init__(f"line {line}, column {column}: {message}")


_BLANK = re.compile("[ \t\r\n\ufeff]*")
"""Whitespace HuJSON allows between tokens (a BOM included)."""


@dataclass
class Member:
    """One `"key": value` of an object, with the span from the key's quote to the value's end."""

    key: str
    start: int
    value: Node


@dataclass
class Node:
    """A parsed value: its Python value, its span in the text and, for objects, its members."""

    value: Any
    start: int
    end: int
    members: list[Member] = field(default_factory=list)
    items: list[Node] = field(default_factory=list)

    def member(self, key: str) -> Member | None:
        return next((m for m in self.members if m.key == key), None)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str, offset: int | None = None) -> HuJSONError:
        return HuJSONError(self.text, self.pos if offset is None else offset, message)

    def skip(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            self.pos = _BLANK.match(text, self.pos).end()  # type: ignore[union-attr]  # `*` always matches
            if self.pos >= n:
                return
            if text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end + 1
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.fail("unterminated /* comment")
                self.pos = end + 2
            else:
                return

    def document(self) -> Node:
        self.skip()
        if self.pos >= len(self.text):
            raise self.fail("empty document")
        node = self.value()
        self.skip()
        if self.pos < len(self.text):
            raise self.fail(f"unexpected {self.text[self.pos]!r} after the top-level value")
        return node

    def value(self) -> Node:
        self.skip()
        if self.pos >= len(self.text):
            raise self.fail("unexpected end of input")
        ch = self.text[self.pos]
        if ch == "{":
            return self.object()
        if ch == "[":
            return self.array()
        if ch == '"':
            start = self.pos
            return Node(self.string(), start, self.pos)
        return self.literal()

    def closed(self, close: str, unterminated: str, start: int) -> bool:
        """Whether `close` comes next (past blanks and comments); if so, past it. The end of the
        text instead is the error `unterminated`, at `start`."""
        self.skip()
        if self.pos >= len(self.text):
            raise self.fail(unterminated, start)
        if self.text[self.pos] != close:
            return False
        self.pos += 1
        return True

    def separator(self, close: str, message: str) -> None:
        """Past blanks and comments, a `,` (skipped) or `close`; anything else is the error `message`."""
        self.skip()
        if self.pos < len(self.text) and self.text[self.pos] == ",":
            self.pos += 1
        elif self.pos < len(self.text) and self.text[self.pos] != close:
            raise self.fail(message)

    def object(self) -> Node:
        start = self.pos
        self.pos += 1
        node = Node({}, start, start)
        while not self.closed("}", "unterminated object: missing }", start):
            if self.text[self.pos] != '"':
                raise self.fail(f"expected a quoted key, found {self.text[self.pos]!r}")
            key_start = self.pos
            key = self.string()
            self.skip()
            if self.pos >= len(self.text) or self.text[self.pos] != ":":
                raise self.fail(f"expected ':' after key {key!r}")
            self.pos += 1
            child = self.value()
            if key in node.value:
                raise self.fail(f"duplicate key {key!r}", key_start)
            node.value[key] = child.value
            node.members.append(Member(key, key_start, child))
            self.separator("}", f"expected ',' or '}}' after the value of {key!r}")
        node.end = self.pos
        return node

    def array(self) -> Node:
        start = self.pos
        self.pos += 1
        node = Node([], start, start)
        while not self.closed("]", "unterminated array: missing ]", start):
            child = self.value()
            node.value.append(child.value)
            node.items.append(child)
            self.separator("]", "expected ',' or ']' in array")
        node.end = self.pos
        return node

    def string(self) -> str:
        start = self.pos
        decoder = json.JSONDecoder()
        try:
            value, end = decoder.raw_decode(self.text, self.pos)
        except json.JSONDecodeError as exc:
            raise self.fail(f"invalid string: {exc.msg}", start) from None
        self.pos = end
        if not isinstance(value, str):  # pragma: no cover - raw_decode at a quote yields a str
            raise self.fail("expected a string", start)
        return value

    def literal(self) -> Node:
        start = self.pos
        n = len(self.text)
        while self.pos < n and self.text[self.pos] not in ",]}:/ \t\r\n":
            self.pos += 1
        token = self.text[start : self.pos]
        if not token:
            raise self.fail(f"unexpected {self.text[start]!r}", start)
        try:
            value = json.loads(token)
        except json.JSONDecodeError:
            raise self.fail(f"invalid value {token!r}", start) from None
        return Node(value, start, self.pos)


def parse(text: str) -> Node:
    """Parse HuJSON, keeping source positions. Raises HuJSONError with line and column."""
    return _Parser(text).document()


def loads(text: str) -> Any:
    """Parse HuJSON into plain Python values (dicts keep the document's key order)."""
    return parse(text).value


def dumps(value: Any, header: str | None = None) -> str:
    """Deterministic HuJSON: two-space indent, keys in the given order, a trailing newline."""
    body = json.dumps(value, indent=2, ensure_ascii=False)
    if header is None:
        return body + "\n"
    comment = "\n".join(f"// {line}".rstrip() for line in header.splitlines())
    return f"{comment}\n{body}\n"


def _indent_of(text: str, offset: int) -> str:
    line_start = text.rfind("\n", 0, offset) + 1
    prefix = text[line_start:offset]
    return prefix if prefix.strip() == "" else ""


def _render_at(value: Any, indent: str) -> str:
    rendered = json.dumps(value, indent=2, ensure_ascii=False)
    return rendered.replace("\n", "\n" + indent)


def replace_member(text: str, obj: Node, key: str, value: Any) -> str:
    """Replace the value of `key` in object `obj`; bytes outside that value are unchanged."""
    member = obj.member(key)
    if member is None:
        return insert_member(text, obj, key, value)
    indent = _indent_of(text, member.start)
    rendered = _render_at(value, indent)
    return text[: member.value.start] + rendered + text[member.value.end :]


def insert_member(text: str, obj: Node, key: str, value: Any) -> str:
    """Append `"key": value` as the last member of `obj`, matching the indent of its siblings."""
    if obj.members:
        last = obj.members[-1]
        indent = _indent_of(text, last.start)
        rendered = f"{json.dumps(key)}: {_render_at(value, indent)}"
        insert_at = last.value.end
        rest = text[insert_at:]
        # Keep an existing trailing comma (and any comment after it) attached to the last member.
        stripped = rest.lstrip(" \t")
        if stripped.startswith(","):
            after = insert_at + (len(rest) - len(stripped)) + 1
            line_end = text.find("\n", after)
            tail = text[after:line_end] if line_end >= 0 else ""
            if line_end >= 0 and (tail.strip() == "" or tail.strip().startswith("//")):
                # Keep a comment that ends the last member's line on that line.
                return text[: line_end + 1] + f"{indent}{rendered},\n" + text[line_end + 1 :]
            return text[:after] + f"\n{indent}{rendered}," + text[after:]
        return text[:insert_at] + f",\n{indent}{rendered}" + text[insert_at:]
    # The object may open mid-line (`"providers": {}`): indent from that line's leading whitespace.
    line = text[text.rfind("\n", 0, obj.start) + 1 : obj.start]
    outer = line[: len(line) - len(line.lstrip(" \t"))]
    inner = outer + "  "
    rendered = f"{json.dumps(key)}: {_render_at(value, inner)}"
    return text[: obj.start] + "{\n" + inner + rendered + "\n" + outer + "}" + text[obj.end :]


def remove_member(text: str, obj: Node, key: str) -> str:
    """Remove `key` and its value (and one following comma) from `obj`; other bytes unchanged."""
    member = obj.member(key)
    if member is None:
        return text
    start = text.rfind("\n", 0, member.start) + 1
    if text[start : member.start].strip():
        start = member.start
    end = member.value.end
    rest = text[end:]
    stripped = rest.lstrip(" \t")
    if stripped.startswith(","):
        end += len(rest) - len(stripped) + 1
    line_end = text.find("\n", end)
    if line_end >= 0 and text[end:line_end].strip() == "":
        end = line_end + 1
    elif line_end < 0 and text[end:].strip() == "":
        end = len(text)
    # Removing the last member may leave a trailing comma before it: still valid HuJSON.
    return text[:start] + text[end:]
