"""`Run`: how the program is started, where it lives, and how it is stopped (main.go:997-1202).

A fake `pulumi-language-python-exec` records its arguments, environment and process group, and then
waits for SIGINT, ignores it, or dies by a signal, as the test asks through the program's arguments.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import language_pb2

from tests.plugins.language_host_fakes import (
    FAKE_EXEC,
    Host,
    language_host,
    program_info,
    project_dir,
    read_records,
    wait_for,
    write_script,
)


@pytest.fixture
def exec_script(tmp_path: Path) -> Path:
    return write_script(tmp_path / "pulumi-language-python-exec", FAKE_EXEC)


@pytest.fixture
def host(exec_script: Path) -> Iterator[Host]:
    with language_host(exec_script=exec_script, extra_args=["--tracing=http://127.0.0.1:9/trace"]) as running:
        yield running


def run_request(project: Path, mode: str, record: Path, **fields: object) -> language_pb2.RunRequest:
    return language_pb2.RunRequest(
        info=program_info(project, toolchain="pip", virtualenv="venv"),
        project="p", stack="dev", pwd=str(project), monitor_address="127.0.0.1:1", parallel=4,
        args=[mode, str(record)], **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def start(host: Host, project: Path, mode: str, record: Path) -> grpc.Future:
    future = host.stub.Run.future(run_request(project, mode, record))
    wait_for(lambda: bool(read_records(record)), what="the program to start")
    return future


def test_the_program_runs_in_the_hosts_process_group(host: Host, tmp_path: Path) -> None:
    """No `Setpgid` upstream: the engine's SIGINT to the host's group reaches the program too
    (the old host gave it a session of its own)."""
    project = project_dir(tmp_path)
    record = tmp_path / "run.jsonl"
    assert host.stub.Run(run_request(project, "exit", record)).error == ""
    started = read_records(record)[0]
    assert started["pgid"] == host.process.pid
    assert started["ppid"] == host.process.pid


def test_arguments_and_config_are_upstreams(host: Host, tmp_path: Path, exec_script: Path) -> None:
    """`constructArguments` with the host's `--tracing`; `PULUMI_CONFIG` as Go's json.Marshal writes
    it, and only when there is config (the old host always set it, `{}` when empty)."""
    project = project_dir(tmp_path)
    record = tmp_path / "run.jsonl"
    request = run_request(
        project, "exit", record, config={"p:b": "<x>", "p:a": "1"}, configSecretKeys=["p:b"]
    )
    assert host.stub.Run(request).error == ""
    started = read_records(record)[0]
    assert started["argv"] == [
        "--monitor", "127.0.0.1:1", "--engine", host.address, "--project", "p",
        "--root_directory", str(project), "--stack", "dev", "--pwd", str(project), "--dry_run", "false",
        "--parallel", "4", "--tracing", "http://127.0.0.1:9/trace", ".", "exit", str(record),
    ]  # fmt: skip
    env = started["env"]
    assert isinstance(env, dict)
    assert env["PULUMI_CONFIG"] == '{"p:a":"1","p:b":"\\u003cx\\u003e"}'
    assert json.loads(env["PULUMI_CONFIG_SECRET_KEYS"]) == ["p:b"]
    assert env["VIRTUAL_ENV"] == str(project / "venv")
    empty = tmp_path / "empty.jsonl"
    assert host.stub.Run(run_request(project, "exit", empty)).error == ""
    assert read_records(empty)[0]["env"] == {
        "PULUMI_CONFIG": None, "PULUMI_CONFIG_SECRET_KEYS": "[]", "VIRTUAL_ENV": str(project / "venv"),
    }  # fmt: skip


def test_cancel_interrupts_the_program_and_is_for_good(host: Host, tmp_path: Path) -> None:
    """`Cancel` cancels the host's context: SIGINT to the program, and no program starts after it."""
    project = project_dir(tmp_path)
    record = tmp_path / "run.jsonl"
    future = start(host, project, "wait-for-sigint", record)
    host.stub.Cancel(empty_pb2.Empty())
    assert future.result(timeout=20).error == "program exited with non-zero exit code: 7"
    assert [r["event"] for r in read_records(record)] == ["start", "SIGINT"]
    after = host.stub.Run(run_request(project, "exit", tmp_path / "after.jsonl"))
    assert after.error == "problem executing program (could not run language executor): context canceled"
    assert read_records(tmp_path / "after.jsonl") == []


def test_a_program_ignoring_sigint_is_killed_five_seconds_after_cancel(host: Host, tmp_path: Path) -> None:
    """`cmd.WaitDelay = 5 * time.Second` (main.go:1062); a signal's end reads exit code -1."""
    project = project_dir(tmp_path)
    future = start(host, project, "ignore-sigint", tmp_path / "run.jsonl")
    cancelled = time.monotonic()
    host.stub.Cancel(empty_pb2.Empty())
    assert future.result(timeout=20).error == "program exited with non-zero exit code: -1"
    assert 4.5 < time.monotonic() - cancelled < 10


def test_a_program_ended_by_a_signal_reads_exit_code_minus_one(host: Host, tmp_path: Path) -> None:
    """`WaitStatus.ExitStatus()` is -1 for a signal (the old host said "stopped by signal 15")."""
    project = project_dir(tmp_path)
    response = host.stub.Run(run_request(project, "die-by-signal", tmp_path / "run.jsonl"))
    assert response.error == "program exited with non-zero exit code: -1"
