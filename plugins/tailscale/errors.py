"""Errors the plugin reports, shaped as pulumi-terraform-bridge v3.135.0 shapes upstream's diagnostics.

- A failed operation is a list of Terraform error diagnostics (summary, detail). The bridge logs
  each to the engine as `[ERROR] <detail>: <summary>` and returns the first as `<summary>:
  <detail>`, or only the summary when both are equal (`pkg/pf/tfbridge/provider_diagnostics.go:
  137-163,183-205`): `ProviderError`.
- A Check failure is `<summary>. <detail>. Examine values at '<name>.<prop>'.`, nothing stripped,
  with the failure's `property` left empty on purpose (`pkg/pf/tfbridge/detect_check_failures.go:
  65-70`, `pkg/tfbridge/check_failures.go:192-199`); a missing required property is
  `Missing required property '<prop>': <description>` (`check_failures.go:360-384`):
  `check_failure_reason`, `missing_property_reason`.
- An error of tailscale-client-go v2.9.0 is `ClientError` (whatever `err.Error()` says: a JSON
  decode error, a wrapped `*url.Error`, ...), or `APIError` for a JSON error body:
  `<message> (<status>)` (`client.go:363-378`).
"""

from __future__ import annotations

from dataclasses import dataclass

UPSTREAM_HINT = (
    "not implemented by this build of the tailscale plugin; install the upstream plugin "
    "(pulumi plugin install resource tailscale 0.29.2) where it can be downloaded"
)


@dataclass(frozen=True)
class Diagnostic:
    """One Terraform error diagnostic: `resp.Diagnostics.AddError(summary, detail)`."""

    summary: str
    detail: str

    def message(self) -> str:
        """The error the bridge returns for it (`provider_diagnostics.go:159-162`)."""
        return self.summary if self.summary == self.detail else f"{self.summary}: {self.detail}"

    def log_line(self) -> str:
        """What the bridge logs to the engine for it (`provider_diagnostics.go:197-201`)."""
        line = f"[ERROR] {self.detail}"
        return f"{line}: {self.summary}" if self.summary else line


class ProviderError(Exception):
    """A failed operation: the first diagnostic is the error, every one is logged to the engine."""

    def __init__(self, summary: str, detail: str = "", *more: Diagnostic, logged: bool = True) -> None:
        self.diagnostics = [Diagnostic(summary, detail), *more]
        self.logged = logged
        """Does upstream log the diagnostics to the engine (False: a bridge-level error)?"""
        super().__init__(self.diagnostics[0].message())

    @property
    def summary(self) -> str:
        return self.diagnostics[0].summary

    @property
    def detail(self) -> str:
        return self.diagnostics[0].detail

    @classmethod
    def of(cls, diagnostics: list[Diagnostic]) -> ProviderError:
        """The error of several diagnostics at once (the first is returned, all are logged)."""
        first, *rest = diagnostics
        return cls(first.summary, first.detail, *rest)


class NotImplementedToken(ProviderError):
    """A resource type or function this build does not implement (no upstream counterpart)."""

    def __init__(self, token: str) -> None:
        message = f"{token} is {UPSTREAM_HINT}"
        super().__init__(message, message, logged=False)


class ClientError(Exception):
    """An error of tailscale-client-go: `str()` is Go's `err.Error()`."""


class APIError(ClientError):
    """A >= 400 answer with a JSON body: `<message> (<status>)`, as tailscale-client-go says it."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{message} ({status})")


def is_not_found(exc: BaseException) -> bool:
    """`tailscale.IsNotFound(err)` (`client.go:380-388`): only an `APIError` with status 404."""
    return isinstance(exc, APIError) and exc.status == 404


class GoPanic(Exception):
    """Upstream's Go code panics here: the plugin process dies, as upstream's does."""

    def __init__(self, message: str, frame: str) -> None:
        self.message = message
        self.frame = frame
        super().__init__(message)


def check_failure_reason(summary: str, detail: str, name: str, prop: str) -> str:
    """The bridge's Check failure text for one top-level property (module docstring)."""
    reason = f"{summary}. {detail}" if detail else summary
    return f"{reason}. Examine values at '{name}.{prop}'."


def missing_property_reason(prop: str, description: str) -> str:
    """The bridge's text for a required property left out (`check_failures.go:360-384`)."""
    reason = f"Missing required property '{prop}'"
    return f"{reason}: {description}" if description else reason
