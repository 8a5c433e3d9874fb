"""What every resource of the plugin implements, and the diff result the servicer turns into gRPC.

Each resource module holds one class with upstream's token and its rules; the servicer
(`provider.py`) does the wire work. `state` is the resource's outputs as last stored, `inputs`
its checked inputs; both are plain dicts with camelCase keys and secrets unwrapped.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from plugins.tailscale.client import TailscaleAPI
from plugins.tailscale.errors import check_failure_reason
from plugins.wire import Props, has_unknown


@dataclass(frozen=True)
class Failure:
    """One Check failure: the bridge-worded reason.

    The bridge never sets the failure's property (pulumi-terraform-bridge v3.135.0
    `pkg/tfbridge/check_failures.go:195-199`: "Do not populate Property here"), so there is none.
    """

    reason: str


@dataclass
class Diff:
    """Changed properties, and which of them force a replacement."""

    updates: list[str] = field(default_factory=list)
    replaces: list[str] = field(default_factory=list)

    def add(self, key: str, replace: bool = False) -> None:
        """Record a change of `key` (a replace when `replace`)."""
        (self.replaces if replace else self.updates).append(key)

    @property
    def changed(self) -> bool:
        return bool(self.updates or self.replaces)


@dataclass(frozen=True)
class ReadResult:
    """What Read found: the id (empty = gone), the refreshed outputs and the matching inputs."""

    id: str
    outputs: Props
    inputs: Props


class Resource(ABC):
    """One resource type: Check, Diff, Create, Read, Update, Delete with upstream's rules."""

    token: str
    """The resource type token, e.g. `tailscale:index/acl:Acl`."""

    @abstractmethod
    def check(self, name: str, news: Props) -> tuple[Props, list[Failure]]:
        """Inputs with upstream's defaults filled in, and any input errors."""

    @abstractmethod
    def diff(self, state: Props, inputs: Props) -> Diff:
        """Which properties change and which of those replace the resource."""

    @abstractmethod
    def create(self, api: TailscaleAPI, inputs: Props, preview: bool) -> tuple[str, Props]:
        """The new id and outputs (unknowns for computed outputs when `preview`)."""

    @abstractmethod
    def read(self, api: TailscaleAPI, id: str, state: Props, inputs: Props) -> ReadResult:
        """The live state (refresh and import)."""

    @abstractmethod
    def update(self, api: TailscaleAPI, id: str, state: Props, inputs: Props, preview: bool) -> Props:
        """The outputs after applying `inputs`."""

    @abstractmethod
    def delete(self, api: TailscaleAPI, id: str, state: Props) -> None:
        """Remove (or reset) what the resource manages."""


def new_id() -> str:
    """A random UUID, the id upstream gives resources without an API id."""
    return str(uuid.uuid4())


def differs(old: Any, new: Any) -> bool:
    """Does an input change? An unknown new value always counts as a change."""
    return has_unknown(new) or old != new


def bool_input(
    inputs: Props, key: str, name: str, failures: list[Failure], default: bool | None = False
) -> None:
    """Default a bool input in place (None: no default, it stays unset); a non-bool is a Check failure."""
    value = inputs.get(key)
    if value is None:
        if default is not None:
            inputs[key] = default
    elif not isinstance(value, bool) and not has_unknown(value):
        failures.append(
            Failure(check_failure_reason(f"Expected a bool for {key}, got {value!r}", "", name, key))
        )
