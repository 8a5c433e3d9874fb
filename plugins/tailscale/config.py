"""The provider's configuration, resolved as terraform-provider-tailscale v0.29.2's `Configure` does.

Upstream: `tailscale/provider_framework.go:114-218,259-314` and `provider_sdk.go:18-32`, behind
pulumi-tailscale's one config default (`provider/resources.go:63-69`) and the bridge's renaming of
quoted config names in errors (pulumi-terraform-bridge v3.135.0 `pkg/pf/tfbridge/
provider_configure.go:40-75`, `pkg/tfbridge/replace_error_properties.go:9-48`).

- Each key is its configured value when set, even `""`, else the first non-empty environment
  variable (`coalesce`, `provider_framework.go:259-273`): `apiKey` <- `TAILSCALE_API_KEY`;
  `tailnet` <- `TAILSCALE_TAILNET`, else `-`; `baseUrl` <- `TAILSCALE_BASE_URL`, else
  `https://api.tailscale.com`; `oauthClientId` <- `TAILSCALE_OAUTH_CLIENT_ID`, `OAUTH_CLIENT_ID`;
  `oauthClientSecret` <- `TAILSCALE_OAUTH_CLIENT_SECRET`, `OAUTH_CLIENT_SECRET`; `identityToken` <-
  `TAILSCALE_IDENTITY_TOKEN`, `IDENTITY_TOKEN`, then the variable `identityTokenEnvironmentVariableName`
  names; `audience` <- `TAILSCALE_AUDIENCE`.
- `file:<path>` values of apiKey, identityToken, oauthClientId, oauthClientSecret and audience are
  read from `<path>` as written (no `~`), trimmed (`resolveValueFromFile`, `:201-218`).
- `userAgent`: pulumi-tailscale's default when unset; a configured `""` is Terraform's
  (`Terraform/1.0.0+pulumi-terraform-bridge ... terraform-provider-tailscale/dev`, `:154-162`).
- An empty tailnet, an unparsable base URL and the credential rules are upstream's errors, all
  collected, the first returned (`:167-191`). A base URL that is not http(s) is no error here: the
  requests fail, as upstream's do.
- OAuth client credentials when both id and secret are set; workload identity federation (id with
  an identity token or audience, no secret) fails: this build does not implement it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from plugins.tailscale import VERSION
from plugins.tailscale.errors import UPSTREAM_HINT, Diagnostic, ProviderError
from plugins.tailscale.golang import quote, strerror

DEFAULT_BASE_URL = "https://api.tailscale.com"
DEFAULT_USER_AGENT = f"Pulumi/3.0 (https://www.pulumi.com) pulumi-tailscale/{VERSION}"
"""pulumi-tailscale's `user_agent` default (`provider/resources.go:63-69`)."""
TERRAFORM_USER_AGENT = (
    "Terraform/1.0.0+pulumi-terraform-bridge (+https://www.terraform.io) terraform-provider-tailscale/dev"
)
"""Upstream's own User-Agent for a configured `""`: the bridge's `terraformVersionToImpersonate`
(`provider_configure.go:36`) and `providerVersion` left at `dev` (`provider_sdk.go:16`; pulumi-tailscale
sets no upstream version ldflag)."""

ENV_FALLBACKS: Mapping[str, tuple[str, ...]] = {
    "apiKey": ("TAILSCALE_API_KEY",),
    "tailnet": ("TAILSCALE_TAILNET",),
    "baseUrl": ("TAILSCALE_BASE_URL",),
    "identityToken": ("TAILSCALE_IDENTITY_TOKEN", "IDENTITY_TOKEN"),
    "oauthClientId": ("TAILSCALE_OAUTH_CLIENT_ID", "OAUTH_CLIENT_ID"),
    "oauthClientSecret": ("TAILSCALE_OAUTH_CLIENT_SECRET", "OAUTH_CLIENT_SECRET"),
    "audience": ("TAILSCALE_AUDIENCE",),
}
"""Environment variables read, in order, when a key is not configured (`provider_framework.go:118-152`)."""

FILE_KEYS = ("apiKey", "identityToken", "oauthClientId", "oauthClientSecret", "audience")
"""Keys whose `file:<path>` values are read from a file, in upstream's order."""

TERRAFORM_NAMES = {
    "apiKey": "api_key",
    "identityToken": "identity_token",
    "oauthClientId": "oauth_client_id",
    "oauthClientSecret": "oauth_client_secret",
    "audience": "audience",
}
CREDENTIALS_ERROR = "Provider credentials error"


@dataclass(frozen=True)
class ProviderConfig:
    """Where the API is and how to authenticate; `repr` never shows a credential."""

    base_url: str = DEFAULT_BASE_URL
    """As configured (tailscale-client-go joins API paths to it and appends the token path)."""
    tailnet: str = "-"
    api_key: str = field(default="", repr=False)
    oauth_client_id: str = ""
    oauth_client_secret: str = field(default="", repr=False)
    scopes: tuple[str, ...] = ()
    user_agent: str = DEFAULT_USER_AGENT

    @property
    def uses_oauth(self) -> bool:
        """OAuth client credentials rather than an API key (`provider_framework.go:278`)."""
        return bool(self.oauth_client_id and self.oauth_client_secret)

    def secrets(self) -> list[str]:
        """Every credential value, for scrubbing the plugin's own log lines."""
        return [value for value in (self.api_key, self.oauth_client_secret) if value]


def _coalesce(args: Mapping[str, Any], key: str, fallbacks: list[str]) -> str:
    """`coalesce`: the configured value, even `""`; else the first non-empty fallback."""
    value = args.get(key)
    if value is not None:
        return str(value)
    return next((f for f in fallbacks if f), "")


def _from_file(key: str, value: str, problems: list[Diagnostic]) -> str:
    """`resolveValueFromFile` (`provider_framework.go:203-218`), with Go's and the bridge's wording."""
    if not value.startswith("file:"):
        return value
    path = value.removeprefix("file:")
    try:
        with open(path, "rb") as handle:
            return handle.read().decode(errors="replace").strip()
    except OSError as exc:
        op = "read" if isinstance(exc, IsADirectoryError) else "open"
        cause = f"{op} {path}: {strerror(exc.errno or 0)}"
        problems.append(
            Diagnostic(
                f"Could not resolve file for {TERRAFORM_NAMES[key]}",
                f"While configuring the provider, the file {quote(path)} could not be read for "
                f"{quote(key)}: {cause}",
            )
        )
        return ""


def _scopes(value: Any) -> tuple[str, ...]:
    """`scopes`: a list of strings (a JSON string when it comes from stack config)."""
    if value is None or value == "":
        return ()
    try:
        items = value if isinstance(value, list) else json.loads(str(value))
    except ValueError:
        raise ProviderError(
            "Invalid provider configuration", f"scopes must be a list of strings, got {value!r}"
        ) from None
    return tuple(str(item) for item in items)


def _credentials_problem(api_key: str, client_id: str, secret: str, token: str, audience: str) -> str:
    """`validateProviderCreds` (`provider_sdk.go:18-32`), word for word."""
    if not (api_key or client_id or secret or token or audience):
        return (
            "tailscale provider credentials are empty - set `api_key` or 'oauth_client_id' and one of "
            "'oauth_client_secret', 'identity_token', or 'audience'"
        )
    if api_key and (client_id or secret or token or audience):
        return (
            "tailscale provider credentials are conflicting - `api_key` conflicts with 'oauth_client_id', "
            "'oauth_client_secret', 'identity_token', and 'audience'"
        )
    if audience and (secret or token):
        return (
            "tailscale provider argument 'audience' conflicts with 'oauth_client_secret' and 'identity_token'"
        )
    if not api_key and not client_id:
        return "tailscale provider argument 'oauth_client_id' is empty"
    if client_id and not (secret or token or audience):
        return (
            "one of tailscale provider arguments 'oauth_client_secret', 'identity_token', or 'audience' "
            "are mandatory with 'oauth_client_id'"
        )
    return ""


def _parse_problem(base_url: str) -> str:
    """What Go's `url.Parse` says of `base_url` (the cases Python's parser also sees), or ""."""
    try:
        parts = urlsplit(base_url)
    except ValueError:
        return "missing ']' in host"
    host_port = parts.netloc.rpartition("@")[2].rpartition("]")[2]
    port = host_port.rpartition(":")[2] if ":" in host_port else ""
    if port and not port.isdigit():
        return f"invalid port {quote(':' + port)} after host"
    return ""


def _base_url_problem(base_url: str) -> Diagnostic | None:
    """`url.Parse` failing (`provider_framework.go:167-174`)."""
    problem = _parse_problem(base_url)
    if not problem:
        return None
    return Diagnostic(
        "Could not parse base URL",
        f"While configuring the provider, the base URL {quote(base_url)} could not be parsed: "
        f"parse {quote(base_url)}: {problem}",
    )


def load(args: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> ProviderConfig:
    """The configuration from Configure's arguments (secrets unwrapped) and the environment."""
    env = os.environ if environ is None else environ
    problems: list[Diagnostic] = []
    fallbacks = {key: [env.get(name, "") for name in names] for key, names in ENV_FALLBACKS.items()}
    token_variable = str(args.get("identityTokenEnvironmentVariableName") or "")
    if token_variable:
        fallbacks["identityToken"].append(env.get(token_variable, ""))
    fallbacks["tailnet"].append("-")
    fallbacks["baseUrl"].append(DEFAULT_BASE_URL)
    values = {key: _coalesce(args, key, fallbacks[key]) for key in ENV_FALLBACKS}
    for key in FILE_KEYS:
        values[key] = _from_file(key, values[key], problems)
    tailnet, base_url = values["tailnet"], values["baseUrl"]
    scopes = _scopes(args.get("scopes"))
    url_problem = _base_url_problem(base_url)
    if url_problem is not None:
        problems.append(url_problem)
    if tailnet == "":
        problems.append(
            Diagnostic(
                "Missing Tailnet ID",
                "While configuring the provider, a Tailnet ID was not found in the TAILSCALE_TAILNET "
                "environment variable or provider configuration block tailnet attribute.",
            )
        )
    creds = (values["apiKey"], values["oauthClientId"], values["oauthClientSecret"])
    problem = _credentials_problem(*creds, values["identityToken"], values["audience"])
    if problem:
        problems.append(Diagnostic(CREDENTIALS_ERROR, problem))
    if problems:
        raise ProviderError.of(problems)
    api_key, client_id, secret = creds
    if client_id and not secret:
        message = f"workload identity federation is {UPSTREAM_HINT}"
        raise ProviderError(message, message, logged=False)
    user_agent = args.get("userAgent")
    return ProviderConfig(
        base_url=base_url,
        tailnet=tailnet,
        api_key=api_key,
        oauth_client_id=client_id,
        oauth_client_secret=secret,
        scopes=scopes,
        user_agent=DEFAULT_USER_AGENT if user_agent is None else (str(user_agent) or TERRAFORM_USER_AGENT),
    )
