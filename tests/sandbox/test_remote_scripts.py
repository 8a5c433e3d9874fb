"""The real components/scripts over SSH against the emulated GB10 host, composed exactly as host.py does.

Each command is `components.host.inference_host.script(name, **exports)` (leading `export` lines, then the script);
secrets go on stdin, as `remote.Command(stdin=...)` sends them. The control plane is the stand-in
(`testing.host`); the real one is the Tailscale API emulator in `sandbox/tailscale`.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncssh
import pytest

from components.host.host_state import observation
from components.host.inference_host import HF_CACHE, env_file_lines, script, vllm_command
from config.model import HostConfig
from sandbox.host import HostHandle, start_host
from sandbox.host.state import is_alive, locked_json, read_json, shim_calls
from testing.host import RemoteResult, StandInControl, free_port, run_remote, succeeded

TAGS = ["tag:spark"]
CONTAINER = "vllm-spark"
MODEL_ID = "sandbox/echo-model"
API_KEY = "sk-vllm-sandbox-key"
HF_TOKEN = "hf_sandbox_token"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


Result = RemoteResult


def ssh(host: HostHandle, key: asyncssh.SSHKey, command: str, stdin: str = "") -> Result:
    """One remote.Command: a fresh pinned SSH connection, `stdin` then EOF."""
    return run_remote(host.address, host.port, host.known_hosts, key, command, stdin)


def health(url: str) -> int | None:
    try:
        with _OPENER.open(url + "/health", timeout=2) as response:
            return int(response.status)
    except (urllib.error.URLError, ConnectionError):
        return None


def config(host: HostHandle, port: int = 8000) -> HostConfig:
    return HostConfig(
        name="spark",
        address=host.address,
        ssh_port=host.port,
        host_key=host.host_key,
        served_model_name=MODEL_ID,
        port=port,
        readiness_timeout_minutes=1,
    )


def join(host: HostHandle, key: asyncssh.SSHKey, secret: str) -> Result:
    cfg = config(host)
    command = script("join_tailnet.sh", TS_HOSTNAME=cfg.tailnet_hostname, TS_TAGS=",".join(TAGS))
    return ssh(host, key, command, stdin=secret)


def joined(host: HostHandle, key: asyncssh.SSHKey, control: StandInControl) -> str:
    """Join and return the tailnet IP (observe_host.sh read by HostState's parser)."""
    assert join(host, key, control.add_key()).exit_status == 0
    return observation(ssh(host, key, script("observe_host.sh", CONTAINER=CONTAINER)).stdout)["ip"]


def container_command(cfg: HostConfig, bind: str) -> str:
    return script(
        "vllm_container.sh",
        CONTAINER=CONTAINER,
        IMAGE=cfg.image,
        VLLM_COMMAND=" ".join(shlex.quote(w) for w in vllm_command(cfg, bind)),
        HF_CACHE=HF_CACHE,
    )


def ready_command(cfg: HostConfig, ip: str, timeout: int = 60) -> str:
    return script(
        "wait_ready.sh",
        BASE_URL=f"http://{ip}:{cfg.port}",
        MODEL_ID=cfg.model_id,
        CONTAINER=CONTAINER,
        TIMEOUT_SECONDS=timeout,
        POLL_SECONDS=1,
    )


@pytest.fixture
def deployed(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> tuple[HostConfig, str]:
    """A joined host with the vLLM container started on its tailnet IP (API key set)."""
    ip = joined(host, client_key, control)
    cfg = config(host, free_port(ip))
    result = ssh(host, client_key, container_command(cfg, ip), stdin=env_file_lines(HF_TOKEN, API_KEY))
    assert result.exit_status == 0, result.stderr
    return cfg, ip


# -- preflight, install ---------------------------------------------------------------------------


def test_preflight_passes(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    result = ssh(host, client_key, script("preflight.sh"))
    assert (result.exit_status, result.stderr) == (0, "")
    assert result.stdout == "preflight: ok (aarch64, GPU 0: NVIDIA GB10 (UUID: GPU-sandbox))\n"


def test_install_tailscale_finds_it_already_installed(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    result = ssh(host, client_key, script("install_tailscale.sh"))
    assert (result.exit_status, result.stdout) == (0, "tailscale: already installed (1.84.0-sandbox)\n")


# -- join -----------------------------------------------------------------------------------------


def test_join_consumes_the_key_sent_on_stdin(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    secret = control.add_key()
    result = succeeded(join(host, client_key, secret))
    assert control.joins == [{"authKey": secret, "hostname": "spark", "tags": TAGS}]
    assert result.stdout == f"join: joined as spark ({control.devices[0]['addresses'][0]})\n"


def test_join_key_never_appears_in_argv_or_the_audit(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl, audit_path: Path
) -> None:
    secret = control.add_key()
    join(host, client_key, secret)
    calls = shim_calls(host.paths)
    up = [c for c in calls if c["shim"] == "tailscale" and c["argv"][:1] == ["up"]]
    assert len(up) == 1 and any(a.startswith("--auth-key=file:") for a in up[0]["argv"])
    assert secret not in json.dumps(calls)
    assert secret not in audit_path.read_text()


def test_join_without_a_key_fails_at_once_instead_of_waiting_for_a_login(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    result = ssh(host, client_key, script("join_tailnet.sh", TS_HOSTNAME="spark", TS_TAGS=",".join(TAGS)))
    assert result.exit_status == 1
    assert result.stderr == (
        "join: no auth key on stdin, and not yet in the tailnet; the stack passes the host's TailnetKey here\n"
    )
    assert control.joins == []


def test_join_removes_its_key_file(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    join(host, client_key, control.add_key())
    assert list((host.root / "tmp").iterdir()) == []


def test_join_rerun_says_already_in_the_tailnet_and_keeps_the_new_key(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    join(host, client_key, control.add_key())
    unused = control.add_key()
    result = join(host, client_key, unused)
    assert (result.exit_status, result.stdout) == (
        0,
        "join: already in the tailnet with tags tag:spark; key not used\n",
    )
    assert control.keys[unused].uses == 0 and len(control.joins) == 1


def test_join_rejoins_when_only_a_peer_carries_the_tags(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    """The tag check reads this node's tags, not a peer's (status --json --peers=false)."""
    old_key = control.add_key(tags=("tag:old", "tag:spark"))
    old = ssh(
        host, client_key, script("join_tailnet.sh", TS_HOSTNAME="spark", TS_TAGS="tag:old"), stdin=old_key
    )
    assert old.exit_status == 0
    with locked_json(host.paths.tailscale, {}) as state:
        peer = {
            "addresses": ["127.100.9.9"],
            "name": "other.sandbox.ts.net",
            "hostname": "other",
            "tags": TAGS,
        }
        state["peers"] = [peer]
    result = join(host, client_key, control.add_key())
    assert result.exit_status == 0, result.stderr
    assert result.stdout.startswith("join: running but missing tags: tag:spark; re-joining\n")
    assert len(control.joins) == 2


def test_join_with_a_used_key_fails_with_the_backend_error(
    tmp_path: Path, host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    secret = control.add_key()
    join(host, client_key, secret)
    other = start_host(
        tmp_path / "other", [client_key.export_public_key().decode()], control.url, name="spark2"
    )
    try:
        result = join(other, client_key, secret)
    finally:
        other.stop()
    assert result.exit_status == 1
    assert result.stderr == f"backend error: invalid key: API key {control.keys[secret].id} not valid\n"


# -- address, firewall ----------------------------------------------------------------------------


def test_observe_host_prints_address_and_a_missing_container(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    join(host, client_key, control.add_key())
    result = ssh(host, client_key, script("observe_host.sh", CONTAINER=CONTAINER))
    ip = control.devices[0]["addresses"][0]
    assert json.loads(result.stdout) == {
        "ip": ip,
        "dnsName": "spark.sandbox.ts.net",
        "container": "missing",
        "cmd": [],
    }
    assert observation(result.stdout) == {
        "ip": ip,
        "dnsName": "spark.sandbox.ts.net",
        "container": "missing",
        "model": "",
    }


def test_observe_host_sees_the_container_state_and_its_model(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    ip = joined(host, client_key, control)
    cfg = config(host)
    assert ssh(host, client_key, container_command(cfg, ip), stdin="").exit_status == 0
    seen = observation(ssh(host, client_key, script("observe_host.sh", CONTAINER=CONTAINER)).stdout)
    assert (seen["container"], seen["model"], seen["ip"]) == ("running", cfg.model_id, ip)
    assert ssh(host, client_key, f"sudo docker stop {CONTAINER}").exit_status == 0
    stopped = observation(ssh(host, client_key, script("observe_host.sh", CONTAINER=CONTAINER)).stdout)
    assert stopped["container"] == "exited"


def test_firewall_denies_incoming_except_ssh(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    result = ssh(host, client_key, script("firewall.sh", SSH_PORT=config(host).ssh_port))
    assert result.exit_status == 0, result.stderr
    assert read_json(host.paths.ufw, {}) == {
        "enabled": True,
        "defaults": {"incoming": "deny", "outgoing": "allow", "routed": "disabled"},
        "rules": [f"allow {host.port}/tcp"],
    }


def test_firewall_rerun_is_idempotent(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    command = script("firewall.sh", SSH_PORT=22)
    ssh(host, client_key, command)
    assert ssh(host, client_key, command).exit_status == 0
    assert read_json(host.paths.ufw, {})["rules"] == ["allow 22/tcp"]


# -- vLLM container -------------------------------------------------------------------------------


def test_vllm_container_starts_bound_to_the_tailnet_ip(
    host: HostHandle, client_key: asyncssh.SSHKey, deployed: tuple[HostConfig, str]
) -> None:
    cfg, ip = deployed
    container = read_json(host.paths.docker, {})["containers"][CONTAINER]
    assert container["args"] == vllm_command(cfg, ip)
    assert container["image"] == cfg.image and container["network"] == "host"
    deadline = time.monotonic() + 15
    while health(f"http://{ip}:{cfg.port}") != 200:
        assert time.monotonic() < deadline, "the container's vLLM never answered /health"
        time.sleep(0.1)
    assert health(f"http://127.0.0.1:{cfg.port}") is None


def test_vllm_container_env_file_lands_0600_in_the_sandbox_root(
    host: HostHandle, deployed: tuple[HostConfig, str]
) -> None:
    env_file = host.root / "etc" / "sovereign-ai" / f"{CONTAINER}.env"
    assert env_file.read_text() == env_file_lines(HF_TOKEN, API_KEY)
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert (host.root / HF_CACHE.lstrip("/")).is_dir()


def test_vllm_container_secrets_stay_out_of_argv_and_audit(
    host: HostHandle, deployed: tuple[HostConfig, str], audit_path: Path
) -> None:
    pid = read_json(host.paths.docker, {})["containers"][CONTAINER]["pid"]
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    recorded = json.dumps(shim_calls(host.paths)) + audit_path.read_text()
    for secret in (API_KEY, HF_TOKEN):
        assert secret.encode() not in cmdline and secret not in recorded


def test_vllm_container_rerun_replaces_the_container(
    host: HostHandle, client_key: asyncssh.SSHKey, deployed: tuple[HostConfig, str]
) -> None:
    cfg, ip = deployed
    first = read_json(host.paths.docker, {})["containers"][CONTAINER]
    result = ssh(host, client_key, container_command(cfg, ip), stdin=env_file_lines(HF_TOKEN, API_KEY))
    assert result.exit_status == 0, result.stderr
    second = read_json(host.paths.docker, {})["containers"][CONTAINER]
    assert second["id"] != first["id"]
    assert not is_alive(first["pid"], first["start_time"])


# -- readiness ------------------------------------------------------------------------------------


def test_wait_ready_reports_progress_while_vllm_loads(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    ip = joined(host, client_key, control)
    cfg = config(host, free_port(ip))
    host.set_vllm_startup_seconds(2.5)
    ssh(host, client_key, container_command(cfg, ip), stdin=env_file_lines(None, API_KEY))
    result = ssh(host, client_key, ready_command(cfg, ip), stdin=API_KEY)
    assert result.exit_status == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(
        rf"ready: waiting for http://{ip}:{cfg.port}/health \(\d+s of 60s, container running\)", lines[0]
    )
    assert lines[-2].startswith("ready: /health ok after ")
    assert lines[-1] == f"ready: serving {MODEL_ID}"


def test_wait_ready_checks_models_with_the_api_key_from_stdin(
    host: HostHandle, client_key: asyncssh.SSHKey, deployed: tuple[HostConfig, str]
) -> None:
    cfg, ip = deployed
    without = ssh(host, client_key, ready_command(cfg, ip))
    assert without.exit_status != 0 and "401" in without.stderr
    result = ssh(host, client_key, ready_command(cfg, ip), stdin=API_KEY)
    assert (result.exit_status, result.stdout.splitlines()[-1]) == (0, f"ready: serving {MODEL_ID}")


def test_wait_ready_fails_when_the_model_is_not_served(
    host: HostHandle, client_key: asyncssh.SSHKey, deployed: tuple[HostConfig, str]
) -> None:
    cfg, ip = deployed
    command = ready_command(cfg, ip).replace(
        f"export MODEL_ID={shlex.quote(MODEL_ID)}", "export MODEL_ID=other"
    )
    result = ssh(host, client_key, command, stdin=API_KEY)
    assert result.exit_status == 1 and "ready: /v1/models does not list other" in result.stderr


def test_wait_ready_fails_with_the_log_tail_when_the_container_exited(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    ip = joined(host, client_key, control)
    with socket.socket() as taken:
        taken.bind((ip, 0))
        cfg = config(host, taken.getsockname()[1])
        ssh(host, client_key, container_command(cfg, ip), stdin=env_file_lines(None, API_KEY))
        started = time.monotonic()
        result = ssh(host, client_key, ready_command(cfg, ip, timeout=30), stdin=API_KEY)
    assert result.exit_status == 1
    assert time.monotonic() - started < 15, "a crashed container must fail fast, not wait for the timeout"
    assert f"ready: container {CONTAINER} is restarting; last log lines:" in result.stderr
    assert "Address already in use" in result.stderr
    assert f"ready: stopped {CONTAINER}; fix the cause above" in result.stderr
    container = read_json(host.paths.docker, {})["containers"][CONTAINER]
    assert container["status"] == "exited", (
        "a crashed container must be stopped (it holds GPU memory), not kept"
    )


def test_wait_ready_starts_a_container_an_earlier_check_stopped(
    host: HostHandle, client_key: asyncssh.SSHKey, deployed: tuple[HostConfig, str]
) -> None:
    cfg, ip = deployed
    stopped = ssh(host, client_key, f"sudo docker stop {CONTAINER}")
    assert stopped.exit_status == 0 and health(f"http://{ip}:{cfg.port}") is None
    result = ssh(host, client_key, ready_command(cfg, ip), stdin=API_KEY)
    assert result.exit_status == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"ready: container {CONTAINER} is stopped; starting it again"
    assert health(f"http://{ip}:{cfg.port}") == 200


def test_wait_ready_fails_when_the_container_is_missing(
    host: HostHandle, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    ip = joined(host, client_key, control)
    result = ssh(host, client_key, ready_command(config(host, free_port(ip)), ip))
    assert result.exit_status == 1
    assert result.stderr.startswith(f"ready: container {CONTAINER} is missing; last log lines:")


# -- removal --------------------------------------------------------------------------------------


def test_vllm_remove_stops_the_container_and_deletes_the_env_file(
    host: HostHandle, client_key: asyncssh.SSHKey, deployed: tuple[HostConfig, str]
) -> None:
    cfg, ip = deployed
    pid = read_json(host.paths.docker, {})["containers"][CONTAINER]["pid"]
    result = ssh(host, client_key, script("vllm_remove.sh", CONTAINER=CONTAINER))
    assert (result.exit_status, result.stdout) == (0, f"vllm: container {CONTAINER} removed\n")
    assert read_json(host.paths.docker, {})["containers"] == {}
    assert not (host.root / "etc" / "sovereign-ai" / f"{CONTAINER}.env").exists()
    assert not is_alive(pid, None)
    assert health(f"http://{ip}:{cfg.port}") is None


def test_vllm_remove_rerun_is_idempotent(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    result = ssh(host, client_key, script("vllm_remove.sh", CONTAINER=CONTAINER))
    assert (result.exit_status, result.stdout) == (0, f"vllm: container {CONTAINER} removed\n")


# -- against the real Tailscale API emulator (sandbox/tailscale) ------------------------------------


@pytest.fixture
def tailscale_api() -> Iterator[tuple[str, Callable[[], str]]]:
    """The Tailscale API emulator with tag:spark owned by admins; yields its URL and a key maker."""
    import sandbox.tailscale as emulator

    server, _thread = emulator.serve()
    state = server.state
    state.set_policy(
        '{"tagOwners": {"tag:spark": ["autogroup:admin"]}, "grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"]}]}'
    )
    identity = state.authenticate("Bearer " + emulator.DEFAULT_API_KEY)
    assert identity is not None

    def new_key() -> str:
        body = {"capabilities": {"devices": {"create": {"tags": TAGS, "preauthorized": True}}}}
        return str(state.create_key(identity, body)["key"])

    yield server.url, new_key
    server.shutdown()
    server.server_close()


def test_join_through_the_tailscale_api_emulator(
    tmp_path: Path, client_key: asyncssh.SSHKey, tailscale_api: tuple[str, Callable[[], str]]
) -> None:
    url, new_key = tailscale_api
    secret = new_key()
    public = [client_key.export_public_key().decode()]
    first, second = (start_host(tmp_path / n, public, url, name=n) for n in ("spark", "spark2"))
    try:
        joined_first = join(first, client_key, secret)
        address = observation(ssh(first, client_key, script("observe_host.sh", CONTAINER=CONTAINER)).stdout)
        reused = join(second, client_key, secret)
    finally:
        first.stop()
        second.stop()
    assert joined_first.exit_status == 0, joined_first.stderr
    assert ipaddress.ip_address(address["ip"]) in ipaddress.ip_network("127.100.0.0/16")
    assert address["dnsName"] == "spark.sandbox.ts.net"
    assert reused.exit_status == 1
    assert re.fullmatch(r"backend error: invalid key: API key \S+ not valid\n", reused.stderr), reused.stderr
