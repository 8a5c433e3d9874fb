"""OAuth client credentials as tailscale-client-go v2.9.0 gets them: golang.org/x/oauth2's way.

Upstream: tailscale-client-go `oauth.go:28-48` (token URL = base URL + `/api/v2/oauth/token`, a
`clientcredentials` token source behind `oauth2.ReuseTokenSource`), golang.org/x/oauth2 v0.36.0
(pinned by pulumi-tailscale; read at v0.35.0, the same code): `clientcredentials.go:94-124`,
`internal/token.go` `RetrieveToken`, `doTokenRoundTrip`, `newTokenRequest`, `RetrieveError.Error`,
`token.go` `Type`, `expired` (10 s early).

- The form is `grant_type=client_credentials` (+ `scope`, space-joined, only when scopes are set);
  first with the credentials as Basic auth (each `url.QueryEscape`d), and after any error once more
  with `client_id`/`client_secret` in the form; the style that worked is kept.
- A token without `expires_in` never expires; with it, it is renewed 10 s before the end.
- Errors read as oauth2 words them: `oauth2: "<error>" "<description>"`, else
  `oauth2: cannot fetch token: <status>\\nResponse: <body>`, `oauth2: server response missing
  access_token`, `oauth2: cannot parse json: ...`; network failures as `Post "<token url>": ...`.
"""

from __future__ import annotations

import base64
import threading
import time
import urllib.parse
from dataclasses import dataclass
from email.message import Message

from plugins.tailscale.errors import ClientError
from plugins.tailscale.gojson import GoJSONError, decode
from plugins.tailscale.golang import quote
from plugins.tailscale.transport import Response, round_trip

EXPIRY_DELTA_SECONDS = 10.0
"""oauth2 `defaultExpiryDelta`."""
GO_USER_AGENT = "Go-http-client/1.1"
"""net/http's User-Agent: oauth2 sets none on token requests."""
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Token:
    """An access token, its type and when (monotonic seconds) it expires (None: never)."""

    access_token: str
    token_type: str
    expiry: float | None

    def authorization(self) -> str:
        """`Authorization` as `(*Token).SetAuthHeader` sets it (`Type()` + token)."""
        kinds = {"bearer": "Bearer", "mac": "MAC", "basic": "Basic"}
        kind = kinds.get(self.token_type.lower(), self.token_type or "Bearer")
        return f"{kind} {self.access_token}"

    def valid(self) -> bool:
        return bool(self.access_token) and (
            self.expiry is None or self.expiry - EXPIRY_DELTA_SECONDS >= time.monotonic()
        )


def _retrieve_error(response: Response, code: str, description: str, uri: str) -> ClientError:
    """`RetrieveError.Error()`."""
    if code:
        text = f"oauth2: {quote(code)}"
        text += f" {quote(description)}" if description else ""
        text += f" {quote(uri)}" if uri else ""
        return ClientError(text)
    body = response.body.decode(errors="replace")
    return ClientError(f"oauth2: cannot fetch token: {response.status_line}\nResponse: {body}")


def _content_type(response: Response) -> str:
    message = Message()
    message["content-type"] = response.headers.get("content-type", "")
    return message.get_content_type() if response.headers.get("content-type") else ""


def parse_token(response: Response) -> Token:
    """`doTokenRoundTrip` after the answer came back: a token, or oauth2's error."""
    failed = not 200 <= response.status <= 299
    if _content_type(response) in (FORM, "text/plain"):
        values = urllib.parse.parse_qs(response.body.decode(errors="replace"))
        fields = {key: items[0] for key, items in values.items()}
    else:
        try:
            document = decode(response.body)
        except GoJSONError as exc:
            if failed:
                raise _retrieve_error(response, "", "", "") from None
            raise ClientError(f"oauth2: cannot parse json: {exc}") from None
        fields = document if isinstance(document, dict) else {}
    code, description, uri = (str(fields.get(k) or "") for k in ("error", "error_description", "error_uri"))
    if failed or code:
        raise _retrieve_error(response, code, description, uri)
    access = str(fields.get("access_token") or "")
    if not access:
        raise ClientError("oauth2: server response missing access_token")
    try:
        lifetime = int(fields.get("expires_in") or 0)
    except ValueError:
        lifetime = 0
    expiry = time.monotonic() + lifetime if lifetime else None
    return Token(access, str(fields.get("token_type") or ""), expiry)


class TokenSource:
    """`oauth2.ReuseTokenSource` over a `clientcredentials` source; thread-safe."""

    def __init__(
        self, token_url: str, client_id: str, client_secret: str, scopes: tuple[str, ...], timeout: float
    ) -> None:
        self.token_url = token_url
        self._id = client_id
        self._secret = client_secret
        self._scopes = scopes
        self._timeout = timeout
        self._style: str | None = None
        self._token: Token | None = None
        self._lock = threading.Lock()

    def token(self) -> Token:
        """The current token, fetched again when missing or about to expire."""
        with self._lock:
            if self._token is None or not self._token.valid():
                self._token = self._retrieve()
            return self._token

    def _retrieve(self) -> Token:
        """`RetrieveToken` with the auth style probe."""
        if self._style is not None:
            return self._round_trip(self._style)
        try:
            token = self._round_trip("header")
            self._style = "header"
        except ClientError:
            token = self._round_trip("params")
            self._style = "params"
        return token

    def _round_trip(self, style: str) -> Token:
        """`newTokenRequest` + `doTokenRoundTrip` for one auth style."""
        form = {"grant_type": "client_credentials"}
        if self._scopes:
            form["scope"] = " ".join(self._scopes)
        headers = {"Content-Type": FORM, "User-Agent": GO_USER_AGENT}
        if style == "params":
            form |= {
                key: value
                for key, value in (("client_id", self._id), ("client_secret", self._secret))
                if value
            }
        else:
            pair = f"{urllib.parse.quote_plus(self._id)}:{urllib.parse.quote_plus(self._secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        data = urllib.parse.urlencode(sorted(form.items())).encode()
        return parse_token(round_trip("POST", self.token_url, data, headers, self._timeout))
