"""Run one command on a host over SSH, the way the deploy does: pinned host key, key auth, stdin only.

Used by the program's own resources that must look at a host (`HostState`). The host key, when given,
is pinned (an `authorized_keys`-style line, as `remote.Command`'s `hostKey`); a mismatch is refused.
"""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass

from cryptography.utils import CryptographyDeprecationWarning

# asyncssh names cryptography's DSA classes at import time, which prints three deprecation lines
# into every `pulumi` run; only those are silenced (the module pattern is asyncssh's own files).
warnings.filterwarnings("ignore", "DSA is deprecated", CryptographyDeprecationWarning, r"asyncssh\.crypto\.")

import asyncssh  # noqa: E402

CONNECT_TIMEOUT_SECONDS = 15.0


class RemoteError(Exception):
    """The host could not be reached, refused us, or the command failed; the message says which."""


@dataclass(frozen=True)
class Connection:
    """Where and how to reach the host (the `connection` of the host's `remote.Command` steps)."""

    host: str
    port: int
    user: str
    private_key: str
    host_key: str | None = None


@dataclass(frozen=True)
class Completed:
    """A finished remote command."""

    exit_status: int
    stdout: str
    stderr: str


def run(connection: Connection, command: str, timeout: float = 60.0) -> Completed:
    """Run `command` (via the login shell) and wait for it; RemoteError when SSH itself fails."""
    return asyncio.run(_run(connection, command, timeout))


async def _run(connection: Connection, command: str, timeout: float) -> Completed:
    known_hosts = None
    if connection.host_key:
        known_hosts = asyncssh.import_known_hosts(
            f"[{connection.host}]:{connection.port} {connection.host_key}\n"
            if connection.port != 22
            else f"{connection.host} {connection.host_key}\n"
        )
    try:
        key = asyncssh.import_private_key(connection.private_key)
        async with asyncssh.connect(
            connection.host,
            connection.port,
            username=connection.user,
            client_keys=[key],
            known_hosts=known_hosts,
            agent_path=None,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
        ) as ssh:
            result = await asyncio.wait_for(ssh.run(command, check=False), timeout)
    except asyncssh.HostKeyNotVerifiable as exc:
        raise RemoteError(
            f"{connection.user}@{connection.host}:{connection.port}: the host key does not match the pinned "
            f"hostKey ({exc}); check hosts[].hostKey with `ssh-keyscan -t ed25519 -p {connection.port} "
            f"{connection.host}`"
        ) from None
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise RemoteError(f"{connection.user}@{connection.host}:{connection.port}: {exc}") from None
    return Completed(int(result.exit_status or 0), str(result.stdout or ""), str(result.stderr or ""))
