"""The emulated `docker start`, `docker exec`, `--entrypoint` containers and in-container `pkill`/`pgrep`."""

from __future__ import annotations

import json
import time

import asyncssh
import pytest

from sandbox.host import HostHandle
from sandbox.host.state import is_alive
from testing.host import StandInControl, containers, free_port, succeeded
from tests.sandbox.test_host_contract import IMAGE, Result, docker_run, refused, ssh, start_vllm, wait_healthy

NGC_IMAGE = "nvcr.io/nvidia/vllm:26.05-py3"


@pytest.fixture
def vllm_address(control: StandInControl) -> str:
    """A loopback address in the stand-in's tailnet /24 that no device uses."""
    return f"127.100.{control.subnet}.200"


def bash_container(host: HostHandle, key: asyncssh.SSHKey, name: str, script: str, extra: str = "") -> Result:
    """`docker run -d --entrypoint /bin/bash ... IMAGE -c SCRIPT`, as the Ray nodes are started."""
    command = (
        f"sudo docker run -d --name {name} --entrypoint /bin/bash --network host {extra} "
        f'{NGC_IMAGE} -c "{script}"'
    )
    return ssh(host, key, command)


def inspect(host: HostHandle, key: asyncssh.SSHKey, name: str) -> dict[str, object]:
    return dict(json.loads(ssh(host, key, f"sudo docker inspect {name}").stdout)[0]["State"])


def wait_status(host: HostHandle, key: asyncssh.SSHKey, name: str, status: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while inspect(host, key, name)["Status"] != status:
        assert time.monotonic() < deadline, f"{name} never became {status}"
        time.sleep(0.1)


# -- docker start / stop --------------------------------------------------------------------------


def test_docker_start_after_stop_relaunches_the_container(
    host: HostHandle, client_key: asyncssh.SSHKey, vllm_address: str
) -> None:
    port = start_vllm(host, client_key, vllm_address)
    before = containers(host)["vllm-test"]
    succeeded(ssh(host, client_key, "sudo docker stop vllm-test"))
    assert refused(vllm_address, port)
    result = ssh(host, client_key, "sudo docker start vllm-test")
    assert (result.exit_status, result.stdout) == (0, "vllm-test\n")
    wait_healthy(f"http://{vllm_address}:{port}")
    after = containers(host)["vllm-test"]
    assert after["pid"] != before["pid"] and after["started_at"] != before["started_at"]
    assert inspect(host, client_key, "vllm-test")["Status"] == "running"


def test_docker_start_of_a_running_container_only_prints_its_name(
    host: HostHandle, client_key: asyncssh.SSHKey, vllm_address: str
) -> None:
    start_vllm(host, client_key, vllm_address)
    pid = containers(host)["vllm-test"]["pid"]
    result = ssh(host, client_key, "sudo docker start vllm-test")
    assert (result.exit_status, result.stdout, containers(host)["vllm-test"]["pid"]) == (
        0,
        "vllm-test\n",
        pid,
    )


def test_docker_start_of_a_missing_container_fails_as_docker_does(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    result = ssh(host, client_key, "sudo docker start nope")
    assert (result.exit_status, result.stdout, result.stderr) == (
        1,
        "",
        "Error response from daemon: No such container: nope\nError: failed to start containers: nope\n",
    )


def test_docker_stop_of_a_restarting_container_leaves_it_exited(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    succeeded(bash_container(host, client_key, "dies", "exit 3", extra="--restart unless-stopped"))
    wait_status(host, client_key, "dies", "restarting")
    assert ssh(host, client_key, "sudo docker stop dies").stdout == "dies\n"
    state = inspect(host, client_key, "dies")
    assert (state["Status"], state["ExitCode"]) == ("exited", 3)


# -- --entrypoint containers ----------------------------------------------------------------------


def test_entrypoint_output_reaches_docker_logs_and_its_exit_code_inspect(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    succeeded(bash_container(host, client_key, "once", "echo hello from \\$HOME; exit 3"))
    wait_status(host, client_key, "once", "exited")
    assert inspect(host, client_key, "once")["ExitCode"] == 3
    root = host.paths.container_root("once")
    assert ssh(host, client_key, "sudo docker logs once").stdout == f"hello from {root / 'root'}\n"


def test_docker_rm_removes_the_container_filesystem(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    succeeded(bash_container(host, client_key, "files", "touch made && sleep 600"))
    time.sleep(0.3)
    assert (host.paths.container_root("files") / "made").exists()
    succeeded(ssh(host, client_key, "sudo docker rm -f files"))
    assert not host.paths.container_dir("files").exists()


# -- docker exec ----------------------------------------------------------------------------------


def test_docker_exec_runs_in_the_container_env_and_passes_the_exit_code(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    succeeded(bash_container(host, client_key, "box", "sleep 600", extra="-e FOO=from-run"))
    result = ssh(
        host,
        client_key,
        "sudo docker exec -e BAR=from-exec box bash -c 'echo $FOO $BAR $PWD; echo err >&2; exit 4'",
    )
    root = host.paths.container_root("box")
    assert (result.exit_status, result.stdout, result.stderr) == (4, f"from-run from-exec {root}\n", "err\n")


def test_docker_exec_of_a_stopped_or_missing_container_is_refused(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    succeeded(bash_container(host, client_key, "box", "exit 0"))
    wait_status(host, client_key, "box", "exited")
    container_id = containers(host)["box"]["id"]
    stopped = ssh(host, client_key, "sudo docker exec box true")
    assert (stopped.exit_status, stopped.stderr) == (
        1,
        f"Error response from daemon: container {container_id} is not running\n",
    )
    missing = ssh(host, client_key, "sudo docker exec nope true")
    assert (missing.exit_status, missing.stderr) == (
        1,
        "Error response from daemon: No such container: nope\n",
    )


def test_docker_exec_of_an_unknown_command_is_127(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    succeeded(bash_container(host, client_key, "box", "sleep 600"))
    result = ssh(host, client_key, "sudo docker exec box no-such-tool")
    assert result.exit_status == 127
    assert result.stderr == (
        "OCI runtime exec failed: exec failed: unable to start container process: exec: "
        '"no-such-tool": executable file not found in $PATH: unknown\n'
    )


def test_docker_exec_d_writes_to_pid_1s_streams_which_docker_logs_shows(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    succeeded(bash_container(host, client_key, "box", "echo started; sleep 600"))
    command = "sudo docker exec -d box /bin/bash -c 'echo out >>/proc/1/fd/1; echo err 2>>/proc/1/fd/2 >&2'"
    result = ssh(host, client_key, command)
    assert (result.exit_status, result.stdout) == (0, "")
    deadline = time.monotonic() + 5
    while (logs := ssh(host, client_key, "sudo docker logs box").stdout) != "started\nout\nerr\n":
        assert time.monotonic() < deadline, logs
        time.sleep(0.1)


def test_docker_stop_ends_detached_exec_processes(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    succeeded(bash_container(host, client_key, "box", "sleep 600"))
    succeeded(ssh(host, client_key, "sudo docker exec -d box sleep 700"))
    pids = ssh(host, client_key, "sudo docker exec box pgrep -f 'sleep 700'").stdout.split()
    assert len(pids) == 1
    succeeded(ssh(host, client_key, "sudo docker stop box"))
    assert not is_alive(int(pids[0]), None)


def test_pgrep_and_pkill_see_only_their_own_containers_processes(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    for name in ("one", "two"):
        succeeded(bash_container(host, client_key, name, "sleep 601"))
        succeeded(ssh(host, client_key, f"sudo docker exec -d {name} sleep 701"))
    one = ssh(host, client_key, "sudo docker exec one pgrep -f 'sleep 701'").stdout.split()
    two = ssh(host, client_key, "sudo docker exec two pgrep -f 'sleep 701'").stdout.split()
    assert len(one) == 1 and len(two) == 1 and one != two
    assert ssh(host, client_key, "sudo docker exec one pgrep -f 'no such process'").exit_status == 1
    assert ssh(host, client_key, "sudo docker exec one pkill -f 'sleep 701'").exit_status == 0
    deadline = time.monotonic() + 5
    while is_alive(int(one[0]), None):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert ssh(host, client_key, "sudo docker exec one pgrep -f 'sleep 701'").exit_status == 1
    assert ssh(host, client_key, "sudo docker exec two pgrep -f 'sleep 701'").stdout.split() == two
    assert ssh(host, client_key, "sudo docker exec two pkill -f 'sleep 70[0-9]'").exit_status == 0


def test_a_vllm_image_without_entrypoint_keeps_running_the_fake_vllm(
    host: HostHandle, client_key: asyncssh.SSHKey, vllm_address: str
) -> None:
    port = free_port(vllm_address)
    succeeded(docker_run(host, client_key, "vllm-test", vllm_address, port))
    wait_healthy(f"http://{vllm_address}:{port}")
    assert containers(host)["vllm-test"]["image"] == IMAGE
    assert containers(host)["vllm-test"]["entrypoint"] is None
