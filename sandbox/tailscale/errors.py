"""Upstream-shaped errors of the Tailscale API emulator, and of the emulated `tailscale up`.

Every HTTP error body is JSON `{"message": "..."}`, plus `"data": [{"user", "errors"}]` for failed
policy tests, because that is what tailscale-client-go decodes (docs/architecture.md §10.1): a
non-JSON error body turns into a JSON decode error and loses the status, which breaks the provider's
404 and `(412)` handling. One factory per error case; the HTTP layer writes `APIError.body()`.

Messages quoted from Tailscale (SaaS captures, client code or user reports) are constants at the
top; the few the emulator had to word itself say so in their docstrings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

API_TOKEN_INVALID = "API token invalid"
"""401 for a missing, malformed or unknown API key, OAuth client or access token (SaaS wording)."""

NOT_FOUND = "not found"
"""404 for an unknown key, device, tailnet or route."""

PRECONDITION_FAILED = "precondition failed, invalid old hash"
"""412 when `If-Match` does not match the policy file's ETag (SaaS wording)."""

TESTS_FAILED = "test(s) failed"
"""400 on save (200 on validate) when the policy's `tests` do not hold (SaaS wording)."""

NOT_ENOUGH_PERMISSIONS = "calling actor does not have enough permissions to perform this function"
"""403 when an OAuth token lacks the scope a route needs (SaaS wording, seen in user reports)."""

UNEXPECTED_END_OF_JSON = "unexpected end of JSON input"
"""400 for `POST /acl/validate` with no body (verified against SaaS by a third-party client)."""


class APIError(Exception):
    """An HTTP error of the emulated API: a status, a message and optional per-user details."""

    def __init__(self, status: int, message: str, data: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        """HTTP status code."""
        self.message = message
        """The `message` field, e.g. `precondition failed, invalid old hash`."""
        self.data = data
        """The `data` field (`[{"user": ..., "errors": [...]}]`), omitted when None."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of the body."""
        document: dict[str, Any] = {"message": self.message}
        if self.data is not None:
            document["data"] = self.data
        return document

    def body(self) -> bytes:
        """The response body (always JSON, see the module docstring)."""
        return json.dumps(self.to_dict()).encode()


def unauthorized() -> APIError:
    """401: the request carries no valid credential."""
    return APIError(401, API_TOKEN_INVALID)


def not_found() -> APIError:
    """404: unknown key, device, tailnet name or route."""
    return APIError(404, NOT_FOUND)


def method_not_allowed(method: str) -> APIError:
    """405: the route exists but not with this method (emulator wording)."""
    return APIError(405, f"method {method} not allowed")


def precondition_failed() -> APIError:
    """412: `If-Match` names a policy version that is not the current one."""
    return APIError(412, PRECONDITION_FAILED)


def bad_request(message: str) -> APIError:
    """400 with a validation message (policy errors use Tailscale's strings, see validation.py)."""
    return APIError(400, message)


def tests_failed(data: list[dict[str, Any]], status: int = 400) -> APIError:
    """400 on save: `{"message": "test(s) failed", "data": [{"user": src, "errors": [...]}]}`."""
    return APIError(status, TESTS_FAILED, data)


def forbidden() -> APIError:
    """403: the OAuth token's scopes do not cover the route."""
    return APIError(403, NOT_ENOUGH_PERMISSIONS)


def tags_not_permitted(tags: Iterable[str]) -> APIError:
    """400: auth key or device tags not in `tagOwners`, or not the OAuth client's to give."""
    return APIError(400, tags_not_permitted_message(tags))


def tags_not_permitted_message(tags: Iterable[str]) -> str:
    """`requested tags [tag:a tag:b] are invalid or not permitted` (SaaS wording)."""
    return f"requested tags [{' '.join(tags)}] are invalid or not permitted"


class JoinError(Exception):
    """`tailscale up --auth-key` refused: the message is what the CLI prints, `backend error: ...`."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"backend error: {reason}")
        self.reason = reason
        """The part after `backend error: `, e.g. `invalid key: API key does not exist`."""


def join_malformed_key() -> JoinError:
    """The secret is not a `tskey-auth-...` key at all (CLI wording for `--authkey foobar`)."""
    return JoinError("invalid key: unable to validate API key")


def join_unknown_key() -> JoinError:
    """A well-formed key the tailnet does not know, e.g. deleted (CLI wording from user reports)."""
    return JoinError("invalid key: API key does not exist")


def join_invalid_key(key_id: str) -> JoinError:
    """A single-use key already used, or an expired key (CLI wording, tailscale/tailscale#9715)."""
    return JoinError(f"invalid key: API key {key_id} not valid")


def join_tags_not_permitted(tags: Iterable[str]) -> JoinError:
    """`--advertise-tags` the key may not apply (CLI wording)."""
    return JoinError(tags_not_permitted_message(tags))
