"""One SSH session whose environment variables are set with confirmed `env` requests, then `exec`.

Upstream sets each variable with Go's `session.Setenv`, which waits for the server's answer, so a
server without a matching `AcceptEnv` fails the step (`could not set environment variable "K": ssh:
setenv failed`) before the command starts. asyncssh sends `env` requests without asking for an
answer, so `SetenvChannel` sends them itself, one confirmed request each, just before `exec`.
This relies on two asyncssh internals (`SSHClientChannel.create` and `_make_request`); asyncssh is
pinned (plugins/requirements.txt).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncssh
from asyncssh.packet import String

OPTIONAL_VARIABLES = ("PULUMI_COMMAND_STDOUT", "PULUMI_COMMAND_STDERR")
"""Variables whose refusal only warns (upstream sets them optimistically)."""


class SetenvRefused(Exception):
    """The server refused a required environment variable; the message is upstream's."""

    def __init__(self, name: str) -> None:
        super().__init__(f'could not set environment variable "{name}": ssh: setenv failed')
        self.name = name


class SetenvChannel(asyncssh.SSHClientChannel[bytes]):
    """A session channel that sends `environment` as confirmed requests before `exec`."""

    environment: dict[str, str]
    refused_optional: list[str]

    async def _make_request(self, request: bytes, *args: bytes) -> bool | None:
        if request == b"exec":
            for name, value in self.environment.items():
                if not await super()._make_request(b"env", String(name), String(value)):
                    if name not in OPTIONAL_VARIABLES:
                        self.close()
                        raise SetenvRefused(name)
                    self.refused_optional.append(name)
        return await super()._make_request(request, *args)


class Collector(asyncssh.SSHClientSession[bytes]):
    """Receives a command's output chunks, exit status or signal, and the channel's end."""

    def __init__(self, on_data: Callable[[bytes, bool], None]) -> None:
        self._on_data = on_data
        self.exit_status: int | None = None
        self.exit_signal: str | None = None
        self.exit_message = ""
        self.closed: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._on_data(data, datatype == asyncssh.EXTENDED_DATA_STDERR)

    def exit_status_received(self, status: int) -> None:
        self.exit_status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.exit_signal = signal
        self.exit_message = msg

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)


async def open_session(
    connection: asyncssh.SSHClientConnection,
    command: str,
    environment: dict[str, str],
    on_data: Callable[[bytes, bool], None],
) -> tuple[SetenvChannel, Collector, list[str]]:
    """Start `command` with `environment`; returns the channel, its collector and refused optional names."""
    loop = asyncio.get_running_loop()
    options: Any = connection._options
    channel = SetenvChannel(
        connection,
        loop,
        getattr(connection, "_utf8_decode_errors", "strict"),
        None,
        "strict",
        options.window,
        options.max_pktsize,
    )
    channel.environment = dict(environment)
    channel.refused_optional = []
    session = await channel.create(
        lambda: Collector(on_data), command, None, {}, False, None, None, {}, False, None, None, False, False
    )
    assert isinstance(session, Collector)
    return channel, session, channel.refused_optional
