"""The `connection` input and dialling it: auth, host-key pinning, and upstream's dial retries.

Upstream (github.com/pulumi/pulumi-command `provider/pkg/provider/remote/connection.go`): `port`
22, `user` root, `dialErrorLimit` 10 (-1 = no limit), `perDialTimeout` 15 s; a failed dial is
retried after 0.1 s, each wait 1.5 times the last, at most 5 s; after `dialErrorLimit + 1` dials
the error is `after <limit> failed attempts: <err>`.

Where this plugin is stricter than upstream (which retries every error): a host key that does not
match `hostKey`, a rejected login and an unreadable private key fail at once, since no retry can
fix them and a mismatched host key must not be tried again and again.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncssh

DEFAULTS: dict[str, Any] = {"port": 22, "user": "root", "dialErrorLimit": 10, "perDialTimeout": 15}
"""What Check fills in when a connection leaves it out (upstream's schema defaults)."""

FIRST_RETRY_SECONDS = 0.1
BACKOFF = 1.5
MAX_RETRY_SECONDS = 5.0
SECRET_FIELDS = ("password", "privateKey", "privateKeyPassword")
"""Connection fields whose values are hidden from every message."""


class DialError(Exception):
    """The connection could not be made; the message is what the user sees."""


@dataclass(frozen=True)
class Connection:
    """A validated `connection` input."""

    host: str
    port: int = 22
    user: str = "root"
    password: str | None = None
    private_key: str | None = None
    private_key_password: str | None = None
    agent_socket_path: str | None = None
    dial_error_limit: int = 10
    per_dial_timeout: int = 15
    host_key: str | None = None

    @classmethod
    def from_input(cls, value: dict[str, Any]) -> Connection:
        """From the plain (unwrapped) `connection` map; raises ValueError naming the bad field."""
        for name in ("host",):
            if not isinstance(value.get(name), str) or not value[name]:
                raise ValueError(f"connection.{name} is required")
        if value.get("proxy"):
            raise ValueError("connection.proxy is not supported")

        def text(name: str) -> str | None:
            item = value.get(name)
            if item is not None and not isinstance(item, str):
                raise ValueError(f"connection.{name} must be a string")
            return item

        def number(name: str) -> int:
            item = value.get(name, DEFAULTS[name])
            if isinstance(item, bool) or not isinstance(item, (int, float)) or int(item) != item:
                raise ValueError(f"connection.{name} must be a whole number")
            return int(item)

        connection = cls(
            host=value["host"],
            port=number("port"),
            user=text("user") or "root",
            password=text("password"),
            private_key=text("privateKey"),
            private_key_password=text("privateKeyPassword"),
            agent_socket_path=text("agentSocketPath"),
            dial_error_limit=number("dialErrorLimit"),
            per_dial_timeout=number("perDialTimeout"),
            host_key=text("hostKey"),
        )
        if connection.host_key:
            pinned_key(connection.host_key)
        return connection

    def secrets(self) -> list[str]:
        """The values no message may show."""
        return [v for v in (self.password, self.private_key, self.private_key_password) if v]

    @property
    def endpoint(self) -> str:
        """`host:port` (IPv6 hosts bracketed)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def pinned_key(line: str) -> asyncssh.SSHKey:
    """The public key of an authorized_keys line (`ssh-ed25519 AAAA... [comment]`, options allowed)."""
    words = line.split()
    for start in range(len(words)):
        try:
            return asyncssh.import_public_key(" ".join(words[start:]))
        except (asyncssh.KeyImportError, ValueError):
            continue
    raise ValueError("connection.hostKey must be an authorized_keys line such as `ssh-ed25519 AAAA...`")


def _client_keys(connection: Connection) -> list[asyncssh.SSHKey]:
    if not connection.private_key:
        return []
    try:
        return [asyncssh.import_private_key(connection.private_key, connection.private_key_password)]
    except asyncssh.KeyEncryptionError as exc:
        raise DialError(f"could not decrypt connection.privateKey: {exc}") from None
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise DialError(f"could not read connection.privateKey: {exc}") from None


def _options(connection: Connection) -> dict[str, Any]:
    return {
        "username": connection.user,
        "client_keys": _client_keys(connection),
        "password": connection.password,
        "agent_path": connection.agent_socket_path or os.environ.get("SSH_AUTH_SOCK") or None,
        "known_hosts": ([pinned_key(connection.host_key)], [], []) if connection.host_key else None,
        "connect_timeout": connection.per_dial_timeout or None,
        "config": [],
        "preferred_auth": "publickey,password,keyboard-interactive",
    }


def _mismatch(connection: Connection, exc: Exception) -> DialError:
    pinned = pinned_key(connection.host_key or "")
    return DialError(
        f"ssh: handshake failed: ssh: host key mismatch: {connection.endpoint} did not present the "
        f"pinned connection.hostKey ({pinned.get_algorithm()} {pinned.get_fingerprint()}); refusing to "
        f"connect. If the host was reinstalled, pin its new key. ({exc})"
    )


def describe(exc: BaseException) -> str:
    """A one-line description of a dial error."""
    if isinstance(exc, asyncio.TimeoutError):
        return "i/o timeout (connection.perDialTimeout)"
    text = str(exc) or type(exc).__name__
    return text


async def dial(
    connection: Connection, on_retry: Callable[[str], None] = lambda _: None
) -> asyncssh.SSHClientConnection:
    """Connect and log in, retrying as upstream does; raises DialError."""
    options = _options(connection)
    limit = connection.dial_error_limit
    delay = FIRST_RETRY_SECONDS
    attempt = 0
    while True:
        try:
            return await asyncssh.connect(connection.host, connection.port, **options)
        except asyncssh.HostKeyNotVerifiable as exc:
            raise _mismatch(connection, exc) from None
        except asyncssh.KeyExchangeFailed as exc:
            if connection.host_key and "host key" in str(exc).lower():
                raise _mismatch(connection, exc) from None
            error: BaseException = exc
        except asyncssh.PermissionDenied as exc:
            raise DialError(
                f"ssh: handshake failed: ssh: unable to authenticate as {connection.user!r}: {exc}"
            ) from None
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            error = exc
        dials = attempt + 1
        if limit > -1 and dials > limit:
            raise DialError(f"after {attempt} failed attempts: {describe(error)}")
        on_retry(f"Dial {dials}/{limit if limit > -1 else 'inf'} failed: retrying")
        await asyncio.sleep(delay)
        delay = min(delay * BACKOFF, MAX_RETRY_SECONDS)
        attempt += 1
