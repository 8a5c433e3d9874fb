"""Who calls the emulated Tailscale API: the API key, or an OAuth client's access token, and its scopes.

- **API key.** `Authorization: Basic base64("<key>:")` or `Bearer <key>`; it acts as an admin and
  carries every scope (audit identity `api-key`).
- **OAuth.** Clients are added with `add_oauth_client` (SANDBOX ONLY: SaaS creates them in the
  console). `POST /oauth/token` is the client credentials grant; tokens last 3600 s and carry the
  requested scopes (default: all of the client's); a token is accepted as `Bearer` or as the user
  part of Basic auth (audit identity `oauth:<client id>`). Routes check scopes (`policy_file`,
  `auth_keys`, `devices:core`, `devices:routes`, `dns`, `feature_settings`; `X:read` allows GET and
  validate; `all`/`all:read` cover everything; legacy `devices`, `acl` map to their successors); a
  missing scope is 403 `calling actor does not have enough permissions to perform this function`.
  Not emulated: workload identity federation (`/oauth/token-exchange`).
"""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.tailscale import errors
from sandbox.tailscale.base import TailnetBase, locked, random_id

TOKEN_LIFETIME_SECONDS = 3600
"""OAuth access token lifetime (`expires_in`)."""

API_KEY_IDENTITY = "api-key"
"""Audit identity of requests made with the API key."""

SCOPE_ALIASES: Mapping[str, tuple[str, ...]] = {
    "devices": ("devices:core", "devices:routes", "auth_keys"),
    "acl": ("policy_file",),
    "routes": ("devices:routes",),
}
"""Legacy scope names and the scopes they stand for."""


def _expand_scopes(scopes: Iterable[str]) -> set[str]:
    expanded: set[str] = set()
    for scope in scopes:
        read = ":read" if scope.endswith(":read") else ""
        base = scope.removesuffix(":read")
        for name in SCOPE_ALIASES.get(base, (base,)):
            expanded.add(name + read)
    return expanded


def _scopes_cover(scopes: Iterable[str], scope: str, write: bool) -> bool:
    held = _expand_scopes(scopes)
    base = scope.removesuffix(":read")
    if "all" in held or base in held:
        return True
    return not write and ("all:read" in held or f"{base}:read" in held)


@dataclass(frozen=True)
class OAuthClient:
    """An OAuth client: credentials, the scopes it may request, the tags it owns."""

    id: str
    """Client id, e.g. `kAbc123CNTRL`."""

    secret: str
    """Client secret, `tskey-client-<id>-<random>`."""

    scopes: frozenset[str]
    """Scopes the client may request (`all`, `auth_keys`, `devices:core:read`, ...)."""

    tags: tuple[str, ...] = ()
    """Tags the client owns; keys it creates must carry them (or tags they own)."""

    def grants(self, scope: str) -> bool:
        """May a token of this client carry `scope`?"""
        return _scopes_cover(self.scopes, scope, write=not scope.endswith(":read"))


@dataclass(frozen=True)
class AccessToken:
    """An OAuth access token issued by `POST /oauth/token`."""

    token: str
    client: OAuthClient
    scopes: frozenset[str]
    expires_at: float


@dataclass(frozen=True)
class Identity:
    """Who is calling: the API key or an OAuth client, and the scopes its credential carries."""

    name: str
    """Audit identity: `api-key` or `oauth:<client id>`."""

    scopes: frozenset[str]
    """Scopes the credential carries (`all` for the API key)."""

    client: OAuthClient | None = None
    """The OAuth client behind a token, None for the API key."""

    def allows(self, scope: str, write: bool) -> bool:
        """Does the credential cover `scope`, for writing or only reading?"""
        return _scopes_cover(self.scopes, scope, write)


class Credentials(TailnetBase):
    """The API key and the OAuth clients and tokens of the tailnet (see the module docstring)."""

    def _setup(self) -> None:
        super()._setup()
        self.oauth_clients: dict[str, OAuthClient] = {}
        self.tokens: dict[str, AccessToken] = {}

    @locked
    def authenticate(self, authorization: str | None) -> Identity | None:
        """The caller behind an `Authorization` header, or None (answer 401)."""
        if not authorization:
            return None
        kind, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if kind.lower() == "basic":
            try:
                decoded = base64.b64decode(credential, validate=True).decode()
            except ValueError:
                return None
            credential = decoded.partition(":")[0]
        elif kind.lower() != "bearer":
            return None
        if credential and hmac.compare_digest(credential.encode(), self.api_key.encode()):
            return Identity(API_KEY_IDENTITY, frozenset({"all"}))
        token = self.tokens.get(credential)
        if token is None or token.expires_at <= self.clock():
            return None
        return Identity(f"oauth:{token.client.id}", token.scopes, token.client)

    @locked
    def add_oauth_client(
        self,
        scopes: Iterable[str] = ("all",),
        tags: Iterable[str] = (),
        client_id: str | None = None,
        secret: str | None = None,
    ) -> OAuthClient:
        """Register an OAuth client (SANDBOX ONLY: SaaS creates them in the admin console)."""
        client_id = client_id or f"k{random_id(10)}CNTRL"
        secret = secret or f"tskey-client-{client_id}-{random_id(32)}"
        client = OAuthClient(client_id, secret, frozenset(scopes), tuple(tags))
        self.oauth_clients[client_id] = client
        return client

    @locked
    def issue_token(self, client_id: str, client_secret: str, scope: str | None = None) -> dict[str, Any]:
        """`POST /oauth/token` (client credentials grant): the token response, or 401."""
        client = self.oauth_clients.get(client_id)
        if client is None or not hmac.compare_digest(client.secret.encode(), client_secret.encode()):
            raise errors.unauthorized()
        requested = [s for s in re.split(r"[\s,]+", scope or "") if s] or sorted(client.scopes)
        for name in requested:
            if not client.grants(name):
                raise errors.bad_request(f'requested scope "{name}" is not granted to this client')
        token = AccessToken(
            token=f"tskey-api-{client.id}-{random_id(32)}",
            client=client,
            scopes=frozenset(requested),
            expires_at=self.clock() + TOKEN_LIFETIME_SECONDS,
        )
        self.tokens[token.token] = token
        response: dict[str, Any] = {
            "access_token": token.token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECONDS,
            "scope": " ".join(requested),
        }
        if client.tags:
            response["tags"] = " ".join(client.tags)
        return response
