"""The `connection` input and dialling it exactly as upstream does, with golang.org/x/crypto's errors.

Upstream: github.com/pulumi/pulumi-command v1.2.1 `provider/pkg/provider/remote/connection.go`, with
golang.org/x/crypto v0.48.0 `ssh/` and github.com/pulumi/pulumi sdk v3.224.0 `util/retry/until.go`.

- `SSHConfig` (`connection.go:85-148`) runs once per run, before any dial, and its errors end the
  step at once: a `hostKey` that does not parse (`failed to parse host key: ...`), a private key
  that does not (`ssh: no key found`, ...), and an agent socket (`agentSocketPath`, else
  `SSH_AUTH_SOCK`) that cannot be opened (`dial unix <path>: connect: <errno>`, `connection.go:138-142`).
- With `hostKey` the only host-key algorithm offered is that key's type (`connection.go:94`), so an
  RSA key offers SHA-1 `ssh-rsa` alone, and the server's key must be that very key (`ssh.FixedHostKey`).
- A dial is a TCP connect bounded by `perDialTimeout` (0: no bound; `ssh.Dial` -> `net.DialTimeout`,
  `ssh/client.go:177-188`) and then a handshake with no time bound. Every failed dial (refused,
  timed out, host key mismatch, login rejected) is retried after 0.1 s, each wait 1.5 times the last,
  at most 5 s, until `dialErrorLimit` (-1: no limit) is exceeded: `after <try> failed attempts: <err>`
  after `dialErrorLimit + 1` dials (`connection.go:150-187`, `until.go:62-115`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from plugins.command.auth import UpstreamAuth
from plugins.command.keys import KeyReadError, PinnedKey, parse_authorized_key, parse_private_key

FIRST_RETRY_SECONDS = 0.1
BACKOFF = 1.5
MAX_RETRY_SECONDS = 5.0
DEFAULT_DIAL_ERROR_LIMIT = 10
"""`connection.go:32` (`getDialErrorLimit` when the input is absent)."""


class DialError(Exception):
    """The connection could not be made; the message is upstream's error."""


@dataclass(frozen=True)
class Connection:
    """A `connection` input, plain (secrets revealed), as a run reads it."""

    host: str
    port: float = 22
    user: str = "root"
    password: str | None = None
    private_key: str | None = None
    private_key_password: str | None = None
    agent_socket_path: str | None = None
    dial_error_limit: int = DEFAULT_DIAL_ERROR_LIMIT
    per_dial_timeout: int = 15
    host_key: str | None = None

    @classmethod
    def from_input(cls, value: dict[str, Any]) -> Connection:
        """From the plain `connection` map that Check accepted (defaults already filled)."""
        return cls(
            host=str(value.get("host", "")),
            port=value.get("port", 22),
            user=value.get("user", "root"),
            password=value.get("password"),
            private_key=value.get("privateKey"),
            private_key_password=value.get("privateKeyPassword"),
            agent_socket_path=value.get("agentSocketPath"),
            dial_error_limit=int(value.get("dialErrorLimit", DEFAULT_DIAL_ERROR_LIMIT)),
            per_dial_timeout=int(value.get("perDialTimeout", 15)),
            host_key=value.get("hostKey"),
        )

    @property
    def endpoint(self) -> str:
        """`net.JoinHostPort(host, "%d" % int(port))` (`connection.go:196`)."""
        port = int(self.port)
        return f"[{self.host}]:{port}" if ":" in self.host else f"{self.host}:{port}"


@dataclass(frozen=True)
class ClientConfig:
    """What `SSHConfig` prepares: the pinned key, the credentials and the agent socket."""

    pinned: PinnedKey | None
    private_key: asyncssh.SSHKey | None
    password: str | None
    agent_path: str | None


def go_errno(exc: OSError) -> str:
    """Go's text of an errno (`syscall.Errno.Error()`: the C message, first letter lower-cased)."""
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return text[:1].lower() + text[1:]


def _dial_agent(path: str) -> None:
    """`net.Dial("unix", path)` (`connection_unix.go:19-21`); raises DialError with Go's text."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError as exc:
        raise DialError(f"dial unix {path}: connect: {go_errno(exc)}") from None
    finally:
        probe.close()


def ssh_config(connection: Connection) -> ClientConfig:
    """`SSHConfig` (`connection.go:85-148`): parse the host key and the private key, open the agent."""
    pinned = None
    if connection.host_key is not None:
        try:
            pinned = parse_authorized_key(connection.host_key)
        except KeyReadError as exc:
            raise DialError(f"failed to parse host key: {exc}") from None
    private_key = None
    if connection.private_key is not None:
        try:
            private_key = parse_private_key(connection.private_key, connection.private_key_password)
        except KeyReadError as exc:
            raise DialError(str(exc)) from None
    agent_path = connection.agent_socket_path
    if agent_path is None:
        agent_path = os.environ.get("SSH_AUTH_SOCK") or None  # `connection_unix.go:12-17`
    if agent_path is not None:
        _dial_agent(agent_path)
    return ClientConfig(pinned, private_key, connection.password, agent_path)


# -- one dial: TCP connect, then the SSH handshake ---------------------------------------------


def _address(sockaddr: tuple[Any, ...]) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _nameserver() -> str | None:
    """The first resolver of /etc/resolv.conf, as Go's resolver names it in a lookup error."""
    with contextlib.suppress(OSError):
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "nameserver":
                return f"[{words[1]}]:53" if ":" in words[1] else f"{words[1]}:53"
    return None


async def _tcp_connect(connection: Connection) -> socket.socket:
    """`net.DialTimeout("tcp", endpoint, perDialTimeout)`; raises DialError with Go's text."""
    loop = asyncio.get_running_loop()
    timeout = connection.per_dial_timeout or None
    try:
        infos = await loop.getaddrinfo(connection.host, int(connection.port), type=socket.SOCK_STREAM)
    except socket.gaierror:
        server = _nameserver()
        where = f" on {server}" if server else ""
        raise DialError(f"dial tcp: lookup {connection.host}{where}: no such host") from None
    first: str | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, sockaddr), timeout)
            return sock
        except TimeoutError:
            error = f"dial tcp {_address(sockaddr)}: i/o timeout"
        except OSError as exc:
            error = f"dial tcp {_address(sockaddr)}: connect: {go_errno(exc)}"
        sock.close()
        first = first or error
    raise DialError(first or f"dial tcp {connection.endpoint}: no address")


class _Client(UpstreamAuth):
    """`UpstreamAuth` that also keeps the server's KEXINIT, to name algorithms it did not offer."""

    server_kexinit: bytes | None = None
    _conn: asyncssh.SSHClientConnection | None = None

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self._conn = conn

    def keep_server_kexinit(self) -> None:
        """Keep the server's KEXINIT payload (an asyncssh internal; asyncssh is pinned)."""
        self.server_kexinit = getattr(self._conn, "_server_kexinit", None) or None


def _handshake_error(exc: BaseException, client: _Client, config: ClientConfig) -> str:
    """What x/crypto's `NewClientConn` returns for a failed handshake (`ssh/client.go:83-86`)."""
    offered = _offered_host_key_mismatch(client, config)
    if offered:
        reason = offered
    elif isinstance(exc, asyncssh.HostKeyNotVerifiable):
        reason = "ssh: host key mismatch"  # `ssh.FixedHostKey` (`ssh/client.go:258-265`)
    elif isinstance(exc, asyncssh.PermissionDenied):
        reason = client.unable_to_authenticate()
    elif isinstance(exc, asyncssh.ConnectionLost | ConnectionError | asyncio.IncompleteReadError):
        reason = "EOF"
    elif isinstance(exc, asyncssh.DisconnectError):
        reason = f"ssh: disconnect, reason {exc.code}: {exc.reason}"
    else:
        reason = str(exc) or type(exc).__name__
    return f"ssh: handshake failed: {reason}"


def _offered_host_key_mismatch(client: _Client, config: ClientConfig) -> str | None:
    """x/crypto's `no common algorithm for host key` when the server offered none of ours."""
    if config.pinned is None or client.server_kexinit is None:
        return None
    server_algs = _host_key_algs(client.server_kexinit)
    if server_algs is None or config.pinned.type in server_algs:
        return None
    return (
        f"ssh: no common algorithm for host key; we offered: [{config.pinned.type}], "
        f"peer offered: [{' '.join(server_algs)}]"
    )


def _host_key_algs(kexinit: bytes) -> list[str] | None:
    """The server_host_key_algorithms name-list of a KEXINIT payload (RFC 4253 §7.1)."""
    position = 17
    try:
        for index in range(2):
            size = int.from_bytes(kexinit[position : position + 4], "big")
            if index == 1:
                return kexinit[position + 4 : position + 4 + size].decode("ascii").split(",")
            position += 4 + size
    except (UnicodeDecodeError, ValueError):
        return None
    return None


async def _dial_once(connection: Connection, config: ClientConfig) -> asyncssh.SSHClientConnection:
    """`ssh.Dial("tcp", endpoint, config)` (`ssh/client.go:177-188`); raises DialError."""
    sock = await _tcp_connect(connection)
    client = _Client(config.private_key, config.password, config.agent_path)
    try:
        return await asyncssh.connect(
            sock=sock,
            host=connection.host,
            port=int(connection.port),
            client_factory=lambda: client,
            username=connection.user,
            client_keys=None,
            password=None,
            agent_path=None,
            known_hosts=([config.pinned.key], [], []) if config.pinned else None,
            server_host_key_algs=[config.pinned.type] if config.pinned else (),
            preferred_auth=client.preferred_auth or ["none"],
            config=[],
            login_timeout=0,
            connect_timeout=None,
        )
    except (OSError, asyncssh.Error, asyncio.IncompleteReadError) as exc:
        sock.close()
        client.keep_server_kexinit()
        raise DialError(_handshake_error(exc, client, config)) from None
    except BaseException:
        sock.close()
        raise
    finally:
        client.close_agent()


async def dial(
    connection: Connection, on_retry: Callable[[str], None] = lambda _: None
) -> asyncssh.SSHClientConnection:
    """`Connection.Dial` (`connection.go:190-201`): SSHConfig, then dials retried as upstream does."""
    config = ssh_config(connection)
    limit = connection.dial_error_limit
    delay = FIRST_RETRY_SECONDS
    attempt = 0
    while True:
        try:
            return await _dial_once(connection, config)
        except DialError as exc:
            error = str(exc)
        dials = attempt + 1
        if limit > -1 and dials > limit:
            raise DialError(f"after {attempt} failed attempts: {error}")
        on_retry(f"Dial {dials}/{limit if limit > -1 else 'inf'} failed: retrying")
        await asyncio.sleep(delay)
        delay = min(delay * BACKOFF, MAX_RETRY_SECONDS)
        attempt += 1
