"""The project's language host over gRPC, started as the engine starts it (no CLI in between).

What upstream's host answers (plugins/README.md "Fidelity"; the tests run against upstream's binary
too, see `test_language_host_fakes.py`): identity, the packages a program needs, `About`, program
dependencies, and the host's own lifetime.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import language_pb2

from tests.plugins.harness import ROOT, RunningPlugin, recording_engine, start_plugin
from tests.plugins.language_host_fakes import UPSTREAM_HOST, Host, language_host, program_info


@pytest.fixture
def host() -> Iterator[Host]:
    with language_host() as running:
        yield running


@pytest.mark.skipif(bool(UPSTREAM_HOST), reason="upstream's build reports its own version")
def test_reports_the_cli_version(host: Host) -> None:
    assert host.stub.GetPluginInfo(empty_pb2.Empty()).version == "3.274.1"


def test_required_packages_are_the_two_resource_plugins_at_the_sdk_versions(host: Host) -> None:
    """From the pulumi-plugin.json of pulumi-tailscale and pulumi-command (pip's order); not pulumi-policy."""
    request = language_pb2.GetRequiredPackagesRequest(
        info=program_info(ROOT, toolchain="pip", virtualenv="venv")
    )
    found = [(p.name, p.kind, p.version) for p in host.stub.GetRequiredPackages(request).packages]
    assert found == [("command", "resource", "v1.2.1"), ("tailscale", "resource", "v0.29.2")]


def test_get_required_plugins_is_unimplemented_as_upstream(host: Host) -> None:
    """main.go:371-375; the engine then uses GetRequiredPackages (the old host answered both)."""
    request = language_pb2.GetRequiredPluginsRequest(
        info=program_info(ROOT, toolchain="pip", virtualenv="venv")
    )
    with pytest.raises(grpc.RpcError) as error:
        host.stub.GetRequiredPlugins(request)
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert error.value.details() == "method GetRequiredPlugins not implemented"


@pytest.mark.skipif(bool(UPSTREAM_HOST), reason="the refusal is the stand-in's own")
def test_an_unsupported_toolchain_is_refused_with_what_to_do(host: Host) -> None:
    """A failure as upstream's errors reach the engine: `Unknown`, with the text."""
    request = language_pb2.GetRequiredPackagesRequest(info=program_info(ROOT, toolchain="poetry"))
    with pytest.raises(grpc.RpcError) as error:
        host.stub.GetRequiredPackages(request)
    assert error.value.code() == grpc.StatusCode.UNKNOWN
    assert "toolchain: poetry is not supported" in str(error.value.details())
    assert "toolchain: pip" in str(error.value.details())


def test_an_unknown_toolchain_fails_with_upstreams_text(host: Host) -> None:
    request = language_pb2.GetRequiredPackagesRequest(info=program_info(ROOT, toolchain="npm"))
    with pytest.raises(grpc.RpcError) as error:
        host.stub.GetRequiredPackages(request)
    assert (error.value.code(), error.value.details()) == (
        grpc.StatusCode.UNKNOWN,
        "unsupported toolchain option: npm",
    )


@pytest.mark.skipif(bool(UPSTREAM_HOST), reason="upstream implements code generation")
def test_calls_it_does_not_implement_answer_unimplemented(host: Host) -> None:
    """What the stand-in leaves out (code generation, Pack, Link, ...) fails loudly, naming no result."""
    with pytest.raises(grpc.RpcError) as error:
        host.stub.GenerateProject(language_pb2.GenerateProjectRequest())
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_program_dependencies_are_top_level_unless_transitive_ones_are_asked_for(host: Host) -> None:
    """`pip list --format json [--not-required]` (pip.go:170), names normalized; `pulumi about` asks
    for top-level ones (the old host listed every distribution, raw names)."""
    info = program_info(ROOT, virtualenv="venv")
    top = host.stub.GetProgramDependencies(language_pb2.GetProgramDependenciesRequest(info=info))
    found = {d.name: d.version for d in top.dependencies}
    assert found["pulumi-tailscale"] == "0.29.2"
    assert "pulumi" not in found  # the SDKs require it
    request = language_pb2.GetProgramDependenciesRequest(info=info, transitiveDependencies=True)
    everything = {d.name: d.version for d in host.stub.GetProgramDependencies(request).dependencies}
    assert everything["pulumi"] == "3.272.0"
    assert "googleapis-common-protos" in everything


def test_about_names_the_toolchain_as_upstream_spells_it(host: Host) -> None:
    """`Pip`, `Auto` without the option, typechecker `None`, pip as semver (main.go:1453-1485)."""
    pip = host.stub.About(
        language_pb2.AboutRequest(info=program_info(ROOT, toolchain="pip", virtualenv="venv"))
    )
    assert pip.executable == str(ROOT / "venv" / "bin" / "python")
    assert pip.version.count(".") == 2
    assert pip.metadata["toolchain"] == "Pip"
    assert pip.metadata["typechecker"] == "None"
    assert pip.metadata["toolchainVersion"].count(".") == 2
    auto = host.stub.About(language_pb2.AboutRequest(info=program_info(ROOT, virtualenv="venv")))
    assert auto.metadata["toolchain"] == "Auto"


def test_about_reports_a_missing_virtualenv_as_upstream(host: Host, tmp_path: Path) -> None:
    """No instructions here: About just cannot run the venv's Python."""
    with pytest.raises(grpc.RpcError) as error:
        host.stub.About(language_pb2.AboutRequest(info=program_info(tmp_path, virtualenv="venv")))
    python = tmp_path / "venv" / "bin" / "python"
    assert error.value.details() == (
        f"failed to get python executable path: fork/exec {python}: no such file or directory"
    )


def test_without_an_engine_address_run_and_run_plugin_fail_until_handshake(tmp_path: Path) -> None:
    """`connectToEngine` (main.go:308-324); `Handshake` sets the address (main.go:1890)."""
    with language_host(with_engine=False) as host:
        for call in (
            lambda: host.stub.Run(language_pb2.RunRequest(info=program_info(ROOT, virtualenv="venv"))),
            lambda: list(host.stub.RunPlugin(language_pb2.RunPluginRequest(info=program_info(tmp_path)))),
        ):
            with pytest.raises(grpc.RpcError) as error:
                call()
            assert error.value.code() == grpc.StatusCode.UNKNOWN
            assert (
                error.value.details()
                == "when debugging or running explicitly, must call Handshake before Run"
            )
        handshake = language_pb2.LanguageHandshakeRequest(engine_address=host.address)
        assert host.stub.Handshake(handshake) == language_pb2.LanguageHandshakeResponse()
        missing = language_pb2.RunRequest(info=program_info(tmp_path, virtualenv="venv"))
        with pytest.raises(grpc.RpcError) as error:
            host.stub.Run(missing)
        assert "The 'virtualenv' option in Pulumi.yaml" in str(error.value.details())


def test_sigint_stops_it_quietly() -> None:
    with recording_engine() as (_, address):
        plugin: RunningPlugin = start_plugin("plugins.language_python", address)
        os.killpg(plugin.process.pid, signal.SIGINT)
        assert plugin.process.wait(10) == 0
        assert plugin.process.stderr is not None
        assert b"Traceback" not in plugin.process.stderr.read()


def test_it_exits_when_the_engine_is_gone() -> None:
    """A host whose engine was killed (SIGKILL, no Cancel) must not linger. Upstream notices by its
    engine health check (every 5 minutes, rpcutil.Healthcheck); the stand-in sooner, by its parent."""
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
