"""Go's wording of what upstream's Go code prints: `%q`, URLs, net/http errors, times, JSON.

pulumi-tailscale 0.29.2 is Go: an error a user sees is `err.Error()` of Go's standard library under
tailscale-client-go v2.9.0 (`client.go:326-378`), so the stand-in builds the same strings here.

- `quote`: `strconv.Quote` (what `%q` prints).
- `url_error`: `*url.Error`, the wrapper `http.Client.Do` puts around every failure:
  `Get "<url>": <cause>` (net/url `url.go` `(*Error).Error`, net/http `client.go` `urlErrorOp`).
- `net_error`: the cause of a failed request, as net/http and the pure-Go resolver word it
  (pulumi-tailscale is built with CGO_ENABLED=0): `dial tcp 127.0.0.1:9: connect: connection
  refused`, `dial tcp: lookup <host> on <ns>:53: no such host`, `EOF`, `context deadline exceeded
  (Client.Timeout exceeded while awaiting headers)`.
- `rfc3339`: a JSON time decoded by `time.Time.UnmarshalJSON` and printed with
  `Format(time.RFC3339)`: whole seconds, `Z` for a zero offset, else `+hh:mm`.
- `path_escape`, `join_path`: `url.PathEscape` and `(*url.URL).JoinPath` (`buildURL`, `client.go:223-232`).
- `go_marshal`: `json.Marshal` bytes (compact, `<`, `>`, `&`, U+2028/9 escaped).
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import posixpath
import re
import socket
import ssl
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote as percent
from urllib.parse import urlsplit

__all__ = [
    "CLIENT_TIMEOUT",
    "go_marshal",
    "join_path",
    "net_error",
    "path_escape",
    "quote",
    "rfc3339",
    "strerror",
    "url_error",
]

CLIENT_TIMEOUT = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
"""net/http's cause when `http.Client.Timeout` passes before the answer's headers."""

RESOLV_CONF = Path("/etc/resolv.conf")
_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def quote(text: str) -> str:
    """`strconv.Quote(text)`: Go's double-quoted literal (printable runes kept as they are)."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def url_error(method: str, url: str, cause: str) -> str:
    """`(*url.Error).Error()`: `<Op> "<url>": <cause>`, Op = the method as `Get`, `Post`, ..."""
    return f"{method[:1]}{method[1:].lower()} {quote(url)}: {cause}"


def strerror(code: int) -> str:
    """A `syscall.Errno`'s text: the C library's, in lower case (`no such file or directory`)."""
    return os.strerror(code).lower()


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname or "", port


def _join_host_port(host: str, port: int) -> str:
    """`net.JoinHostPort`: IPv6 literals in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _dialled_address(host: str, port: int) -> str:
    """The address Go dials first for `host` (its first resolved address)."""
    try:
        first = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
    except OSError:
        first = host
    return _join_host_port(str(first).split("%", 1)[0], port)


def _nameserver() -> str:
    """The first `nameserver` of /etc/resolv.conf, as Go's resolver names it (default 127.0.0.1:53)."""
    try:
        lines = RESOLV_CONF.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            return _join_host_port(fields[1], 53)
    return "127.0.0.1:53"


def _tls_cause(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in (18, 19, 20, 21):
            return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
        if exc.verify_code == 10:
            return "tls: failed to verify certificate: x509: certificate has expired or is not yet valid"
        return f"tls: failed to verify certificate: x509: {exc.verify_message}"
    return f"remote error: tls: {str(exc.reason or exc).lower()}"


def net_error(exc: BaseException, url: str) -> str:
    """The cause Go's net/http reports for a request to `url` that failed as `exc` did."""
    host, port = _host_port(url)
    if isinstance(exc, socket.gaierror):
        return f"dial tcp: lookup {host} on {_nameserver()}: no such host"
    if isinstance(exc, TimeoutError | socket.timeout):
        return CLIENT_TIMEOUT
    if isinstance(exc, ssl.SSLError):
        return _tls_cause(exc)
    if isinstance(exc, http.client.RemoteDisconnected | http.client.IncompleteRead | EOFError):
        return "EOF"
    if isinstance(exc, ConnectionResetError):
        return f"read tcp {_dialled_address(host, port)}: read: connection reset by peer"
    if isinstance(exc, OSError) and exc.errno in (
        errno.ECONNREFUSED,
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
    ):
        return f"dial tcp {_dialled_address(host, port)}: connect: {strerror(exc.errno)}"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"dial tcp {_dialled_address(host, port)}: {strerror(exc.errno)}"
    return str(exc)


_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|([+-])(\d{2}):(\d{2}))\Z")
_RFC3339_LAYOUT = "2006-01-02T15:04:05Z07:00"


def rfc3339(value: Any) -> str:
    """A JSON time field decoded as Go does and printed with `Format(time.RFC3339)`.

    Absent or `null` is Go's zero time, `0001-01-01T00:00:00Z`; fractions of a second are dropped;
    the offset is kept (`Z` when zero). A value Go cannot parse raises `ValueError` with Go's words.
    """
    if value is None:
        return "0001-01-01T00:00:00Z"
    if not isinstance(value, str):
        raise ValueError("Time.UnmarshalJSON: input is not a JSON string")
    match = _RFC3339.match(value)
    if match is None:
        raise ValueError(
            f"parsing time {quote(value)} as {quote(_RFC3339_LAYOUT)}: cannot parse {quote(value)}"
        )
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    stamp = datetime(year, month, day, hour, minute, second)
    if match.group(8) == "Z":
        return stamp.strftime("%Y-%m-%dT%H:%M:%S") + "Z"
    sign = 1 if match.group(9) == "+" else -1
    offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11))) * sign
    zoned = stamp.replace(tzinfo=timezone(offset))
    text = zoned.isoformat(timespec="seconds")
    return text[:-6] + "Z" if offset == timedelta(0) else text


_PATH_SAFE = "$&+:=@"
"""What `url.PathEscape` leaves alone besides letters, digits and `-_.~` (net/url `shouldEscape`)."""


def path_escape(segment: str) -> str:
    """`url.PathEscape(segment)`."""
    return percent(segment, safe=_PATH_SAFE)


def join_path(base_path: str, *elements: str) -> str:
    """`(*url.URL).JoinPath`'s path: `path.Join` of the base path and the elements, kept relative."""
    if not base_path.startswith("/"):
        joined = posixpath.normpath("/".join(["/" + base_path, *elements]))[1:]
    else:
        joined = posixpath.normpath("/".join([base_path, *elements]))
    if joined.startswith("//"):
        joined = joined[1:]
    if elements and elements[-1].endswith("/") and not joined.endswith("/"):
        joined += "/"
    return joined


def go_marshal(value: Any) -> bytes:
    """`json.Marshal(value)` bytes for plain JSON values (maps keep the given key order)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for ch, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()
