"""The fake Ray in emulated containers: pip installs it, `ray start --block` head and worker, `ray status`,
and the fake vLLM's tensor-parallel check against the cluster, across two emulated Sparks."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from sandbox.host import HostHandle, start_host
from sandbox.host.state import is_alive
from sandbox.host.tools.ray import NO_CLUSTER, SESSION_NAME_ERROR
from testing.host import StandInControl, containers, free_port, succeeded
from tests.sandbox.test_docker_exec import bash_container, inspect, wait_status
from tests.sandbox.test_host_contract import refused, ssh, wait_healthy

INSTALL = "pip install -q --root-user-action=ignore 'ray[default]>=2.9'"
MODEL = "Qwen/Qwen3-235B-A22B-FP8"


def ray_node(host: HostHandle, key: asyncssh.SSHKey, start: str, gpus: bool = True) -> None:
    """`ray-<host>`: the playbook's Ray node container, `pip install` then `ray start --block ...`."""
    script = f"{INSTALL} && ray start --block {start} --node-ip-address={host.link['address']}"
    extra = "--ipc host --shm-size 10.24g " + ("--gpus all" if gpus else "")
    succeeded(bash_container(host, key, f"ray-{host.name}", script, extra=extra))


def gpus_seen(host: HostHandle, key: asyncssh.SSHKey) -> str | None:
    """The `0.0/N GPU` total `ray status` shows in the host's Ray container (None: no answer)."""
    result = ssh(host, key, f"sudo docker exec ray-{host.name} ray status")
    found = re.search(r"^ 0\.0/([0-9.]+) GPU$", result.stdout, re.M)
    return found.group(1) if result.exit_status == 0 and found else None


def wait_gpus(host: HostHandle, key: asyncssh.SSHKey, want: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while (seen := gpus_seen(host, key)) != want:
        assert time.monotonic() < deadline, f"ray status shows {seen} GPUs, not {want}"
        time.sleep(0.2)


def vllm_serve(address: str, port: int, tp: int, backend: str = "--distributed-executor-backend ray") -> str:
    return f"vllm serve {MODEL} --host {address} --port {port} --tensor-parallel-size {tp} {backend}"


@pytest.fixture
def pair(
    tmp_path: Path, client_key: asyncssh.SSHKey, control: StandInControl
) -> Iterator[tuple[HostHandle, HostHandle]]:
    """Two emulated Sparks whose link interfaces share a /24 (the QSFP link between them)."""
    public = client_key.export_public_key().decode()
    hosts = [
        start_host(
            tmp_path / "sandbox",
            [public],
            control.url,
            name=name,
            link_address=f"127.101.{control.subnet}.{i}",
        )
        for i, name in ((1, "spark"), (2, "spark-2"))
    ]
    yield hosts[0], hosts[1]
    for handle in hosts:
        handle.stop()
    for handle in hosts:
        for name, record in containers(handle).items():
            assert not is_alive(record.get("pid"), record.get("start_time")), f"{name} still runs"


def test_ray_is_not_found_before_pip_installs_it(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    succeeded(bash_container(host, client_key, "no-ray", "ray start --block --head --port=6379"))
    wait_status(host, client_key, "no-ray", "exited")
    assert inspect(host, client_key, "no-ray")["ExitCode"] == 127
    logs = ssh(host, client_key, "sudo docker logs no-ray").stdout
    assert logs == "/bin/bash: line 1: ray: command not found\n"


def test_pip_install_puts_ray_on_the_path_and_status_finds_no_cluster(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    succeeded(bash_container(host, client_key, "box", "sleep 600"))
    before = ssh(host, client_key, "sudo docker exec box bash -c 'ray status'")
    assert (before.exit_status, before.stderr) == (127, "bash: line 1: ray: command not found\n")
    installed = ssh(host, client_key, "sudo docker exec box pip install 'ray[default]>=2.9'")
    assert installed.exit_status == 0 and installed.stdout.endswith("Successfully installed ray-2.49.2\n")
    assert "Running pip as the 'root' user" in installed.stderr
    after = ssh(host, client_key, "sudo docker exec box ray status")
    assert (after.exit_status, after.stderr) == (1, NO_CLUSTER + "\n")


def test_ray_start_without_block_is_refused(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    succeeded(bash_container(host, client_key, "box", f"{INSTALL} && sleep 600"))
    time.sleep(0.5)
    result = ssh(host, client_key, "sudo docker exec box ray start --head")
    assert result.exit_status == 1 and "SANDBOX ONLY" in result.stderr


def test_a_worker_whose_head_is_unreachable_gives_up_like_ray(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    head = f"127.101.{host.link['address'].split('.')[2]}.250:{free_port('127.0.0.1')}"
    script = f"{INSTALL} && ray start --block --address={head}"
    succeeded(bash_container(host, client_key, "lonely", script, extra="-e RAY_NUM_REDIS_GET_RETRIES=2"))
    wait_status(host, client_key, "lonely", "exited")
    assert inspect(host, client_key, "lonely")["ExitCode"] == 1
    logs = ssh(host, client_key, "sudo docker logs lonely").stdout.splitlines()
    assert [line.split(" -- ", 1)[1] for line in logs if "WARNING" in line] == [
        f"Unable to connect to GCS (ray head) at {head}. Check that (1) Ray with matching version started "
        "successfully at the specified address, (2) this node can reach the specified address, and (3) "
        "there is no firewall setting preventing access."
    ] * 2
    assert logs[-1] == SESSION_NAME_ERROR


def test_two_sparks_form_a_cluster_that_serves_tensor_parallel_2(
    pair: tuple[HostHandle, HostHandle], client_key: asyncssh.SSHKey
) -> None:
    head, worker = pair
    ray_node(head, client_key, "--head --port=6379")
    wait_gpus(head, client_key, "1.0")
    assert "Ray runtime started." in ssh(head, client_key, "sudo docker logs ray-spark").stdout
    ray_node(worker, client_key, f"--address={head.link['address']}:6379")
    wait_gpus(head, client_key, "2.0")
    status = ssh(head, client_key, "sudo docker exec ray-spark ray status").stdout
    assert len(re.findall(r"^ 1 node_[0-9a-f]{56}$", status, re.M)) == 2
    assert " 0.0/40.0 CPU" in status.splitlines()
    assert gpus_seen(worker, client_key) == "2.0", "the worker's container finds the cluster too"

    address = head.link["address"]
    port = free_port(address)
    serve = vllm_serve(address, port, 2)
    succeeded(
        ssh(
            head,
            client_key,
            f'sudo docker exec -d ray-spark /bin/bash -c "exec {serve} >>/proc/1/fd/1 2>>/proc/1/fd/2"',
        )
    )
    wait_healthy(f"http://{address}:{port}")
    assert ssh(head, client_key, "sudo docker exec ray-spark pgrep -f 'vllm serve'").exit_status == 0
    succeeded(ssh(head, client_key, "sudo docker exec ray-spark pkill -f 'vllm serve'"))
    deadline = time.monotonic() + 10
    while not refused(address, port):
        assert time.monotonic() < deadline
        time.sleep(0.1)

    succeeded(ssh(worker, client_key, "sudo docker stop ray-spark-2"))
    wait_gpus(head, client_key, "1.0")
    refusal = ssh(
        head,
        client_key,
        f"sudo docker exec ray-spark /bin/bash -c '{serve} >>/proc/1/fd/1 2>>/proc/1/fd/2'",
    )
    assert refusal.exit_status == 1
    logs = ssh(head, client_key, "sudo docker logs ray-spark").stdout
    assert (
        "The number of required GPUs exceeds the total number of available GPUs in the placement group."
        in logs
    )
    assert "ValueError: Cannot provide a placement group requiring 2.0 GPUs" in logs
    assert refused(address, port)


def test_tensor_parallel_without_the_ray_backend_is_refused_on_one_gpu(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    succeeded(bash_container(host, client_key, "box", "sleep 600", extra="--gpus all"))
    address = host.link["address"]
    result = ssh(host, client_key, f"sudo docker exec box {vllm_serve(address, free_port(address), 2, '')}")
    assert result.exit_status == 1
    assert "World size (2) is larger than the number of available GPUs (1) in this node." in result.stdout


def test_the_ray_backend_needs_ray_installed(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    succeeded(bash_container(host, client_key, "box", "sleep 600", extra="--gpus all"))
    address = host.link["address"]
    result = ssh(host, client_key, f"sudo docker exec box {vllm_serve(address, free_port(address), 2)}")
    assert result.exit_status == 1
    assert "ValueError: Failed to import Ray: No module named 'ray'." in result.stdout
