"""The emulated GB10 host through a real SSH client: auth, key pinning, stdio, audit, each shim's contract.

The control plane here is `testing.host.StandInControl` (only `POST /sandbox/join`); the real
one is the Tailscale API emulator in `sandbox/tailscale`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import asyncssh
import pytest

from sandbox.host import HostHandle, start_host
from sandbox.host.state import is_alive, read_json, shim_calls
from testing.host import RemoteResult, StandInControl, containers, free_port, run_remote, succeeded

IMAGE = "vllm/vllm-openai:v0.28.0"
MODEL = "sandbox/echo-model"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


Result = RemoteResult


def ssh(
    host: HostHandle,
    key: asyncssh.SSHKey,
    command: str,
    input: str | None = None,
    known_hosts: Path | None = None,
    username: str = "ubuntu",
) -> Result:
    """Run one command over a fresh SSH connection that pins the host key; stdin ends after `input`."""
    return run_remote(
        host.address, host.port, known_hosts or host.known_hosts, key, command, input or "", username
    )


def http(url: str, key: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with _OPENER.open(urllib.request.Request(url, headers=headers), timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_healthy(base_url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if http(base_url + "/health")[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        assert time.monotonic() < deadline, f"{base_url}/health never answered 200"
        time.sleep(0.1)


def refused(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def vllm_address(control: StandInControl) -> str:
    """A loopback address in the stand-in's tailnet /24 that no device uses."""
    return f"127.100.{control.subnet}.200"


def docker_run(
    host: HostHandle, key: asyncssh.SSHKey, name: str, address: str, port: int, extra: str = ""
) -> Result:
    command = (
        f"sudo docker run -d --name {name} --gpus all --ipc host --network host --restart unless-stopped "
        f"{extra} {IMAGE} Qwen/Qwen3.6-35B-A3B-FP8 --host {address} --port {port} --served-model-name {MODEL}"
    )
    return ssh(host, key, command)


def start_vllm(host: HostHandle, key: asyncssh.SSHKey, address: str, extra: str = "") -> int:
    """`docker run` the fake vLLM as `vllm-test` on a free port of `address`; the port, once healthy."""
    port = free_port(address)
    succeeded(docker_run(host, key, "vllm-test", address, port, extra))
    wait_healthy(f"http://{address}:{port}")
    return port


def join(host: HostHandle, key: asyncssh.SSHKey, secret: str, tags: str = "tag:spark") -> Result:
    """`tailscale up` with the key sent on stdin into a 0600 file, as join_tailnet.sh does."""
    command = (
        'f="$(mktemp)"; cat > "$f"; '
        f'sudo tailscale up --auth-key="file:$f" --hostname=spark --advertise-tags={tags} --timeout=120s; '
        'status=$?; rm -f "$f"; exit $status'
    )
    return ssh(host, key, command, input=secret)


# -- SSH ------------------------------------------------------------------------------------------


def test_ssh_runs_a_command_with_the_pinned_host_key(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    result = ssh(host, client_key, "uname -m")
    assert (result.exit_status, result.stdout) == (0, "aarch64\n")


def test_known_hosts_pins_the_real_port_and_host_key(host: HostHandle) -> None:
    assert host.known_hosts.read_text() == f"[127.0.0.1]:{host.port} {host.host_key}\n"
    assert host.host_key.startswith("ssh-ed25519 AAAA")


def test_ssh_rejects_a_wrong_host_key(host: HostHandle, client_key: asyncssh.SSHKey, tmp_path: Path) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().split()
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"[127.0.0.1]:{host.port} {other[0]} {other[1]}\n")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        ssh(host, client_key, "true", known_hosts=wrong)


def rsa_only(host: HostHandle, key: asyncssh.SSHKey, algs: list[str], tmp_path: Path) -> str:
    """`uname -m` pinning the host's RSA key and offering only `algs` as host-key algorithms."""
    known = tmp_path / "rsa_known_hosts"
    known.write_text(f"[127.0.0.1]:{host.port} {host.rsa_host_key}\n")

    async def go() -> str:
        async with asyncssh.connect(
            host.address, host.port, username="ubuntu", client_keys=[key], known_hosts=str(known),
            server_host_key_algs=algs, agent_path=None, config=[],
        ) as connection:  # fmt: skip
            return str((await connection.run("uname -m")).stdout)

    return asyncio.run(go())


def test_the_rsa_host_key_is_offered_as_sha2(
    host: HostHandle, client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    assert host.rsa_host_key.startswith("ssh-rsa AAAA")
    assert rsa_only(host, client_key, ["rsa-sha2-256"], tmp_path) == "aarch64\n"


def test_sha1_ssh_rsa_host_key_is_refused_as_by_openssh_8_8(
    host: HostHandle, client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    """pulumi-command with a pinned RSA hostKey offers only `ssh-rsa` (connection.go:94 at v1.2.1)."""
    # The server refuses in its KEXINIT answer; which side reports first (no common host key
    # algorithm, or the connection closed under the client) depends on timing.
    with pytest.raises((asyncssh.KeyExchangeFailed, asyncssh.ConnectionLost)):
        rsa_only(host, client_key, ["ssh-rsa"], tmp_path)


def test_ssh_rejects_an_unknown_client_key(host: HostHandle) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        ssh(host, asyncssh.generate_private_key("ssh-ed25519"), "true")


def test_exit_status_stdout_and_stderr_propagate(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    result = ssh(host, client_key, "echo out; echo err >&2; exit 7")
    assert (result.exit_status, result.stdout, result.stderr) == (7, "out\n", "err\n")


def test_stdin_reaches_the_command_then_eof(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    result = ssh(host, client_key, "cat; echo done", input="line one\nline two\n")
    assert result.stdout == "line one\nline two\ndone\n"


def test_commands_run_in_the_users_home_under_the_host_root(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    result = ssh(host, client_key, 'pwd; echo "$TMPDIR"', username="deploy")
    assert result.stdout.split() == [str(host.root / "home" / "deploy"), str(host.root / "tmp")]


def test_audit_records_each_command_with_exports_reduced_to_names(
    host: HostHandle, client_key: asyncssh.SSHKey, audit_path: Path
) -> None:
    ssh(host, client_key, "export TS_TAGS='tag:a,tag:b'\nexport PORT=22\necho hi\nexit 3", username="deploy")
    [line] = [json.loads(x) for x in audit_path.read_text().splitlines()]
    assert line == {
        "service": "host",
        "host": host.name,
        "command": "export TS_TAGS\nexport PORT\necho hi\nexit 3",
        "mutating": True,
        "identity": "deploy",
        "status": 3,
    }


def test_audit_command_is_cut_at_200_characters(
    host: HostHandle, client_key: asyncssh.SSHKey, audit_path: Path
) -> None:
    ssh(host, client_key, "true # " + "x" * 300)
    assert len(json.loads(audit_path.read_text())["command"]) == 200


# -- uname, nvidia-smi, sudo, paths -----------------------------------------------------------------


def test_nvidia_smi_lists_one_gb10(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    result = ssh(host, client_key, "nvidia-smi -L")
    assert result.stdout == "GPU 0: NVIDIA GB10 (UUID: GPU-sandbox)\n"


def test_nvidia_smi_memory_fields_are_not_available(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    result = ssh(host, client_key, "nvidia-smi --query-gpu=name,memory.total --format=csv,noheader")
    assert result.stdout == "NVIDIA GB10, [N/A]\n"


def test_sudo_runs_the_command_with_a_reset_environment(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    result = ssh(host, client_key, "export FOO=bar; sudo bash -c 'echo \"${FOO:-unset} $USER $SUDO_USER\"'")
    assert result.stdout == "unset root ubuntu\n"


def test_install_mkdir_rm_under_etc_land_in_the_host_root(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    real_before = Path("/etc/sovereign-ai").exists()
    command = (
        'sudo install -d -m 700 /etc/sovereign-ai && echo secret > "$TMPDIR/f" && '
        'sudo install -m 600 "$TMPDIR/f" /etc/sovereign-ai/x.env && sudo mkdir -p /var/lib/sovereign-ai/hf'
    )
    assert ssh(host, client_key, command).exit_status == 0
    env_file = host.root / "etc" / "sovereign-ai" / "x.env"
    assert (env_file.read_text(), env_file.stat().st_mode & 0o777) == ("secret\n", 0o600)
    assert (host.root / "etc" / "sovereign-ai").stat().st_mode & 0o777 == 0o700
    assert (host.root / "var" / "lib" / "sovereign-ai" / "hf").is_dir()
    assert ssh(host, client_key, "sudo rm -f /etc/sovereign-ai/x.env").exit_status == 0
    assert not env_file.exists()
    assert Path("/etc/sovereign-ai").exists() == real_before


def test_writes_under_etc_without_sudo_are_denied(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    result = ssh(host, client_key, "mkdir -p /etc/sovereign-ai")
    assert (result.exit_status, result.stderr) == (
        1,
        "mkdir: cannot create directory '/etc/sovereign-ai': Permission denied\n",
    )


def test_shims_record_their_argv(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    ssh(host, client_key, "sudo uname -m")
    assert shim_calls(host.paths) == [
        {"shim": "sudo", "argv": ["uname", "-m"], "sudo": False},
        {"shim": "uname", "argv": ["-m"], "sudo": True},
    ]


# -- docker ---------------------------------------------------------------------------------------


def test_docker_info_lists_the_nvidia_runtime(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    result = ssh(host, client_key, "sudo docker info --format '{{json .Runtimes}}'")
    assert "nvidia" in json.loads(result.stdout)


def test_docker_run_starts_the_fake_vllm_on_its_host_and_port(
    host: HostHandle, client_key: asyncssh.SSHKey, vllm_address: str
) -> None:
    port = free_port(vllm_address)
    result = succeeded(docker_run(host, client_key, "vllm-test", vllm_address, port))
    assert len(result.stdout.strip()) == 64
    wait_healthy(f"http://{vllm_address}:{port}")
    status, body = http(f"http://{vllm_address}:{port}/v1/models")
    assert (status, json.loads(body)["data"][0]["id"]) == (200, MODEL)
    assert refused("127.0.0.1", port), "the fake vLLM must bind only the --host address"


def test_docker_inspect_status_is_running(
    host: HostHandle, client_key: asyncssh.SSHKey, vllm_address: str
) -> None:
    docker_run(host, client_key, "vllm-test", vllm_address, free_port(vllm_address))
    result = ssh(host, client_key, "sudo docker inspect -f '{{.State.Status}}' vllm-test")
    assert (result.exit_status, result.stdout) == (0, "running\n")


def test_docker_rm_f_stops_the_process_and_frees_the_port(
    host: HostHandle, client_key: asyncssh.SSHKey, vllm_address: str
) -> None:
    port = start_vllm(host, client_key, vllm_address)
    pid = containers(host)["vllm-test"]["pid"]
    result = ssh(host, client_key, "sudo docker rm -f vllm-test")
    assert (result.exit_status, result.stdout) == (0, "vllm-test\n")
    assert refused(vllm_address, port)
    assert not is_alive(pid, None)
    assert containers(host) == {}


def test_docker_inspect_of_a_missing_container_is_1_no_such_object(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    result = ssh(host, client_key, "sudo docker inspect -f '{{.State.Status}}' nope")
    assert (result.exit_status, result.stdout, result.stderr) == (1, "", "Error: No such object: nope\n")


def test_docker_rm_f_of_a_missing_container_is_0_with_a_message(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    result = ssh(host, client_key, "sudo docker rm -f nope")
    assert (result.exit_status, result.stderr) == (0, "Error response from daemon: No such container: nope\n")


def test_docker_rm_of_a_running_container_needs_force(
    host: HostHandle, client_key: asyncssh.SSHKey, vllm_address: str
) -> None:
    docker_run(host, client_key, "vllm-test", vllm_address, free_port(vllm_address))
    result = ssh(host, client_key, "sudo docker rm vllm-test")
    assert result.exit_status == 1 and "container is running" in result.stderr


def test_docker_run_with_a_taken_name_is_125(
    host: HostHandle, client_key: asyncssh.SSHKey, vllm_address: str
) -> None:
    docker_run(host, client_key, "vllm-test", vllm_address, free_port(vllm_address))
    result = docker_run(host, client_key, "vllm-test", vllm_address, free_port(vllm_address))
    assert result.exit_status == 125 and 'The container name "/vllm-test" is already in use' in result.stderr


def test_docker_logs_tail_shows_the_startup_lines(
    host: HostHandle, client_key: asyncssh.SSHKey, vllm_address: str
) -> None:
    start_vllm(host, client_key, vllm_address)
    everything = ssh(host, client_key, "sudo docker logs vllm-test").stdout.splitlines()
    assert "INFO:     Application startup complete." in everything
    assert ssh(host, client_key, "sudo docker logs --tail 2 vllm-test").stdout.splitlines() == everything[-2:]


def test_docker_env_file_key_guards_v1_and_never_reaches_argv(
    host: HostHandle, client_key: asyncssh.SSHKey, vllm_address: str
) -> None:
    api_key = "sk-env-file-only"
    command = 'sudo install -d -m 700 /etc/sovereign-ai && cat > "$TMPDIR/e" && sudo install -m 600 "$TMPDIR/e" /etc/sovereign-ai/v.env'
    ssh(host, client_key, command, input=f"HF_TOKEN=hf_x\nVLLM_API_KEY={api_key}\n")
    port = start_vllm(host, client_key, vllm_address, extra="--env-file /etc/sovereign-ai/v.env")
    assert http(f"http://{vllm_address}:{port}/v1/models")[0] == 401
    assert http(f"http://{vllm_address}:{port}/v1/models", key=api_key)[0] == 200
    pid = containers(host)["vllm-test"]["pid"]
    assert api_key.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_docker_container_that_exits_reports_restarting_under_its_restart_policy(
    host: HostHandle, client_key: asyncssh.SSHKey, vllm_address: str
) -> None:
    with socket.socket() as taken:
        taken.bind((vllm_address, 0))
        docker_run(host, client_key, "vllm-test", vllm_address, taken.getsockname()[1])
        deadline = time.monotonic() + 10
        while (
            state := ssh(host, client_key, "docker inspect -f '{{.State.Status}}' vllm-test").stdout
        ) == "running\n":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert state == "restarting\n"
    assert "Address already in use" in ssh(host, client_key, "docker logs vllm-test").stdout


def test_stop_ends_container_processes(
    tmp_path: Path, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    handle = start_host(tmp_path / "s", [client_key.export_public_key().decode()], control.url)
    try:
        address = f"127.100.{control.subnet}.201"
        port = start_vllm(handle, client_key, address)
        record = containers(handle)["vllm-test"]
    finally:
        handle.stop()
    assert not is_alive(record["pid"], record["start_time"])
    assert refused(address, port)


# -- tailscale ------------------------------------------------------------------------------------


def test_tailscale_up_with_a_key_file_from_stdin_consumes_the_key(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    secret = control.add_key()
    succeeded(join(host, client_key, secret))
    assert (control.joins, control.keys[secret].uses) == (
        [{"authKey": secret, "hostname": "spark", "tags": ["tag:spark"]}],
        1,
    )


def test_tailscale_up_key_never_appears_in_argv(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    secret = control.add_key()
    join(host, client_key, secret)
    recorded = json.dumps(shim_calls(host.paths))
    assert "--auth-key=file:" in recorded
    assert secret not in recorded


def test_tailscale_status_json_is_running_with_tags_after_up(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    join(host, client_key, control.add_key())
    status = json.loads(ssh(host, client_key, "tailscale status --json").stdout)
    assert status["BackendState"] == "Running"
    me = status["Self"]
    assert (me["HostName"], me["DNSName"], me["Tags"]) == ("spark", "spark.sandbox.ts.net.", ["tag:spark"])
    assert me["TailscaleIPs"] == status["TailscaleIPs"] == [control.devices[0]["addresses"][0]]


def test_tailscale_status_json_indents_like_the_go_cli(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    join(host, client_key, control.add_key())
    assert '\n  "BackendState": "Running",\n' in ssh(host, client_key, "tailscale status --json").stdout


def test_tailscale_status_json_needs_login_before_up(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    status = json.loads(ssh(host, client_key, "tailscale status --json").stdout)
    assert (status["BackendState"], status["TailscaleIPs"]) == ("NeedsLogin", None)


def test_tailscale_ip_4_is_an_address_in_127_100(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    join(host, client_key, control.add_key())
    address = ssh(host, client_key, "tailscale ip -4").stdout.strip()
    assert ipaddress.ip_address(address) in ipaddress.ip_network("127.100.0.0/16")


def test_tailscale_ip_before_up_fails(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    result = ssh(host, client_key, "tailscale ip -4")
    assert (result.exit_status, result.stderr) == (1, "no current Tailscale IPs; state: NeedsLogin\n")


def test_tailscale_second_up_with_a_used_key_fails_clearly(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    secret = control.add_key()
    join(host, client_key, secret)
    ssh(host, client_key, "sudo tailscale logout")
    result = join(host, client_key, secret)
    key_id = control.keys[secret].id
    assert (result.exit_status, result.stderr) == (
        1,
        f"backend error: invalid key: API key {key_id} not valid\n",
    )


def test_tailscale_up_when_running_with_the_same_tags_does_not_use_the_key(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    join(host, client_key, control.add_key())
    result = join(host, client_key, control.add_key())
    assert result.exit_status == 0 and len(control.joins) == 1


def test_tailscale_up_with_tags_the_key_lacks_is_refused(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    result = join(host, client_key, control.add_key(), tags="tag:other")
    assert (result.exit_status, result.stderr) == (
        1,
        "backend error: requested tags [tag:other] are invalid or not permitted\n",
    )


def test_tailscale_up_needs_sudo(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    result = ssh(host, client_key, f"tailscale up --auth-key={control.add_key()}")
    assert result.exit_status == 1 and result.stderr.startswith("Access denied: prefs write access denied")
    assert control.joins == []


def test_tailscale_up_without_a_key_prints_the_login_url_and_fails(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    result = ssh(host, client_key, "sudo tailscale up --timeout=1s")
    assert result.exit_status == 1 and "To authenticate, visit:" in result.stderr


def test_tailscale_version_first_line_is_the_version(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    assert ssh(host, client_key, "tailscale version | head -n 1").stdout == "1.84.0-sandbox\n"


def test_tailnet_address_is_bindable_by_the_fake_vllm(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    join(host, client_key, control.add_key())
    address = ssh(host, client_key, "tailscale ip -4").stdout.strip()
    start_vllm(host, client_key, address)


# -- ufw, systemctl -------------------------------------------------------------------------------


def test_ufw_records_defaults_rules_and_enable(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    result = ssh(
        host, client_key, "sudo ufw default deny incoming && sudo ufw allow 22/tcp && sudo ufw --force enable"
    )
    assert result.exit_status == 0
    assert read_json(host.paths.ufw, {}) == {
        "enabled": True,
        "defaults": {"incoming": "deny", "outgoing": "allow", "routed": "disabled"},
        "rules": ["allow 22/tcp"],
    }


def test_ufw_enable_without_force_aborts_without_a_yes(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    result = ssh(host, client_key, "sudo ufw enable", input="")
    assert result.exit_status == 1 and result.stdout.endswith("Aborted\n")


def test_ufw_needs_root(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    result = ssh(host, client_key, "ufw allow 22/tcp")
    assert (result.exit_status, result.stderr) == (1, "ERROR: You need to be root to run this script\n")


def test_systemctl_records_enable_now(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    ssh(host, client_key, "sudo systemctl disable --now tailscaled")
    result = ssh(host, client_key, "sudo systemctl enable --now tailscaled && systemctl is-active tailscaled")
    assert (result.exit_status, result.stdout) == (0, "active\n")
    assert read_json(host.paths.systemctl, {})["units"]["tailscaled"] == {"enabled": True, "active": True}
