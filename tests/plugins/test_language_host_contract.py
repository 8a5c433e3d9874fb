"""The project's language host over gRPC, started as the engine starts it (no CLI in between)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc

from tests.plugins.harness import ROOT, RunningPlugin, recording_engine, start_plugin


@pytest.fixture
def host() -> Iterator[language_pb2_grpc.LanguageRuntimeStub]:
    with recording_engine() as (_, address):
        plugin = start_plugin("plugins.language_python", address)
        yield language_pb2_grpc.LanguageRuntimeStub(plugin.channel)
        assert plugin.stop() == 0


def program_info(**options: str) -> language_pb2.ProgramInfo:
    struct = struct_pb2.Struct()
    struct.update(options)
    return language_pb2.ProgramInfo(
        root_directory=str(ROOT), program_directory=str(ROOT), entry_point=".", options=struct
    )


def test_reports_the_cli_version(host: language_pb2_grpc.LanguageRuntimeStub) -> None:
    assert host.GetPluginInfo(empty_pb2.Empty()).version == "3.274.1"


def test_required_packages_are_the_two_resource_plugins_at_the_sdk_versions(
    host: language_pb2_grpc.LanguageRuntimeStub,
) -> None:
    """From the pulumi-plugin.json of pulumi-tailscale and pulumi-command; not pulumi-policy."""
    request = language_pb2.GetRequiredPackagesRequest(info=program_info(toolchain="pip", virtualenv="venv"))
    found = {(p.name, p.kind, p.version) for p in host.GetRequiredPackages(request).packages}
    assert found == {("tailscale", "resource", "v0.29.2"), ("command", "resource", "v1.2.1")}
    legacy = host.GetRequiredPlugins(language_pb2.GetRequiredPluginsRequest(info=request.info))
    assert {(p.name, p.version) for p in legacy.plugins} == {("tailscale", "v0.29.2"), ("command", "v1.2.1")}


def test_an_unsupported_toolchain_is_refused_with_what_to_do(
    host: language_pb2_grpc.LanguageRuntimeStub,
) -> None:
    request = language_pb2.GetRequiredPackagesRequest(info=program_info(toolchain="poetry"))
    with pytest.raises(grpc.RpcError) as error:
        host.GetRequiredPackages(request)
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "toolchain: poetry is not supported" in str(error.value.details())
    assert "toolchain: pip" in str(error.value.details())


def test_calls_it_does_not_implement_answer_unimplemented(
    host: language_pb2_grpc.LanguageRuntimeStub,
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        host.GenerateProject(language_pb2.GenerateProjectRequest())
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_program_dependencies_list_the_venv(host: language_pb2_grpc.LanguageRuntimeStub) -> None:
    request = language_pb2.GetProgramDependenciesRequest(info=program_info(virtualenv="venv"))
    found = {d.name.lower(): d.version for d in host.GetProgramDependencies(request).dependencies}
    assert found["pulumi"] == "3.272.0"
    assert found["pulumi_tailscale"] == "0.29.2" or found.get("pulumi-tailscale") == "0.29.2"


def test_sigint_stops_it_quietly() -> None:
    with recording_engine() as (_, address):
        plugin: RunningPlugin = start_plugin("plugins.language_python", address)
        os.killpg(plugin.process.pid, signal.SIGINT)
        assert plugin.process.wait(10) == 0
        assert plugin.process.stderr is not None
        assert b"Traceback" not in plugin.process.stderr.read()


def test_it_exits_when_the_engine_is_gone() -> None:
    """A host whose engine was killed (SIGKILL, no Cancel) must not linger."""
    with recording_engine() as (_, address):
        engine = subprocess.Popen(
            ["sh", "-c", f'{sys.executable} -m plugins.language_python {address} & echo "$!"; wait'],
            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
        )  # fmt: skip
        assert engine.stdout is not None
        host_pid = int(engine.stdout.readline())
        engine.stdout.readline()  # the host's port: it is serving
        engine.kill()
        engine.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(host_pid):
            time.sleep(0.2)
        assert not _alive(host_pid), "the host outlived its engine"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"
