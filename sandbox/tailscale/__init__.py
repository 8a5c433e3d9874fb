"""Offline emulator of the Tailscale API that pulumi-tailscale calls (reference/tailscale-api.md).

`serve()` starts it on loopback in a daemon thread; `TailnetState` holds the tailnet (policy file,
auth keys, devices, DNS, settings, OAuth clients) and `TailnetState.consume` is the join operation
the emulated `tailscale up` uses. Module docstrings of `models`, `app` and `validation` list every
choice made where Tailscale's behaviour is undocumented, and what is not emulated.
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
