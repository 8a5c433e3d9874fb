"""Aperture's inference side: which providers speak OpenAI chat, forwarding a request, usage records.

A chat completion is forwarded to `<provider baseurl><request path>` (so a `baseurl` ending in `/v1`
gives the upstream's 404 for `/v1/v1/chat/completions`, as on the real gateway), with the provider's
key as its `authorization` type says (`bearer` by default; `auth_mode: passthrough` sends the client's
own `Authorization`/`x-api-key`, `none` sends nothing) and its `add_headers`. The upstream's answer
goes back verbatim. `reachable(host, port)` is asked first; `False`, a refused connection or a
network error is a 502 (`errors.ProviderUnreachableError`). Inference is non-streaming
`POST /v1/chat/completions` and root `/chat/completions` only.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sandbox.aperture import errors


def openai_chat(provider: dict[str, Any]) -> bool:
    """Whether a provider takes OpenAI chat completions (its `compatibility`; default yes)."""
    compatibility = provider.get("compatibility")
    if not isinstance(compatibility, dict):
        return True
    others = any(bool(v) for k, v in compatibility.items() if k != "openai_chat")
    return bool(compatibility.get("openai_chat", not others))


@dataclass(frozen=True)
class Route:
    """Where one inference request goes."""

    provider: str
    """The provider id."""

    model: str
    """The upstream model id (the bare id, also when the client sent `provider/id`)."""

    provider_config: dict[str, Any]
    """The provider's object from the stored document (keys included)."""

    @property
    def fqn(self) -> str:
        """`provider/model`, what grant `models` globs match."""
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True)
class UsageRecord:
    """One routed inference request, as the dashboard's Logs would show it."""

    identity: str | None
    """The caller (login or tags), None if anonymous."""

    provider: str
    """The provider the request was routed to."""

    model: str
    """The upstream model id."""

    prompt_tokens: int
    """`usage.prompt_tokens` of the upstream answer (0 if absent)."""

    completion_tokens: int
    """`usage.completion_tokens` of the upstream answer (0 if absent)."""

    status: int
    """The status returned to the client (502 when the provider was unreachable)."""

    cost: str = "$0.00"
    """What the request cost in US dollars (`pricing.py`; `$0.00` without a price)."""


@dataclass(frozen=True)
class UpstreamResponse:
    """The provider's answer, passed back to the client verbatim."""

    status: int
    """The upstream's HTTP status."""

    content_type: str
    """The upstream's Content-Type."""

    body: bytes
    """The upstream's body, unchanged."""


def forward(
    route: Route,
    path: str,
    body: bytes,
    client_headers: dict[str, str],
    reachable: Callable[[str, int], bool] | None,
    timeout: float,
) -> UpstreamResponse:
    """POST `body` to the route's provider at `baseurl + path`; 502 when it cannot be reached."""
    provider = route.provider_config
    baseurl = str(provider["baseurl"])
    parts = urlsplit(baseurl)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if reachable is not None and not reachable(host, port):
        raise errors.provider_unreachable(route.provider, baseurl)
    headers = {"Content-Type": "application/json", **_auth_headers(provider, client_headers)}
    for line in provider.get("add_headers") or []:
        name, sep, value = str(line).partition(":")
        if sep:
            headers[name.strip()] = value.strip()
    request = urllib.request.Request(baseurl.rstrip("/") + path, data=body, headers=headers, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return UpstreamResponse(
                response.status,
                response.headers.get("Content-Type", "application/json"),
                response.read(),
            )
    except urllib.error.HTTPError as exc:
        return UpstreamResponse(exc.code, exc.headers.get("Content-Type", "application/json"), exc.read())
    except (urllib.error.URLError, OSError):
        raise errors.provider_unreachable(route.provider, baseurl) from None


def _auth_headers(provider: dict[str, Any], client_headers: dict[str, str]) -> dict[str, str]:
    mode = provider.get("auth_mode") or "override"
    if mode == "none":
        return {}
    if mode == "passthrough":
        passed = {k: v for k, v in client_headers.items() if k.lower() in ("authorization", "x-api-key")}
        if passed:
            return passed
    key = provider.get("apikey")
    if not isinstance(key, str) or not key:
        return {}
    authorization = provider.get("authorization") or "bearer"
    if authorization == "x-api-key":
        return {"x-api-key": key}
    if authorization == "x-goog-api-key":
        return {"x-goog-api-key": key}
    return {"Authorization": f"Bearer {key}"}


def token_counts(response: UpstreamResponse) -> tuple[int, int]:
    """`usage.prompt_tokens` and `usage.completion_tokens` of an answer (0 when absent or unreadable)."""
    try:
        usage = json.loads(response.body).get("usage") or {}
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    except (ValueError, AttributeError, TypeError):
        return 0, 0
