"""The Tailscale API client, as tailscale-client-go v2.9.0 (`client.go`) behaves under upstream.

- URL = `BaseURL.JoinPath("/api/v2", "tailnet", <tailnet>, ...)`, each element `url.PathEscape`d
  (`client.go:223-242`).
- Headers (`buildRequest`, `client.go:244-293`): `User-Agent`; the call's own (`If-Match`);
  `Accept: <type>` on a body-less call, else `Content-Type: <type>` (JSON unless HuJSON);
  `Basic base64("<key>:")` for an API key; OAuth's `Bearer <token>` (oauth.py) instead.
- Bodies: a string or bytes as they are, anything else `json.Marshal`led.
- One attempt per call, no retries: 429 and 5xx are errors like any other; the whole client has
  the default `http.Client` timeout of one minute (`client.go:84,107-109`).
- Answers (`doWithResponseHeaders`, `client.go:326-374`): a 2xx is decoded as JSON, or first
  `hujson.Standardize`d when it is not JSON (an empty body is HuJSON's `unexpected EOF`); >= 400
  with a JSON body is `APIError` `<message> (<status>)`; a body that is not JSON is Go's JSON
  syntax error instead, and the status is lost (so a 404 without JSON is not "not found"); another
  status (3xx not followed) is no error and no value.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from hujson.standard import standardize_bytes
from hujson.tree import HuJSONFormatError
from plugins.tailscale.config import ProviderConfig
from plugins.tailscale.errors import APIError, ClientError
from plugins.tailscale.gojson import GoJSONError, decode, field, syntax_error
from plugins.tailscale.golang import go_marshal, join_path, path_escape, url_error
from plugins.tailscale.oauth import TokenSource
from plugins.tailscale.transport import Response, round_trip
from plugins.wire import json_kind

TIMEOUT_SECONDS = 60.0
"""`defaultHttpClientTimeout = time.Minute` (`client.go:84`)."""
JSON = "application/json"
HUJSON = "application/hujson"


@dataclass(frozen=True)
class Reply:
    """An answer that is no error: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def decode(self) -> Any:
        """The body decoded into a Go value (`client.go:338-361`); `{}` (zero) for a non-2xx."""
        if not self.ok:
            return {}
        body = self.body
        if syntax_error(body) is not None:
            try:
                body = standardize_bytes(body)
            except HuJSONFormatError as exc:
                raise ClientError(str(exc)) from None
        try:
            return decode(body)
        except GoJSONError as exc:
            raise ClientError(str(exc)) from None

    def raw(self) -> bytes:
        """The body as `[]byte` (`client.go:346-350`); nothing for a non-2xx."""
        return self.body if self.ok else b""


def api_error(status: int, body: bytes) -> ClientError:
    """The error of a >= 400 answer (`client.go:363-371`)."""
    try:
        document = decode(body)
    except GoJSONError as exc:
        return ClientError(str(exc))
    if document is None:
        return APIError(status, "")
    if not isinstance(document, dict):
        return ClientError(
            f"json: cannot unmarshal {json_kind(document)} into Go value of type tailscale.APIError"
        )
    message = field(document, "message")
    if message is not None and not isinstance(message, str):
        return ClientError(
            f"json: cannot unmarshal {json_kind(message)} into Go struct field APIError.message of type string"
        )
    return APIError(status, message or "")


class TailscaleAPI:
    """The calls the resources make; thread-safe (the OAuth token is shared under a lock)."""

    def __init__(
        self, config: ProviderConfig, logger: logging.Logger, timeout: float = TIMEOUT_SECONDS
    ) -> None:
        self.config = config
        self.timeout = timeout
        self._logger = logger
        self._tokens = (
            TokenSource(
                config.base_url + "/api/v2/oauth/token",
                config.oauth_client_id,
                config.oauth_client_secret,
                config.scopes,
                timeout,
            )
            if config.uses_oauth
            else None
        )

    def url(self, *elements: str) -> str:
        """`buildTailnetURL(elements...)` as a string (`client.go:223-242`)."""
        parts = urlsplit(self.config.base_url)
        escaped = [path_escape(e) for e in ("tailnet", self.config.tailnet, *elements)]
        path = join_path(parts.path, "/api/v2", *escaped)
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))

    def call(
        self,
        method: str,
        *elements: str,
        body: bytes | str | Any = None,
        content_type: str = JSON,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """One request to `<tailnet URL>/<elements>`; raises `APIError` or `ClientError`."""
        url = self.url(*elements)
        data = None if body is None else _encode(body)
        request_headers = {"User-Agent": self.config.user_agent, **(headers or {})}
        request_headers["Accept" if body is None else "Content-Type"] = content_type
        if self._tokens is not None:
            try:
                request_headers["Authorization"] = self._tokens.token().authorization()
            except ClientError as exc:
                raise ClientError(url_error(method, url, str(exc))) from None
        elif self.config.api_key:
            pair = f"{self.config.api_key}:".encode()
            request_headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        response = self._send(method, url, data, request_headers)
        if response.status >= 400:
            raise api_error(response.status, response.body)
        return Reply(response.status, response.headers, response.body)

    def _send(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> Response:
        try:
            response = round_trip(method, url, data, headers, self.timeout)
        except ClientError as exc:
            self._logger.info("%s %s failed: %s", method, urlsplit(url).path, exc)
            raise
        self._logger.info("%s %s -> %d", method, urlsplit(url).path, response.status)
        return response


def _encode(body: bytes | str | Any) -> bytes:
    """`buildRequest`'s body (`client.go:252-266`)."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return go_marshal(body)
