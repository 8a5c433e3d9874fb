"""`RunPlugin`: a policy pack behind upstream's `PolicyProxy`, and a plain Python plugin.

The test plays the engine's part as pkg `resource/plugin/plugin.go:559-601` and
`analyzer_plugin.go:199-236` do: `RunPlugin(kind=analyzer, args=[engine], env=<its environment>)`,
read the proxy's port, `Handshake`, `ConfigureStack`, then the analyzer's calls. The fake pack
(`FAKE_PACK`) records its environment, process group and every call it gets.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, language_pb2

from tests.plugins.language_host_fakes import (
    Host,
    language_host,
    plugin_dir,
    program_info,
    read_records,
    wait_for,
)

STACK = analyzer_pb2.AnalyzerStackConfigureRequest(
    project="proj", stack="dev", organization="", dry_run=True, config={"proj:env": "production"},
    config_secret_keys=["proj:env"],
)  # fmt: skip


@dataclass
class PluginStream:
    """A `RunPlugin` call read in the background, as the engine reads it."""

    call: grpc.Future
    items: list[language_pb2.RunPluginResponse] = field(default_factory=list)
    error: grpc.RpcError | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def read(self) -> None:
        try:
            for item in self.call:
                self.items.append(item)
        except grpc.RpcError as exc:
            self.error = exc
        self.done.set()

    def stdout(self) -> bytes:
        return b"".join(item.stdout for item in self.items)

    def exit_codes(self) -> list[int]:
        return [item.exitcode for item in self.items if item.WhichOneof("output") == "exitcode"]


@pytest.fixture
def host() -> Iterator[Host]:
    with language_host() as running:
        yield running


def run_plugin(host: Host, directory: Path, kind: str, env: list[str], args: list[str]) -> PluginStream:
    request = language_pb2.RunPluginRequest(
        info=program_info(directory, virtualenv="venv"), kind=kind, name="fake", args=args, env=env,
        pwd=str(directory.parent),
    )  # fmt: skip
    stream = PluginStream(host.stub.RunPlugin(request))
    threading.Thread(target=stream.read, daemon=True).start()
    return stream


def start_pack(
    host: Host, tmp_path: Path, mode: str, extra_env: list[str] | None = None
) -> tuple[PluginStream, analyzer_pb2_grpc.AnalyzerStub, Path]:
    pack = plugin_dir(tmp_path, "", name="pack")
    record = tmp_path / "pack.jsonl"
    env = [
        *(f"{k}={v}" for k, v in os.environ.items()),
        f"FAKE_PACK_RECORD={record}",
        f"FAKE_PACK_MODE={mode}",
    ]
    stream = run_plugin(host, pack, "analyzer", [*env, *(extra_env or [])], [host.address])
    wait_for(lambda: stream.stdout().endswith(b"\n"), what="the proxy's port")
    port = int(stream.stdout().splitlines()[0])
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    proxy = analyzer_pb2_grpc.AnalyzerStub(channel)
    proxy.Handshake(analyzer_pb2.AnalyzerHandshakeRequest(engine_address=host.address))
    return stream, proxy, record


def events(record: Path) -> list[object]:
    return [r["event"] for r in read_records(record)]


def test_the_pack_starts_with_the_stack_and_the_engines_environment_last(host: Host, tmp_path: Path) -> None:
    """Item by item: empty org left out, no secret keys, the request's `env` over the venv's activation
    and over the stack's variables (main.go:1659-1679); the pack in the host's process group."""
    request_env = [
        "PATH=/from/request:/usr/bin:/bin",
        "VIRTUAL_ENV=/from/request",
        "PULUMI_STACK=from-request",
    ]
    _, proxy, record = start_pack(host, tmp_path, "serve", request_env)
    assert proxy.ConfigureStack(STACK) == analyzer_pb2.AnalyzerStackConfigureResponse()
    assert proxy.GetAnalyzerInfo(empty_pb2.Empty()).name == "fake-pack"
    started = read_records(record)[0]
    assert started["env"] == {
        "PATH": "/from/request:/usr/bin:/bin",
        "VIRTUAL_ENV": "/from/request",
        "PULUMI_PROJECT": "proj",
        "PULUMI_STACK": "from-request",
        "PULUMI_DRY_RUN": "true",
        "PULUMI_CONFIG": '{"proj:env":"production"}',
    }
    pack = tmp_path / "pack"
    assert started["argv"] == [host.address, str(pack)]
    assert started["cwd"] == str(pack)
    assert started["pgid"] == host.process.pid
    assert events(record) == ["start", "ConfigureStack", "GetAnalyzerInfo"]
    assert read_records(record)[1]["stack"] == "dev"


def test_configure_stack_answers_at_once_and_a_pack_failing_it_fails_later_calls(
    host: Host, tmp_path: Path
) -> None:
    """policy_proxy.go:176 records the config and answers empty; the pack's refusal then fails every
    call and `RunPlugin` (the old proxy returned the pack's own error from ConfigureStack)."""
    stream, proxy, _ = start_pack(host, tmp_path, "configure-fails")
    assert proxy.ConfigureStack(STACK) == analyzer_pb2.AnalyzerStackConfigureResponse()
    with pytest.raises(grpc.RpcError) as error:
        proxy.GetAnalyzerInfo(empty_pb2.Empty())
    failure = "policy pack configuration failed: rpc error: code = InvalidArgument desc = bad config"
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # Go's status.FromError unwraps %w
    assert error.value.details() == f"policy pack not started: {failure}"
    assert stream.done.wait(20)
    assert stream.error is not None
    assert stream.error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert stream.error.details() == (
        f"problem executing plugin program (could not run language executor): could not attach policy pack proxy: {failure}"
    )


def test_a_pack_without_configure_stack_is_fine(host: Host, tmp_path: Path) -> None:
    _, proxy, _ = start_pack(host, tmp_path, "configure-unimplemented")
    proxy.ConfigureStack(STACK)
    assert proxy.GetAnalyzerInfo(empty_pb2.Empty()).name == "fake-pack"


def test_cancel_before_anything_starts_the_pack_and_is_forwarded(host: Host, tmp_path: Path) -> None:
    """policy_proxy.go:267: `Cancel` waits for the pack like any call, which means "no stack": the pack
    starts without stack variables and gets an empty ConfigureStack (the old proxy just returned)."""
    _, proxy, record = start_pack(host, tmp_path, "serve")
    proxy.Cancel(empty_pb2.Empty())
    assert events(record) == ["start", "ConfigureStack", "Cancel"]
    assert read_records(record)[1]["stack"] == ""
    env = read_records(record)[0]["env"]
    assert isinstance(env, dict) and not any(key.startswith("PULUMI_") for key in env)


@pytest.mark.parametrize(("code", "expected"), [(0, []), (3, [3])])
def test_the_packs_exit_code_is_sent_only_when_not_zero(
    host: Host, tmp_path: Path, code: int, expected: list[int]
) -> None:
    """main.go:1711-1718: a clean exit just ends the stream; stdout after the port and stderr pass on."""
    stream, proxy, _ = start_pack(host, tmp_path, f"exit:{code}")
    proxy.ConfigureStack(STACK)
    assert stream.done.wait(20)
    assert stream.error is None
    assert stream.exit_codes() == expected
    assert b"pack: bye\n" in stream.stdout()
    assert b"pack: bye on stderr\n" in b"".join(item.stderr for item in stream.items)


def test_a_pack_that_prints_no_port_fails_the_call(host: Host, tmp_path: Path) -> None:
    stream, proxy, _ = start_pack(host, tmp_path, "no-port")
    proxy.ConfigureStack(STACK)
    assert stream.done.wait(20)
    assert stream.error is not None
    assert stream.error.details() == (
        "problem executing plugin program (could not run language executor): could not attach policy pack "
        "proxy: could not read policy pack port: expected integer"
    )


PLUGIN_MAIN = """
import os, sys, time
print("to stderr early", file=sys.stderr, flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
print("done; VIRTUAL_ENV=" + os.environ.get("VIRTUAL_ENV", ""), flush=True)
sys.exit(int(sys.argv[2]))
"""


@pytest.mark.parametrize(("code", "expected"), [(0, []), (5, [5])])
def test_a_plugin_streams_stderr_as_it_comes_and_defaults_to_its_venv(
    host: Host, tmp_path: Path, code: int, expected: list[int]
) -> None:
    """Stderr is sent while the plugin runs (the old host held it back until the exit); `python <dir>
    <args>`; a plugin's Python is its `venv` unless the options say otherwise (main.go:285-288)."""
    directory = plugin_dir(tmp_path, PLUGIN_MAIN)
    go = tmp_path / "go"
    request = language_pb2.RunPluginRequest(
        info=program_info(directory), kind="resource", name="fake", args=[str(go), str(code)], env=[],
        pwd=str(tmp_path),
    )  # fmt: skip
    stream = PluginStream(host.stub.RunPlugin(request))
    threading.Thread(target=stream.read, daemon=True).start()
    wait_for(lambda: any(item.stderr for item in stream.items), what="stderr before the exit")
    go.write_text("")
    assert stream.done.wait(20)
    assert stream.error is None
    assert stream.stdout() == f"done; VIRTUAL_ENV={directory / 'venv'}\n".encode()
    assert stream.exit_codes() == expected
