"""Driving the project's `command` plugin over gRPC as the engine does, for the command tests.

`command_plugin(logs)` starts `python -m plugins.command` with a `RecordingEngine`; `Plugin` wraps its
stub with the calls the engine makes (Check before Create, Update with the checked inputs, ...).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
def command_plugin(logs: Path) -> Iterator[Plugin]:
    """The command plugin started as the engine starts it, logging to `logs/command.log`."""
    with recording_engine() as (engine, address):
        running = start_plugin(
            "plugins.command",
            address,
            env={"SOVEREIGN_AI_PLUGIN_LOG_DIR": str(logs), "SOVEREIGN_AI_PLUGIN_DEBUG": "1"},
        )
        try:
            yield Plugin(
                running, provider_pb2_grpc.ResourceProviderStub(running.channel), engine, logs / "command.log"
            )
        finally:
            running.stop()


def connection(host: HostHandle, key: asyncssh.SSHKey, **extra: Any) -> dict[str, Any]:
    """The connection the program sends, wrapped as a secret as the engine sends it."""
    value = {
        "host": host.address,
        "port": host.port,
        "user": "ubuntu",
        "privateKey": key.export_private_key().decode(),
        "hostKey": host.host_key,
    }
    return secret(value | extra)


def commands_run(audit_path: Path) -> list[str]:
    if not audit_path.exists():
        return []
    return [json.loads(line)["command"] for line in audit_path.read_text().splitlines()]
