"""The provider's configuration: `tailscale:*` keys, upstream's environment fallbacks, `file:` values.

Keys and fallbacks as the Terraform provider's Configure reads them (github.com/tailscale/terraform-
provider-tailscale `tailscale/provider.go`; docs/architecture.md §10.1): `apiKey` <-
`TAILSCALE_API_KEY`; `tailnet` <- `TAILSCALE_TAILNET`, default `-`; `baseUrl` <-
`TAILSCALE_BASE_URL`, default `https://api.tailscale.com`; `oauthClientId`/`oauthClientSecret` <-
`TAILSCALE_OAUTH_CLIENT_ID`/`_SECRET`, then `OAUTH_CLIENT_ID`/`_SECRET`; `scopes` a JSON list;
`userAgent`. A value `file:<path>` is read from that file (trimmed). Workload identity federation
(`identityToken`, `audience`) is not implemented here.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from plugins.tailscale import VERSION
from plugins.tailscale.errors import UPSTREAM_HINT, ProviderError

DEFAULT_BASE_URL = "https://api.tailscale.com"
DEFAULT_USER_AGENT = f"Pulumi/3.0 (https://www.pulumi.com) pulumi-tailscale/{VERSION}"

ENV_FALLBACKS: Mapping[str, tuple[str, ...]] = {
    "apiKey": ("TAILSCALE_API_KEY",),
    "tailnet": ("TAILSCALE_TAILNET",),
    "baseUrl": ("TAILSCALE_BASE_URL",),
    "oauthClientId": ("TAILSCALE_OAUTH_CLIENT_ID", "OAUTH_CLIENT_ID"),
    "oauthClientSecret": ("TAILSCALE_OAUTH_CLIENT_SECRET", "OAUTH_CLIENT_SECRET"),
    "identityToken": ("TAILSCALE_IDENTITY_TOKEN", "IDENTITY_TOKEN"),
    "audience": ("TAILSCALE_AUDIENCE",),
}
"""Environment variables read, in order, when a key is not in the stack's config."""

FILE_KEYS = frozenset({"apiKey", "oauthClientId", "oauthClientSecret", "identityToken"})
"""Keys whose `file:<path>` values are read from a file."""

SECRET_KEYS = frozenset({"apiKey", "oauthClientSecret", "identityToken"})
"""Keys never written to a log."""

CREDENTIALS_ERROR = "Provider credentials error"


@dataclass(frozen=True)
class ProviderConfig:
    """Where the API is and how to authenticate; `repr` never shows a credential."""

    base_url: str = DEFAULT_BASE_URL
    tailnet: str = "-"
    api_key: str = field(default="", repr=False)
    oauth_client_id: str = ""
    oauth_client_secret: str = field(default="", repr=False)
    scopes: tuple[str, ...] = ()
    user_agent: str = DEFAULT_USER_AGENT

    @property
    def uses_oauth(self) -> bool:
        """OAuth client credentials rather than an API key."""
        return bool(self.oauth_client_id and self.oauth_client_secret)

    @property
    def is_local(self) -> bool:
        """Is the API on this machine (loopback, `localhost` or this host's own name)?"""
        return is_local_host(urlsplit(self.base_url).hostname or "")

    def secrets(self) -> list[str]:
        """Every credential value, for scrubbing log lines."""
        return [value for value in (self.api_key, self.oauth_client_secret) if value]


def is_local_host(host: str) -> bool:
    """Loopback address, `localhost` (or a `.localhost` name), or this machine's own name."""
    host = host.strip("[]").lower()
    if host in ("localhost", "") or host.endswith(".localhost"):
        return host != ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    return host in names


def _resolve(key: str, args: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    value = args.get(key)
    if value is None or value == "":
        value = next((environ[name] for name in ENV_FALLBACKS.get(key, ()) if environ.get(name)), "")
    text = str(value)
    if key in FILE_KEYS and text.startswith("file:"):
        path = Path(text.removeprefix("file:")).expanduser()
        try:
            text = path.read_text().strip()
        except OSError as exc:
            raise ProviderError(CREDENTIALS_ERROR, f"cannot read {key} from {path}: {exc.strerror}") from None
    return text


def _scopes(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, list):
        items = value
    else:
        try:
            items = json.loads(str(value))
        except ValueError:
            raise ProviderError(
                "Invalid provider configuration", f"scopes must be a JSON list of strings, got {value!r}"
            ) from None
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ProviderError("Invalid provider configuration", "scopes must be a JSON list of strings")
    return tuple(items)


def load(args: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> ProviderConfig:
    """The configuration from Configure's arguments (secrets already unwrapped) and the environment."""
    env = os.environ if environ is None else environ
    values = {key: _resolve(key, args, env) for key in (*ENV_FALLBACKS, "userAgent")}
    if values["identityToken"] or values["audience"] or args.get("identityTokenEnvironmentVariableName"):
        raise ProviderError(CREDENTIALS_ERROR, f"workload identity federation is {UPSTREAM_HINT}")
    has_oauth = bool(values["oauthClientId"] or values["oauthClientSecret"])
    if values["apiKey"] and has_oauth:
        raise ProviderError(
            CREDENTIALS_ERROR,
            "apiKey conflicts with oauthClientId and oauthClientSecret: configure one way to authenticate",
        )
    if has_oauth and not (values["oauthClientId"] and values["oauthClientSecret"]):
        raise ProviderError(CREDENTIALS_ERROR, "oauthClientId and oauthClientSecret must both be set")
    if not values["apiKey"] and not has_oauth:
        raise ProviderError(
            CREDENTIALS_ERROR,
            "no credentials: set tailscale:apiKey (or TAILSCALE_API_KEY), or tailscale:oauthClientId "
            "and tailscale:oauthClientSecret (or TAILSCALE_OAUTH_CLIENT_ID and TAILSCALE_OAUTH_CLIENT_SECRET)",
        )
    base_url = (values["baseUrl"] or DEFAULT_BASE_URL).rstrip("/")
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise ProviderError(
            "Invalid provider configuration", f"baseUrl must be an http(s) URL, got {base_url!r}"
        )
    return ProviderConfig(
        base_url=base_url,
        tailnet=values["tailnet"] or "-",
        api_key=values["apiKey"],
        oauth_client_id=values["oauthClientId"],
        oauth_client_secret=values["oauthClientSecret"],
        scopes=_scopes(args.get("scopes")),
        user_agent=values["userAgent"] or DEFAULT_USER_AGENT,
    )
