"""A small Tailscale API client on urllib, shaped like tailscale-client-go v2.9.0 (`v2/client.go`).

URL = base URL + `/api/v2` + path; API key as `Basic base64("<key>:")`, OAuth as `Bearer <token>`
from the client credentials grant at `<base>/api/v2/oauth/token`; `Accept` on body-less calls,
`Content-Type` on the others; a >= 400 answer becomes `APIError` (`<message> (<status>)`).
Unlike the Go client, every call has a 30 s timeout, an unreachable API is an error naming the
URL, 429 is retried after `Retry-After` (bounded) and 5xx is retried a few times for idempotent
calls. Loopback URLs never go through an HTTP proxy.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from plugins.tailscale.config import ProviderConfig
from plugins.tailscale.errors import APIError, Unreachable

TIMEOUT_SECONDS = 30.0
MAX_ATTEMPTS = 4
MAX_RETRY_AFTER_SECONDS = 10.0
JSON = "application/json"
HUJSON = "application/hujson"


@dataclass(frozen=True)
class Reply:
    """A 2xx answer: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON; an empty body is Go's `unexpected end of JSON input`."""
        if not self.body.strip():
            raise APIError(self.status, "unexpected end of JSON input")
        return json.loads(self.body)

    def text(self) -> str:
        return self.body.decode()


class TailscaleAPI:
    """The calls the resources make; thread-safe (the OAuth token is shared under a lock)."""

    def __init__(
        self,
        config: ProviderConfig,
        logger: logging.Logger,
        cancelled: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._logger = logger
        self._cancelled = cancelled
        self._sleep = sleep
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()
        local = config.is_local
        handlers = [urllib.request.ProxyHandler({})] if local else []
        self._opener = urllib.request.build_opener(*handlers)

    # -- paths ------------------------------------------------------------------------------------

    def tailnet_path(self, *elements: str) -> str:
        """`/tailnet/<tailnet>/<elements...>`, each element path-escaped."""
        return "/" + "/".join(
            urllib.parse.quote(e, safe="") for e in ("tailnet", self.config.tailnet, *elements)
        )

    # -- calls ------------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        body: bytes | str | Any = None,
        *,
        content_type: str = JSON,
        accept: str = JSON,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Reply:
        """One API call with retries; raises `APIError` or `Unreachable`."""
        data: bytes | None
        if body is None:
            data = None
        elif isinstance(body, bytes | str):
            data = body.encode() if isinstance(body, str) else body
        else:
            data = json.dumps(body).encode()
        retry_5xx = method in ("GET", "DELETE") if idempotent is None else idempotent
        url = self.config.base_url + "/api/v2" + path
        for attempt in range(1, MAX_ATTEMPTS + 1):
            all_headers = {"User-Agent": self.config.user_agent, "Authorization": self._authorization()}
            all_headers.update(headers or {})
            if data is None:
                all_headers["Accept"] = accept
            else:
                all_headers["Content-Type"] = content_type
            try:
                reply = self._send(method, url, data, all_headers)
                self._logger.info("%s %s -> %d", method, path, reply.status)
                return reply
            except APIError as exc:
                self._logger.info("%s %s -> %d", method, path, exc.status)
                delay = self._retry_delay(exc, attempt, retry_5xx)
                if delay is None:
                    raise
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _retry_delay(self, exc: APIError, attempt: int, retry_5xx: bool) -> float | None:
        if attempt >= MAX_ATTEMPTS or self._cancelled():
            return None
        if exc.status == 429:
            wait = exc.retry_after if exc.retry_after is not None else 2.0**attempt
            return min(wait, MAX_RETRY_AFTER_SECONDS)
        if exc.status >= 500 and retry_5xx:
            return min(0.5 * 2 ** (attempt - 1), MAX_RETRY_AFTER_SECONDS)
        return None

    def _send(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> Reply:
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                return Reply(
                    response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
                )
        except urllib.error.HTTPError as exc:
            raise _api_error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Unreachable(
                f"cannot reach the Tailscale API at {self.config.base_url} ({method} {url}): {reason}; "
                "check tailscale:baseUrl (or TAILSCALE_BASE_URL) and that the API is up"
            ) from None

    # -- auth -------------------------------------------------------------------------------------

    def _authorization(self) -> str:
        if not self.config.uses_oauth:
            return "Basic " + base64.b64encode(f"{self.config.api_key}:".encode()).decode()
        with self._lock:
            if self._token is None or self._token[1] <= time.monotonic():
                self._token = self._fetch_token()
            return f"Bearer {self._token[0]}"

    def _fetch_token(self) -> tuple[str, float]:
        """The client credentials grant: Basic auth first, then the credentials in the form."""
        url = self.config.base_url + "/api/v2/oauth/token"
        form = {"grant_type": "client_credentials"}
        if self.config.scopes:
            form["scope"] = " ".join(self.config.scopes)
        quote = urllib.parse.quote_plus
        basic = base64.b64encode(
            f"{quote(self.config.oauth_client_id)}:{quote(self.config.oauth_client_secret)}".encode()
        ).decode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": self.config.user_agent}
        try:
            reply = self._send(
                "POST",
                url,
                urllib.parse.urlencode(form).encode(),
                headers | {"Authorization": f"Basic {basic}"},
            )
        except APIError:
            in_form = form | {
                "client_id": self.config.oauth_client_id,
                "client_secret": self.config.oauth_client_secret,
            }
            try:
                reply = self._send("POST", url, urllib.parse.urlencode(in_form).encode(), headers)
            except APIError as exc:
                raise APIError(exc.status, f"OAuth token request failed: {exc.message}") from None
        document = reply.json()
        token = document.get("access_token") if isinstance(document, dict) else None
        if not isinstance(token, str) or not token:
            raise APIError(reply.status, "OAuth token response has no access_token")
        lifetime = float(document.get("expires_in") or 3600)
        self._logger.info("OAuth token issued for client %s", self.config.oauth_client_id)
        return token, time.monotonic() + max(lifetime - 60.0, lifetime / 2)


def _api_error(exc: urllib.error.HTTPError) -> APIError:
    raw = exc.read()
    try:
        document = json.loads(raw)
        message = str(document.get("message", "")) if isinstance(document, dict) else ""
    except ValueError:
        message = raw.decode(errors="replace").strip()[:200] or (exc.reason or "")
    header = exc.headers.get("Retry-After") if exc.headers else None
    try:
        retry_after = max(0.0, float(header)) if header is not None else None
    except ValueError:
        retry_after = None
    return APIError(exc.code, message, retry_after)
