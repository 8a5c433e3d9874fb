"""Go's encoding/json as tailscale-client-go v2.9.0 meets it: syntax errors, decoding, field lookup.

An error body that is not JSON is not an `APIError` upstream: `json.Unmarshal` fails first and its
error is what the user sees, without the status (`client.go:363-371`). `syntax_error` words that
failure as Go's scanner does (encoding/json `scanner.go`: `checkValid`, `quoteChar` and the
`invalid character ... looking for beginning of value` family); `decode` turns valid JSON into
Python values; `field` finds a struct field's value as `json.Unmarshal` does (exact name, else a
case-insensitive match; the last one in the document wins).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["GoJSONError", "decode", "field", "syntax_error"]

END_OF_INPUT = "unexpected end of JSON input"
_SPACE = b" \t\r\n"
_LITERALS = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}


class GoJSONError(ValueError):
    """A decoding error, worded as Go's `err.Error()`."""


class _Syntax(Exception):
    pass


def _quote_char(c: int) -> str:
    """encoding/json `quoteChar`: the byte as Go quotes it in a syntax error."""
    from plugins.tailscale.golang import quote

    if c == ord("'"):
        return "'\\''"
    if c == ord('"'):
        return "'\"'"
    return "'" + quote(chr(c))[1:-1] + "'"


class _Scanner:
    """A recursive reading of Go's scanner states, for the first error only."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.i = 0

    def peek(self) -> int:
        if self.i >= len(self.data):
            raise _Syntax(END_OF_INPUT)
        return self.data[self.i]

    def fail(self, context: str) -> _Syntax:
        return _Syntax(f"invalid character {_quote_char(self.data[self.i])} {context}")

    def space(self) -> int:
        while self.peek() in _SPACE:
            self.i += 1
        return self.data[self.i]

    def value(self) -> None:
        c = self.space()
        if c == ord("{"):
            self.obj()
        elif c == ord("["):
            self.array()
        elif c == ord('"'):
            self.string()
        elif c == ord("-") or ord("0") <= c <= ord("9"):
            self.number()
        elif c in _LITERALS:
            self.literal(_LITERALS[c])
        else:
            raise self.fail("looking for beginning of value")

    def closed(self, close: str) -> bool:
        """Whether `close` comes next (past white space); if so, past it."""
        if self.space() != ord(close):
            return False
        self.i += 1
        return True

    def end_value(self, close: str, context: str) -> bool:
        """`stateEndValue` in an object or array: past `close` (True) or past a `,` (False)."""
        if self.closed(close):
            return True
        if self.data[self.i] != ord(","):
            raise self.fail(context)
        self.i += 1
        return False

    def obj(self) -> None:
        self.i += 1
        if self.closed("}"):
            return
        while True:
            if self.space() != ord('"'):
                raise self.fail("looking for beginning of object key string")
            self.string()
            if self.space() != ord(":"):
                raise self.fail("after object key")
            self.i += 1
            self.value()
            if self.end_value("}", "after object key:value pair"):
                return

    def array(self) -> None:
        self.i += 1
        if self.closed("]"):
            return
        while True:
            self.value()
            if self.end_value("]", "after array element"):
                return

    def string(self) -> None:
        self.i += 1
        while True:
            c = self.peek()
            if c == ord('"'):
                self.i += 1
                return
            if c < 0x20:
                raise self.fail("in string literal")
            self.i += 1
            if c == ord("\\"):
                self.escape()

    def escape(self) -> None:
        c = self.peek()
        if c in b'bfnrt\\/"':
            self.i += 1
        elif c == ord("u"):
            self.i += 1
            for _ in range(4):
                if self.peek() not in b"0123456789abcdefABCDEF":
                    raise self.fail("in \\u hexadecimal character escape")
                self.i += 1
        else:
            raise self.fail("in string escape code")

    def digits(self) -> None:
        while self.i < len(self.data) and self.data[self.i] in b"0123456789":
            self.i += 1

    def number(self) -> None:
        if self.data[self.i] == ord("-"):
            self.i += 1
            if self.peek() not in b"0123456789":
                raise self.fail("in numeric literal")
        if self.data[self.i] == ord("0"):
            self.i += 1
        else:
            self.digits()
        if self.i < len(self.data) and self.data[self.i] == ord("."):
            self.i += 1
            if self.peek() not in b"0123456789":
                raise self.fail("after decimal point in numeric literal")
            self.digits()
        if self.i < len(self.data) and self.data[self.i] in b"eE":
            self.i += 1
            if self.peek() in b"+-":
                self.i += 1
            if self.peek() not in b"0123456789":
                raise self.fail("in exponent of numeric literal")
            self.digits()

    def literal(self, word: bytes) -> None:
        self.i += 1
        for expected in word[1:]:
            if self.peek() != expected:
                raise self.fail(f"in literal {word.decode()} (expecting {_quote_char(expected)})")
            self.i += 1

    def document(self) -> None:
        self.value()
        while self.i < len(self.data):
            if self.data[self.i] not in _SPACE:
                raise self.fail("after top-level value")
            self.i += 1


def syntax_error(data: bytes) -> str | None:
    """Go's `checkValid` error for `data` (`unexpected end of JSON input`, `invalid character ...`)."""
    try:
        _Scanner(data).document()
    except _Syntax as exc:
        return str(exc)
    return None


def decode(data: bytes) -> Any:
    """`data` (valid JSON per `syntax_error`) as Python values; invalid UTF-8 becomes U+FFFD, as in Go."""
    problem = syntax_error(data)
    if problem is not None:
        raise GoJSONError(problem)
    return json.loads(data.decode("utf-8", errors="replace"))


def field(document: Mapping[str, Any], name: str) -> Any:
    """A struct field's value as `json.Unmarshal` finds it: the last key equal to `name`, ignoring case."""
    found = None
    for key, value in document.items():
        if key == name or key.casefold() == name.casefold():
            found = value
    return found
