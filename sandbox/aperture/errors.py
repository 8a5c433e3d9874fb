"""Upstream-shaped error bodies of the Aperture emulator.

Two shapes, as the real gateway answers (docs/architecture.md §10.2):

- `/aperture/*` (the admin API, a huma OpenAPI service): RFC 9457 `application/problem+json`
  `{"type", "title", "status", "detail", "instance", "errors": [{"location", "message", "value"}]}`;
- everything else (inference, `/v1/models`, legacy `/api/*`): `{"error": "<message>"}`, e.g.
  `{"error": "access denied: no role granted"}`.

One exception class per kind of error, built by the factory of each case below it; the HTTP layer
turns any of them into a response with `body()`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

NO_ROLE = "access denied: no role granted"
"""The message Aperture gives an identity without any role grant."""

ADMIN_REQUIRED = "access denied: admin role required"
"""The emulator's message for a caller whose highest role is `user` (real wording undocumented)."""


@dataclass(frozen=True)
class ErrorDetail:
    """One item of a problem's `errors` list."""

    message: str
    """What is wrong, e.g. `provider spark has no baseurl configured`."""

    location: str = "body.config"
    """Where in the request the problem is (huma style: `body.config`, `header.If-Match`)."""

    value: Any = None
    """The offending value, when it is safe to echo (never a key)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this item."""
        return {"location": self.location, "message": self.message, "value": self.value}


class ApertureError(Exception):
    """Base class: an HTTP status and a message; subclasses choose the body shape."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def content_type(self) -> str:
        """The response's Content-Type."""
        return "application/json"

    def body(self, instance: str) -> bytes:
        """The response body; `instance` is the request path."""
        return json.dumps({"error": self.message}).encode()

    def headers(self) -> dict[str, str]:
        """Headers the response carries besides `Content-Type` (none by default)."""
        return {}


class ProblemError(ApertureError):
    """An RFC 9457 problem for the admin API (`/aperture/*`)."""

    def __init__(self, status: int, detail: str, errors: list[ErrorDetail] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors: list[ErrorDetail] = list(errors or [])

    def content_type(self) -> str:
        return "application/problem+json"

    def body(self, instance: str) -> bytes:
        document: dict[str, Any] = {
            "type": "about:blank",
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        if self.errors:
            document["errors"] = [item.to_dict() for item in self.errors]
        return json.dumps(document).encode()


def forbidden_problem(message: str) -> ProblemError:
    """403 on the admin API: no role, or a role below admin."""
    return ProblemError(status=403, detail=message)


def if_match_required() -> ProblemError:
    """428: a PUT without `If-Match`."""
    return ProblemError(
        status=428,
        detail="If-Match header is required: GET /aperture/config first and send its ETag",
        errors=[ErrorDetail("required header parameter is missing", "header.If-Match")],
    )


def precondition_failed(sent: str, current: str) -> ProblemError:
    """412: the `If-Match` ETag is not the current one (the config changed since the GET)."""
    return ProblemError(
        status=412,
        detail=f"config has changed since it was read: If-Match {sent} does not match ETag {current}",
    )


def validation_failed(messages: list[str]) -> ProblemError:
    """422: the config would not be saved; one item per message."""
    return ProblemError(
        status=422,
        detail="validation failed",
        errors=[ErrorDetail(message) for message in messages],
    )


def bad_body(message: str, location: str = "body") -> ProblemError:
    """422: the request body is not `{"config": "<string>"}` (huma answers 422 for body errors)."""
    return ProblemError(status=422, detail="validation failed", errors=[ErrorDetail(message, location)])


def not_found_problem(path: str) -> ProblemError:
    """404 for an unknown `/aperture/*` path."""
    return ProblemError(status=404, detail=f"no such endpoint: {path}")


class AccessDeniedError(ApertureError):
    """403 outside the admin API: `{"error": "access denied: no role granted"}` (`access_denied`)."""

    status = 403


class ModelNotFoundError(ApertureError):
    """404: the caller has a role but no grant (or no provider) for the requested model."""

    status = 404


class BadRequestError(ApertureError):
    """400: an inference request Aperture cannot route (no JSON body, no `model`), or too large."""

    status = 400


class NotFoundError(ApertureError):
    """404 for an unknown path outside the admin API."""

    status = 404


class ProviderUnreachableError(ApertureError):
    """502: the gateway could not reach the provider (connection refused, or no tailnet path)."""

    status = 502


class QuotaExceededError(ApertureError):
    """429: a rejecting quota bucket that applies to the request is spent; `Retry-After` says when
    it is positive again (the message wording is the emulator's: Aperture's is undocumented)."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def quota_exceeded(bucket: str, status: dict[str, str], retry_after: int) -> QuotaExceededError:
    """429 naming the spent bucket, its balance and refill rate, and the wait."""
    return QuotaExceededError(
        f'quota exceeded: bucket "{bucket}" has {status["balance"]} of {status["capacity"]} '
        f"(refills {status['rate']}); retry after {retry_after}s",
        retry_after,
    )


def admin_required() -> AccessDeniedError:
    """403 outside the admin API for a caller whose highest role is `user`."""
    return AccessDeniedError(ADMIN_REQUIRED)


def access_denied() -> AccessDeniedError:
    """403: the caller has no role."""
    return AccessDeniedError(NO_ROLE)


def model_not_found(model: str) -> ModelNotFoundError:
    """404 `model "<model>" not found`."""
    return ModelNotFoundError(f'model "{model}" not found')


def not_found(path: str) -> NotFoundError:
    """404 `not found: <path>`."""
    return NotFoundError(f"not found: {path}")


def provider_unreachable(provider: str, baseurl: str) -> ProviderUnreachableError:
    """502 naming the provider and where the gateway tried to reach it."""
    return ProviderUnreachableError(f'the gateway could not reach provider "{provider}" at {baseurl}')
