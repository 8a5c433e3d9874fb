"""`python -m sandbox up|down|status`: the emulated Tailscale API, Aperture and GB10 host, together.

`up` starts one background process (`python -m sandbox serve`) that runs every emulator on
loopback, each empty (the emulated hosts' files from an earlier run are discarded too), waits until
it has written `<state>/endpoints.json`, and prints the endpoints. `down` stops it (SIGTERM, then
SIGKILL after 10 s), which stops every fake vLLM container with it, and checks that no endpoint
still accepts connections. `status` says whether it runs.

Files under the state directory (default `.sandbox/`, git-ignored):
- `endpoints.json`: where everything listens, the deploy key and the host key to pin;
- `audit.jsonl`: one line per API request or remote command (service, method or command, path,
  mutating, identity, status), which tests and benchmarks count;
- `sandbox.pid`, `sandbox.log`: the background process and its output;
- `id_ed25519` (+ `.pub`): the SSH key the deploy uses (generated per run, 0600);
- `faults.json`: fault switches a test (or a person) sets while the sandbox runs, read on every
  request (sandbox/faults.py lists them); removed when the sandbox starts;
- `features.json`: the emulated tailnet's features, read on every request (sandbox/features.py):
  `visibleGroups` (Aperture's visible groups) is off, as on a new tailnet, unless `up` is given
  `--visible-groups`.

Hosts: `--hosts K` runs K emulated GB10 hosts (default 1), named `spark`, `spark-2`, ... `spark-K`,
each with its own SSH port, files and containers, all joining the one emulated tailnet (each gets its
own address) and writing the one audit log. Each host also has a link interface (`enp1s0f1np1`, the
QSFP port between Sparks) at `127.101.<block>.<i>` for host i (`link_address`), listed in
endpoints.json as `hosts[i].link = {"interface", "address"}`.
`--vllm-startup-seconds S` is how long every fake vLLM container takes to load its model (its port
refuses connections until then, as vLLM's does; default 0, a real Spark takes 10-15 minutes for a first load, docs/architecture.md §10.4); it can be changed
while the sandbox runs through `hosts/<name>/state/settings.json` (`SandboxStack.set_vllm_startup`).

Ports: `--port-base N` uses N (Tailscale API), N+1 (Aperture) and N+2 (the first host's SSH; host i
of K: N+1+i), as `Pulumi.sandbox.yaml` expects for N = 47800 (`make sandbox-up`); base 0 lets the OS
choose all. The
emulated tailnet is 127.100.0.0/16 (see sandbox/tailscale/devices.py); each running sandbox hands out
addresses from a /24 of its own (`sandbox/address_block.py`: `make sandbox-up` gets 127.100.0.x), so
two sandboxes never bind the same fake vLLM address. The gateway's tailnet identity is `tag:aperture`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from sandbox import address_block, faults, features
from sandbox.aperture.app import serve as serve_aperture
from sandbox.host.server import start_host
from sandbox.reachability import VisibleGroups, gateway_reachability
from sandbox.tailscale.app import serve as serve_tailscale

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE = ROOT / ".sandbox"
GATEWAY_IDENTITY = "tag:aperture"
"""The gateway's identity in the emulated tailnet (the default `tailnet.gatewayTag`)."""

ADMIN_IDENTITY = "admin@example.com"
"""Identity of requests to the emulated Aperture that state none (the deploy, an admin)."""

READY_TIMEOUT_SECONDS = 30.0

FIRST_HOST = "spark"
"""The first emulated host's name; host i (from 2) is `spark-<i>`."""


def host_names(count: int) -> list[str]:
    """`spark`, `spark-2`, ..., `spark-<count>`."""
    return [FIRST_HOST] + [f"{FIRST_HOST}-{i}" for i in range(2, count + 1)]


def link_address(block: int, index: int) -> str:
    """Host `index`'s link interface address: `127.101.<block>.<index + 1>`.

    `block` is the sandbox's own address block (`sandbox/address_block.py`), so two sandboxes running
    at once never give two hosts the same link address (the fake Ray binds `<address>:6379` there).
    """
    return f"127.101.{block}.{index + 1}"


@dataclass(frozen=True)
class Paths:
    """The files of one sandbox state directory: `Paths.of(state)`."""

    state: Path
    endpoints: Path
    audit: Path
    pid: Path
    log: Path
    key: Path

    @classmethod
    def of(cls, state: Path) -> Paths:
        """`endpoints.json`, `audit.jsonl`, `sandbox.pid`, `sandbox.log`, `id_ed25519` under `state`."""
        names = ("endpoints.json", "audit.jsonl", "sandbox.pid", "sandbox.log", "id_ed25519")
        return cls(state, *(state / name for name in names))


def deploy_key(paths: Paths) -> str:
    """The deploy's SSH key pair (created once per state dir); returns the public key line."""
    if not paths.key.exists():
        key = asyncssh.generate_private_key("ssh-ed25519", comment="sovereign-ai-sandbox")
        key.write_private_key(str(paths.key))
        paths.key.chmod(0o600)
        key.write_public_key(str(paths.key) + ".pub")
    return Path(str(paths.key) + ".pub").read_text().strip()


@dataclass(frozen=True)
class Options:
    """What a sandbox is started with (the flags of `python -m sandbox up`)."""

    port_base: int = 0
    """Tailscale API port (Aperture +1, hosts' SSH +2...); 0 lets the OS choose every port."""

    visible_groups: bool = False
    """The tailnet starts with Aperture's visible groups on (sandbox/features.py)."""

    hosts: int = 1
    """How many emulated GB10 hosts (`host_names`)."""

    vllm_startup_seconds: float = 0.0
    """How long each fake vLLM container takes to load its model."""

    def flags(self) -> list[str]:
        """These options as `python -m sandbox serve` flags."""
        return [
            "--port-base",
            str(self.port_base),
            *(["--visible-groups"] if self.visible_groups else []),
            *(["--hosts", str(self.hosts)] if self.hosts != 1 else []),
            *(
                ["--vllm-startup-seconds", str(self.vllm_startup_seconds)]
                if self.vllm_startup_seconds
                else []
            ),
        ]


def serve(state_dir: Path, options: Options = Options()) -> int:
    """Run every emulator in this process until SIGTERM/SIGINT; write endpoints.json when ready."""
    port_base, visible_groups = options.port_base, options.visible_groups
    paths = Paths.of(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    public_key = deploy_key(paths)
    faults_file = faults.faults_path(state_dir)
    faults_file.unlink(missing_ok=True)
    features_file = features.features_path(state_dir)
    features_file.unlink(missing_ok=True)
    features.set_feature(state_dir, features.VISIBLE_GROUPS, visible_groups)
    tailscale, _ = serve_tailscale(port=port_base, audit_path=paths.audit, faults_file=faults_file)
    # A /24 of the emulated tailnet of its own, so two sandboxes never share a fake vLLM's address;
    # `make sandbox-up` (fixed ports) asks for block 0, whose first address the docs show.
    block = address_block.claim(0 if port_base else 1)
    tailscale.state.first_address_index(address_block.first_address_index(block))
    aperture, _ = serve_aperture(
        port=port_base + 1 if port_base else 0,
        default_identity=ADMIN_IDENTITY,
        audit_path=paths.audit,
        reachable=gateway_reachability(tailscale.state, GATEWAY_IDENTITY),
        groups=VisibleGroups(
            tailscale.state,
            GATEWAY_IDENTITY,
            lambda: features.enabled(features_file, features.VISIBLE_GROUPS),
        ),
        faults_file=faults_file,
    )
    started = [
        start_host(
            state_dir,
            [public_key],
            tailscale.url,
            name=name,
            audit_path=paths.audit,
            vllm_startup_seconds=options.vllm_startup_seconds,
            port=port_base + 2 + index if port_base else 0,
            faults_file=faults_file,
            link_address=link_address(block, index),
        )
        for index, name in enumerate(host_names(options.hosts))
    ]
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    endpoints = {
        "pid": os.getpid(),
        "tailscale": {"baseUrl": tailscale.url, "apiKey": tailscale.state.api_key, "tailnet": "-"},
        "aperture": {"url": f"http://127.0.0.1:{aperture.server_address[1]}", "identity": ADMIN_IDENTITY},
        "hosts": [
            {
                "name": host.name,
                "address": host.address,
                "sshPort": host.port,
                "user": "ubuntu",
                "hostKey": host.host_key,
                "privateKeyPath": str(paths.key),
                "link": host.link,
            }
            for host in started
        ],
        "audit": str(paths.audit),
    }
    temporary = paths.endpoints.with_suffix(".tmp")
    temporary.write_text(json.dumps(endpoints, indent=2) + "\n")
    temporary.replace(paths.endpoints)
    print(f"sandbox: serving (pid {os.getpid()}); endpoints in {paths.endpoints}", flush=True)
    try:
        stop.wait()
    finally:
        print("sandbox: stopping", flush=True)
        for host in started:
            host.stop()
        aperture.stop()
        tailscale.stop()
        paths.endpoints.unlink(missing_ok=True)
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers signal 0; reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def read_pid(paths: Paths) -> int | None:
    try:
        pid = int(paths.pid.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def up(state_dir: Path, options: Options = Options()) -> int:
    """Start the sandbox in the background (`serve` with `options`); print the endpoints; fail with the log tail."""
    paths = Paths.of(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    running = read_pid(paths)
    if running is not None and paths.endpoints.exists():
        print(f"sandbox: already running (pid {running}); endpoints in {paths.endpoints}")
        return 0
    started = time.monotonic()
    print(
        f"==> sandbox up: Tailscale API, Aperture, {options.hosts} GB10 host(s) (SSH) on loopback ...",
        flush=True,
    )
    paths.endpoints.unlink(missing_ok=True)
    # The emulated Tailscale API and Aperture start empty, so the emulated hosts do too: a host that
    # still believed it had joined a tailnet that no longer knows it would never join again.
    shutil.rmtree(state_dir / "hosts", ignore_errors=True)
    with paths.log.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sandbox",
                "serve",
                "--state-dir",
                str(state_dir),
                *options.flags(),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    paths.pid.write_text(f"{process.pid}\n")
    while time.monotonic() - started < READY_TIMEOUT_SECONDS:
        if paths.endpoints.exists():
            endpoints = json.loads(paths.endpoints.read_text())
            print(f"    ok ({time.monotonic() - started:.1f}s) pid {process.pid}")
            print(describe(endpoints))
            print(describe_features(state_dir))
            return 0
        if process.poll() is not None:
            break
        time.sleep(0.1)
    print(f"    FAILED: the sandbox did not start; last lines of {paths.log}:", file=sys.stderr)
    print(_tail(paths.log), file=sys.stderr)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return 1


def describe(endpoints: dict[str, Any]) -> str:
    hosts = [
        f"    gb10 host      ssh {h['user']}@{h['address']} -p {h['sshPort']} -i {h['privateKeyPath']}"
        + (f"  ({h['name']})" if len(endpoints["hosts"]) > 1 else "")
        for h in endpoints["hosts"]
    ]
    return "\n".join(
        [
            f"    tailscale API  {endpoints['tailscale']['baseUrl']}  (api key {endpoints['tailscale']['apiKey']})",
            f"    aperture       {endpoints['aperture']['url']}",
            *hosts,
            f"    audit log      {endpoints['audit']}",
        ]
    )


def describe_features(state_dir: Path) -> str:
    """The tailnet feature line of `up` and `status`."""
    on = features.enabled(features.features_path(state_dir), features.VISIBLE_GROUPS)
    how = "" if on else " (on: `python -m sandbox up --visible-groups`, or see sandbox/features.py)"
    return f"    visible groups {'on' if on else 'off'}{how}"


def down(state_dir: Path) -> int:
    """Stop the sandbox and check that nothing it served still listens."""
    paths = Paths.of(state_dir)
    pid = read_pid(paths)
    endpoints = _endpoints(paths)
    if pid is None:
        print("sandbox: not running")
        paths.pid.unlink(missing_ok=True)
        return 0
    print(f"==> sandbox down (pid {pid}) ...", flush=True)
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    while _alive(pid) and time.monotonic() - started < 10:
        time.sleep(0.1)
    if _alive(pid):
        print("    still running after 10s: SIGKILL", file=sys.stderr)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    paths.pid.unlink(missing_ok=True)
    listening = [f"{h}:{p}" for h, p in _ports(endpoints) if _listening(h, p)]
    if listening:
        print(f"    FAILED: still listening: {', '.join(listening)}", file=sys.stderr)
        return 1
    print(f"    ok ({time.monotonic() - started:.1f}s): no process, no listening port left")
    return 0


def status(state_dir: Path) -> int:
    paths = Paths.of(state_dir)
    pid = read_pid(paths)
    endpoints = _endpoints(paths)
    if pid is None or endpoints is None:
        print("sandbox: not running (start it with `make sandbox-up`)")
        return 1
    print(f"sandbox: running (pid {pid})")
    print(describe(endpoints))
    print(describe_features(state_dir))
    return 0


def _endpoints(paths: Paths) -> dict[str, Any] | None:
    try:
        value = json.loads(paths.endpoints.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _ports(endpoints: dict[str, Any] | None) -> list[tuple[str, int]]:
    if not endpoints:
        return []
    found = []
    for url in (endpoints["tailscale"]["baseUrl"], endpoints["aperture"]["url"]):
        host, _, port = url.split("//", 1)[1].rpartition(":")
        found.append((host, int(port)))
    found += [(h["address"], int(h["sshPort"])) for h in endpoints["hosts"]]
    return found


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text().splitlines()[-lines:])
    except OSError:
        return "(no log)"
