"""An emulated GB10 host reachable over SSH, for running the real remote scripts offline.

`start_host(state_dir, authorized_keys, tailscale_url, name="spark") -> HostHandle` starts an asyncssh
server on 127.0.0.1 whose commands run with the shims in `shims/` (`sudo`, `uname`, `nvidia-smi`,
`docker`, `tailscale`, `ufw`, `systemctl`, `install`, `mkdir`, `rm`) ahead of the real tools. See
`server` for the session environment, path remapping and audit; `state` for the on-disk layout;
`tools` for each emulated command; README.md for the control-plane contract `tailscale up` needs.

`start_host` and `HostHandle` are imported lazily, so the shims' Python side (`python -m
sandbox.host.tools`) does not pay for importing asyncssh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.host.state import HostPaths

if TYPE_CHECKING:
    from sandbox.host.server import HostHandle, start_host

__all__ = ["HostHandle", "HostPaths", "start_host"]


def __getattr__(name: str) -> Any:
    if name in ("HostHandle", "start_host"):
        from sandbox.host import server

        return getattr(server, name)
    raise AttributeError(f"module 'sandbox.host' has no attribute {name!r}")
