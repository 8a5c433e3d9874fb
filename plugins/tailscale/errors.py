"""Errors the plugin reports, worded as pulumi-terraform-bridge words upstream's.

CRUD errors read `<Summary>: <Detail>` (only the summary when both are equal), Check failures
`<Summary>. <Detail>. Examine values at '<name>.<prop>'.` and API errors `<message> (<status>)`
(docs/architecture.md §10.3). Upstream: github.com/pulumi/pulumi-terraform-bridge
`pkg/tfbridge/check_failures.go`; github.com/tailscale/tailscale-client-go `v2/client.go`.
"""

from __future__ import annotations

UPSTREAM_HINT = (
    "not implemented by this build of the tailscale plugin; install the upstream plugin "
    "(pulumi plugin install resource tailscale 0.29.2) where it can be downloaded"
)


class ProviderError(Exception):
    """A failed operation; the message is what the user sees after `error: `."""

    def __init__(self, summary: str, detail: str = "") -> None:
        self.summary = summary
        self.detail = detail
        super().__init__(summary if not detail or detail == summary else f"{summary}: {detail}")


class NotImplementedToken(ProviderError):
    """A resource type or function this build does not implement."""

    def __init__(self, token: str) -> None:
        super().__init__(f"{token} is {UPSTREAM_HINT}")


class APIError(Exception):
    """A >= 400 answer of the Tailscale API: `<message> (<status>)`, as tailscale-client-go says it."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        self.status = status
        self.message = message
        self.retry_after = retry_after
        """Seconds from a 429's `Retry-After` header, if any."""
        super().__init__(f"{message} ({status})")


class Unreachable(Exception):
    """The API could not be reached at all (connection refused, DNS, timeout)."""


def check_failure_reason(summary: str, detail: str, name: str, prop: str) -> str:
    """The bridge's Check failure text for one property."""
    parts = [summary.rstrip(".")]
    if detail and detail != summary:
        parts.append(detail.rstrip("."))
    return ". ".join(parts) + f". Examine values at '{name}.{prop}'."
