"""Driving the project's `command` plugin over gRPC as the engine does, for the command tests.

`command_plugin(logs)` starts `python -m plugins.command` with a `RecordingEngine`; `Plugin` wraps its
stub with the calls the engine makes (Check before Create, Update with the checked inputs, ...).
`connection()` is the connection the program sends; `kexinit_server()` and `ssh_agent()` are peers
for the dial tests (what a client offers before the key exchange; an agent holding a key).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import grpc
import pytest
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from plugins.wire import secret, to_python, to_struct
from sandbox.host import HostHandle
from tests.plugins.harness import RecordingEngine, RunningPlugin, recording_engine, start_plugin

TYPE = "command:remote:Command"


def urn(name: str, type_: str = TYPE) -> str:
    return f"urn:pulumi:test::sovereign-ai::{type_}::{name}"


@dataclass
class Plugin:
    """The running plugin, its stub, the engine it logs to, and its log file."""

    running: RunningPlugin
    stub: provider_pb2_grpc.ResourceProviderStub
    engine: RecordingEngine
    log: Path

    def lines(self, name: str) -> list[str]:
        """Messages the engine received for resource `name`."""
        return [line.message for line in self.engine.lines if line.urn == urn(name)]

    def check(self, name: str, news: dict[str, Any], type_: str = TYPE) -> provider_pb2.CheckResponse:
        return self.stub.Check(
            provider_pb2.CheckRequest(urn=urn(name, type_), name=name, type=type_, news=to_struct(news))
        )

    def checked(self, name: str, news: dict[str, Any]) -> dict[str, Any]:
        response = self.check(name, news)
        assert not response.failures, response.failures
        return to_python(response.inputs)

    def create(self, name: str, news: dict[str, Any], preview: bool = False) -> tuple[str, dict[str, Any]]:
        inputs = self.checked(name, news)
        response = self.stub.Create(
            provider_pb2.CreateRequest(
                urn=urn(name), name=name, type=TYPE, properties=to_struct(inputs), preview=preview
            )
        )
        return response.id, to_python(response.properties)

    def update(
        self, name: str, olds: dict[str, Any], news: dict[str, Any], preview: bool = False
    ) -> dict[str, Any]:
        response = self.stub.Update(
            provider_pb2.UpdateRequest(
                id=name + "00000000",
                urn=urn(name),
                name=name,
                type=TYPE,
                olds=to_struct(olds),
                news=to_struct(self.checked(name, news)),
                preview=preview,
            )
        )
        return to_python(response.properties)

    def delete(self, name: str, outputs: dict[str, Any]) -> None:
        self.stub.Delete(
            provider_pb2.DeleteRequest(
                id=name + "00000000", urn=urn(name), name=name, type=TYPE, properties=to_struct(outputs)
            )
        )

    def failure(self, name: str, news: dict[str, Any]) -> str:
        with pytest.raises(grpc.RpcError) as caught:
            self.create(name, news)
        assert caught.value.code() == grpc.StatusCode.UNKNOWN
        return str(caught.value.details())


@contextmanager
def command_plugin(logs: Path, agent_socket: str = "") -> Iterator[Plugin]:
    """The command plugin started as the engine starts it, logging to `logs/command.log`.

    `SSH_AUTH_SOCK` is the given agent socket, empty by default (upstream treats empty as unset), so
    the agent of whoever runs the tests never takes part."""
    with recording_engine() as (engine, address):
        running = start_plugin(
            "plugins.command",
            address,
            env={
                "SOVEREIGN_AI_PLUGIN_LOG_DIR": str(logs),
                "SOVEREIGN_AI_PLUGIN_DEBUG": "1",
                "SSH_AUTH_SOCK": agent_socket,
            },
        )
        try:
            yield Plugin(
                running, provider_pb2_grpc.ResourceProviderStub(running.channel), engine, logs / "command.log"
            )
        finally:
            running.stop()


def connection(host: HostHandle, key: asyncssh.SSHKey, **extra: Any) -> dict[str, Any]:
    """The connection the program sends (components/host/inference_host.py `remote.ConnectionArgs`):
    a plain object whose `privateKey` is a secret Output, as the Python SDK serializes it."""
    value = {
        "host": host.address,
        "port": host.port,
        "user": "ubuntu",
        "privateKey": secret(key.export_private_key().decode()),
        "hostKey": host.host_key,
    }
    return value | extra


KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfTheProgram"


def program_inputs(**extra: Any) -> dict[str, Any]:
    """What components/host/inference_host.py sends for one step: `remote.ConnectionArgs(host, port,
    user, private_key=<secret Output>, host_key)`, a create script and triggers."""
    conn = {
        "host": "192.168.1.50",
        "port": 22,
        "user": "ubuntu",
        "privateKey": secret(KEY),
        "hostKey": HOST_KEY,
    }
    return {"connection": conn, "create": "sudo true", "triggers": ["spark", "tag:gpu"]} | extra


def commands_run(audit_path: Path) -> list[str]:
    if not audit_path.exists():
        return []
    return [json.loads(line)["command"] for line in audit_path.read_text().splitlines()]


# -- peers for the dial tests -------------------------------------------------------------------


def _packet(payload: bytes) -> bytes:
    """An unencrypted SSH binary packet (RFC 4253 §6)."""
    padding = 8 - (len(payload) + 5) % 8
    padding += 8 if padding < 4 else 0
    return struct.pack(">IB", len(payload) + padding + 1, padding) + payload + bytes(padding)


def _kexinit(host_key_algs: list[str]) -> bytes:
    """A server KEXINIT (RFC 4253 §7.1) with algorithms any client has, and `host_key_algs`."""
    lists = [
        "curve25519-sha256",
        ",".join(host_key_algs),
        *["aes128-ctr"] * 2,
        *["hmac-sha2-256"] * 2,
        *["none"] * 2,
        "",
        "",
    ]
    body = b"".join(struct.pack(">I", len(item)) + item.encode() for item in lists)
    return bytes([20]) + bytes(16) + body + b"\x00" + bytes(4)


def _name_lists(payload: bytes) -> list[list[str]]:
    position, found = 17, []
    for _ in range(10):
        size = struct.unpack(">I", payload[position : position + 4])[0]
        found.append(payload[position + 4 : position + 4 + size].decode().split(","))
        position += 4 + size
    return found


@dataclass
class KexinitServer:
    """A TCP server that speaks SSH up to the key exchange: it sends its version and a KEXINIT
    offering `host_key_algs`, records each client's KEXINIT, then closes the connection (as sshd does
    when no host-key algorithm is common)."""

    host_key_algs: list[str]
    port: int = 0
    offered: list[list[str]] = field(default_factory=list)
    """The host-key algorithms each client offered, in order."""

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                peer, _ = listener.accept()
            except OSError:
                return
            with peer, peer.makefile("rb") as reader:
                peer.sendall(b"SSH-2.0-OpenSSH_9.6\r\n" + _packet(_kexinit(self.host_key_algs)))
                while not reader.readline().startswith(b"SSH-"):
                    pass
                length, padding = struct.unpack(">IB", reader.read(5))
                self.offered.append(_name_lists(reader.read(length - 1)[: length - 1 - padding])[1])


@contextmanager
def kexinit_server(host_key_algs: list[str]) -> Iterator[KexinitServer]:
    """A `KexinitServer` on 127.0.0.1, served from a thread while the block runs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    server = KexinitServer(host_key_algs, listener.getsockname()[1])
    thread = threading.Thread(target=server.serve, args=(listener,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(5)


@contextmanager
def ssh_agent(directory: Path, key: asyncssh.SSHKey) -> Iterator[str]:
    """An OpenSSH `ssh-agent` holding `key`; yields its socket path."""
    if not (shutil.which("ssh-agent") and shutil.which("ssh-add")):
        pytest.fail(
            "ssh-agent/ssh-add are not installed: install openssh-client (apt-get install openssh-client)"
        )
    socket_path = str(directory / "agent.sock")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", socket_path], stdout=subprocess.DEVNULL)
    try:
        key_file = directory / "agent-key"
        key_file.write_bytes(key.export_private_key())
        key_file.chmod(0o600)
        for _ in range(50):
            if os.path.exists(socket_path):
                break
            threading.Event().wait(0.1)
        env = dict(os.environ, SSH_AUTH_SOCK=socket_path)
        subprocess.run(["ssh-add", str(key_file)], env=env, check=True, capture_output=True)
        yield socket_path
    finally:
        agent.terminate()
        agent.wait(5)
