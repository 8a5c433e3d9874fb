"""Offline emulator of the Tailscale API that pulumi-tailscale calls (https://tailscale.com/api;
docs/architecture.md §10.1).

`serve()` starts it on loopback in a daemon thread; `TailnetState` holds the tailnet (policy file,
auth keys, devices, DNS, settings, OAuth clients) and `TailnetState.consume` is the join operation
the emulated `tailscale up` uses. The docstrings of `app`, `validation` and of each module `models`
names (`auth`, `settings`, `policy`, `devices`, `keys`) list every choice made where Tailscale's
behaviour is undocumented, and what is not emulated.
"""

from sandbox.tailscale.app import TailscaleServer, serve
from sandbox.tailscale.errors import APIError, JoinError
from sandbox.tailscale.models import (
    DEFAULT_API_KEY,
    DEFAULT_POLICY,
    MAGICDNS_SUFFIX,
    TAILNET_RANGE,
    Device,
    TailnetState,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_POLICY",
    "MAGICDNS_SUFFIX",
    "TAILNET_RANGE",
    "APIError",
    "Device",
    "JoinError",
    "TailnetState",
    "TailscaleServer",
    "serve",
]
