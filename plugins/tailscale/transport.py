"""One HTTP round trip as Go's net/http makes it for tailscale-client-go: answers, or Go's error text.

- Every failure is a `ClientError` worded as the `*url.Error` `http.Client.Do` returns:
  `Get "<url>": dial tcp 127.0.0.1:9: connect: connection refused` (`golang.net_error`); a scheme
  other than http/https is `unsupported protocol scheme "<scheme>"`.
- Any answer with a status is returned, error statuses included; the caller decides.
- Proxies: Go's `ProxyFromEnvironment` (the client's default transport) never proxies `localhost`
  or a loopback IP literal; other hosts use the environment's proxy settings (urllib's reading
  of them stands in for Go's).
- The timeout applies to each connect and read (Go's `http.Client.Timeout` bounds the whole
  exchange; the same 60 s, counted per step here).
"""

from __future__ import annotations

import http.client
import ipaddress
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from plugins.tailscale.errors import ClientError
from plugins.tailscale.golang import net_error, quote, url_error

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_FROM_ENVIRONMENT = urllib.request.build_opener()


@dataclass(frozen=True)
class Response:
    """An HTTP answer: status, reason phrase, headers (lower-case names) and body."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    @property
    def status_line(self) -> str:
        """Go's `Response.Status`, e.g. `401 Unauthorized`."""
        return f"{self.status} {self.reason}".rstrip()


def never_proxied(host: str) -> bool:
    """golang.org/x/net `httpproxy` `useProxy`: loopback IP literals and `localhost` go direct."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an IP literal
        return host == "localhost"


def round_trip(
    method: str, url: str, data: bytes | None, headers: dict[str, str], timeout: float
) -> Response:
    """Send one request; raise `ClientError` with Go's text when no answer comes back."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ClientError(url_error(method, url, f"unsupported protocol scheme {quote(parts.scheme)}"))
    opener = _DIRECT if never_proxied(parts.hostname or "") else _FROM_ENVIRONMENT
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        try:
            with opener.open(request, timeout=timeout) as answer:
                return Response(answer.status, answer.reason, _lower(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return Response(exc.code, str(exc.reason), _lower(exc.headers.items()), exc.read())
    except urllib.error.URLError as exc:
        cause = net_error(exc.reason if isinstance(exc.reason, BaseException) else exc, url)
    except (OSError, http.client.HTTPException) as exc:
        cause = net_error(exc, url)
    raise ClientError(url_error(method, url, cause))


def _lower(items: object) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in items}  # type: ignore[attr-defined]
