"""A small client for Aperture's admin config API (`/aperture/config`), stdlib HTTP only.

Pure module: no Pulumi import. Safe to use from a dill-serialized dynamic provider because nothing
is created at import time: each `ApertureClient` call builds its own `urllib` opener and request.
Errors keep Aperture's own messages (`ApertureError.messages`) so callers can quote them item by
item: RFC 9457 problem bodies (`errors[].message`, else `detail`) and `{"error": "..."}` bodies.

Proxies are bypassed: the gateway is a tailnet address (`http://ai`), never behind an HTTP proxy.

Retries: a 502, 503 or 504 answer (a gateway restarting, a proxy in front of it) is retried up to
`MAX_ATTEMPTS` times in all, `RETRY_SECONDS` apart and doubling (or after `Retry-After`, at most
`MAX_RETRY_SECONDS`). Every call is safe to repeat: GET and `:validate` only read, and the PUT
carries `If-Match`, so a PUT that did land makes its repeat a 412, which the resource answers by
reading again. The error after the last attempt says how many were made.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from config.loader import ConfigSource, namespace_values

DEFAULT_GATEWAY_URL = "http://ai"
"""Aperture's MagicDNS short name (docs/architecture.md §10.2)."""

GATEWAY_CONFIG_KEY = "sovereign-ai:gateway"
"""Stack config key: a JSON object whose `url` is the gateway root."""

GATEWAY_URL_ENV = "SOVEREIGN_AI_GATEWAY_URL"
"""Environment variable that overrides the gateway URL from the stack config."""

IDENTITY_ENV = "SOVEREIGN_AI_IDENTITY"
"""SANDBOX ONLY: environment variable whose value is sent as `X-Sandbox-Identity`."""

IDENTITY_HEADER = "X-Sandbox-Identity"
"""SANDBOX ONLY: the emulator's identity header; a real gateway uses Tailscale WhoIs."""

MAX_ATTEMPTS = 4
"""Attempts per call when the gateway answers 502/503/504."""

RETRY_SECONDS = 0.5
"""The first wait before a retry; each next wait doubles."""

MAX_RETRY_SECONDS = 10.0
"""The longest wait before a retry, whatever `Retry-After` says."""

RETRIED_STATUSES = frozenset({502, 503, 504})
"""Answers that mean "not now" rather than "no"."""


class ApertureError(Exception):
    """An Aperture admin API call failed; `messages` are Aperture's own, in order."""

    def __init__(self, summary: str, status: int | None, messages: list[str]) -> None:
        self.summary = summary
        self.status = status
        self.messages = list(messages)
        super().__init__(format_messages(summary, self.messages))


class ApertureForbiddenError(ApertureError):
    """403: the identity running the program has no admin role on the gateway."""


class ApertureRejectedError(ApertureError):
    """422, or `:validate` answered `valid: false`: the document would not be saved."""


class ApertureConflictError(ApertureError):
    """412: the document changed between the GET and the PUT."""


class ApertureUnreachableError(ApertureError):
    """No HTTP answer at all (DNS, refused connection, timeout)."""


def format_messages(summary: str, messages: list[str]) -> str:
    """`summary:` followed by one `- message` line per item."""
    if not messages:
        return summary
    return summary + ":\n" + "\n".join(f" - {message}" for message in messages)


@dataclass(frozen=True)
class ConfigSnapshot:
    """The document as Aperture returned it (keys redacted) and its ETag."""

    text: str
    """HuJSON text, provider keys redacted."""

    etag: str
    """The quoted ETag to send back as `If-Match`."""


@dataclass(frozen=True)
class GatewaySettings:
    """Where the gateway is and, in the sandbox only, who the caller claims to be."""

    url: str = DEFAULT_GATEWAY_URL
    """Gateway root without `/v1`, e.g. `http://ai`."""

    identity: str | None = None
    """Sent as `X-Sandbox-Identity` when set (sandbox only)."""


def gateway_url_from_config(config: ConfigSource) -> str | None:
    """The `url` of the `sovereign-ai:gateway` config, read as the program reads it (`config.loader`)."""
    values, problems = namespace_values(config)
    if problems:
        raise ValueError("; ".join(problems))
    value = values.get("gateway")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"{GATEWAY_CONFIG_KEY} must be a JSON object, got {type(value).__name__}")
    url = value.get("url")
    if url is None:
        return None
    if not isinstance(url, str) or not url:
        raise ValueError(f"{GATEWAY_CONFIG_KEY}.url must be a non-empty string, got {url!r}")
    return url


def resolve_settings(config_url: str | None, environ: Mapping[str, str] | None = None) -> GatewaySettings:
    """Gateway settings: `SOVEREIGN_AI_GATEWAY_URL` > stack config url > `http://ai`."""
    env = os.environ if environ is None else environ
    url = env.get(GATEWAY_URL_ENV) or config_url or DEFAULT_GATEWAY_URL
    url = url.rstrip("/")
    if url.endswith("/v1"):
        raise ValueError(
            f"gateway URL {url!r} ends in /v1: give the gateway root (http://ai); "
            f"set {GATEWAY_URL_ENV} or {GATEWAY_CONFIG_KEY}.url"
        )
    return GatewaySettings(url=url, identity=env.get(IDENTITY_ENV) or None)


def _error_messages(body: bytes) -> list[str]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = body.decode("utf-8", "replace").strip()
        return [text[:500]] if text else []
    if not isinstance(document, dict):
        return [str(document)[:500]]
    items = document.get("errors")
    if isinstance(items, list) and items:
        messages = [str(item.get("message")) if isinstance(item, dict) else str(item) for item in items]
        return [m for m in messages if m]
    for key in ("detail", "error", "title", "message"):
        if isinstance(document.get(key), str) and document[key]:
            return [document[key]]
    return []


def _retry_wait(attempt: int, retry_after: str | None) -> float:
    """Seconds before retry `attempt + 1`: `Retry-After` if it is a number, else the backoff."""
    try:
        wait = float(retry_after) if retry_after is not None else RETRY_SECONDS * 2 ** (attempt - 1)
    except ValueError:
        wait = RETRY_SECONDS * 2 ** (attempt - 1)
    return min(max(wait, 0.0), MAX_RETRY_SECONDS)


class ApertureClient:
    """GET / validate / PUT the gateway's config document; one fresh HTTP request per call."""

    def __init__(
        self, settings: GatewaySettings, timeout: float = 30.0, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self.sleep = sleep

    @property
    def config_url(self) -> str:
        """`<gateway>/aperture/config`."""
        return f"{self.settings.url}/aperture/config"

    def get_config(self) -> ConfigSnapshot:
        """`GET /aperture/config`: the redacted document and its ETag."""
        status, headers, body = self._request("GET", self.config_url)
        document = self._json(body, "GET /aperture/config")
        etag = headers.get("ETag")
        if not etag:
            raise ApertureError(f"GET {self.config_url} answered {status} without an ETag", status, [])
        return ConfigSnapshot(str(document.get("config", "")), etag)

    def validate(self, text: str) -> list[str]:
        """`POST /aperture/config:validate`: Aperture's error messages; [] when valid."""
        _, _, body = self._request("POST", f"{self.config_url}:validate", {"config": text})
        document = self._json(body, "POST /aperture/config:validate")
        if document.get("valid") is True:
            return []
        return [str(message) for message in document.get("errors") or []] or ["config is not valid"]

    def put_config(self, text: str, etag: str) -> ConfigSnapshot:
        """`PUT /aperture/config` with `If-Match: etag`: the saved (redacted) document."""
        status, headers, body = self._request("PUT", self.config_url, {"config": text}, {"If-Match": etag})
        document = self._json(body, "PUT /aperture/config")
        new_etag = headers.get("ETag")
        if not new_etag:
            raise ApertureError(f"PUT {self.config_url} answered {status} without an ETag", status, [])
        return ConfigSnapshot(str(document.get("config", "")), new_etag)

    def _json(self, body: bytes, what: str) -> dict[str, Any]:
        try:
            document = json.loads(body)
        except ValueError:
            raise ApertureError(f"{what} did not answer JSON", None, _error_messages(body)) from None
        if not isinstance(document, dict):
            raise ApertureError(f"{what} did not answer a JSON object", None, [])
        return document

    def _request(
        self,
        method: str,
        url: str,
        payload: dict[str, Any] | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> tuple[int, Mapping[str, str], bytes]:
        headers = {"Accept": "application/json", **(extra_headers or {})}
        data = None
        if payload is not None:
            data = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        if self.settings.identity:
            headers[IDENTITY_HEADER] = self.settings.identity
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with opener.open(request, timeout=self.timeout) as response:
                    return response.status, response.headers, response.read()
            except urllib.error.HTTPError as exc:
                body = exc.read()
                if exc.code not in RETRIED_STATUSES or attempt == MAX_ATTEMPTS:
                    raise self._http_error(method, url, exc.code, body, attempt) from None
                self.sleep(_retry_wait(attempt, exc.headers.get("Retry-After") if exc.headers else None))
            except (urllib.error.URLError, OSError) as exc:
                raise self._unreachable(method, url, exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _unreachable(self, method: str, url: str, exc: Exception) -> ApertureUnreachableError:
        reason = getattr(exc, "reason", exc)
        return ApertureUnreachableError(
            f"could not reach the Aperture gateway at {self.settings.url} ({method} {url}: {reason}); "
            f"check the tailnet connection, or set {GATEWAY_URL_ENV} or {GATEWAY_CONFIG_KEY}.url",
            None,
            [],
        )

    def _http_error(
        self, method: str, url: str, status: int, body: bytes, attempts: int = 1
    ) -> ApertureError:
        messages = _error_messages(body)
        if status == 403:
            who = self.settings.identity or "this device's Tailscale identity"
            return ApertureForbiddenError(
                f"Aperture denied {method} {url} (403) for {who}; it needs a grant with role admin",
                status,
                messages,
            )
        if status == 422:
            return ApertureRejectedError("Aperture rejected the config", status, messages)
        if status == 412:
            return ApertureConflictError(
                "Aperture's config changed since it was read (412)", status, messages
            )
        tries = f" ({attempts} attempts, the last {status})" if attempts > 1 else ""
        return ApertureError(f"Aperture answered {status} to {method} {url}{tries}", status, messages)
