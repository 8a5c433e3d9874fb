"""On-disk state of one emulated GB10 host: its directory layout, the shims' JSON records, containers.

Layout under `<state_dir>/hosts/<name>/` (`HostPaths`):

| Path | What |
|---|---|
| `ssh_host_ed25519_key`, `.pub` | the host key, generated per run |
| `known_hosts` | `[127.0.0.1]:<port> ssh-ed25519 AAAA...`, written once the port is known |
| `root/` | the host's filesystem for what the shims write (`root/etc/sovereign-ai`, `root/var/lib/sovereign-ai`, `root/home/<user>`, `root/tmp`) |
| `state/docker.json` | images pulled and containers (name, image, args, env, pid, status) |
| `state/tailscale.json` | backend state, the joined device, prefs, sandbox-only peers |
| `state/ufw.json`, `state/systemctl.json` | firewall rules and unit states the shims recorded |
| `state/shim_calls.jsonl` | every shim invocation: `{"shim", "argv", "sudo"}`, one JSON line each |
| `state/connections.jsonl` | every SSH connection the server saw: `{"peer", "refused"}`, one JSON line each |
| `state/settings.json` | sandbox knobs (`vllm_startup_seconds`) the docker shim reads |
| `state/containers/<name>.log`, `.exit` | a container's output (`docker logs`) and its process' exit code |
| `state/containers/<name>.d/root/` | the container's own filesystem root (its cwd; `root/root` is HOME, `root/tmp/ray/ray_current_cluster` the Ray address), removed by `docker rm` |

Shims run in other processes than the SSH server, so every read-modify-write of a JSON file takes an
exclusive `flock` on a sibling `.lock` file (`locked_json`). Files holding container environments are
0600, like the env file they came from.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REMAPPED_PREFIXES = ("/etc/sovereign-ai", "/var/lib/sovereign-ai")
"""Absolute host paths the `install`, `mkdir`, `rm` and `docker` shims redirect under `SANDBOX_ROOT`."""

CONTAINER_ID_ENV = "SANDBOX_CONTAINER_ID"
"""SANDBOX ONLY: set in every container process' environment; `/proc/<pid>/environ` carrying it marks
the process as one of that container's (how `pkill`/`pgrep` in a container and `docker stop` find them,
the way a PID namespace would scope them)."""

LINK_INTERFACE = "enp1s0f1np1"
"""The QSFP link interface between two Sparks (NVIDIA's dgx-spark-playbooks name); see `ip` (tools/ip.py)."""

RESTARTING_POLICIES = ("always", "unless-stopped")
"""Restart policies under which Docker relaunches an exited container (so it shows `restarting`)."""


@dataclass(frozen=True)
class HostPaths:
    """Where one emulated host keeps its key, filesystem root and records."""

    directory: Path
    """`<state_dir>/hosts/<name>`."""

    @property
    def root(self) -> Path:
        """The host's filesystem root for anything the shims write."""
        return self.directory / "root"

    @property
    def state(self) -> Path:
        """The shims' records."""
        return self.directory / "state"

    @property
    def host_key(self) -> Path:
        """The per-run ed25519 host private key (0600)."""
        return self.directory / "ssh_host_ed25519_key"

    @property
    def known_hosts(self) -> Path:
        """A `known_hosts` file pinning the host key at `[127.0.0.1]:<port>`."""
        return self.directory / "known_hosts"

    @property
    def docker(self) -> Path:
        """Images and containers."""
        return self.state / "docker.json"

    @property
    def tailscale(self) -> Path:
        """The emulated tailscaled's state."""
        return self.state / "tailscale.json"

    @property
    def ufw(self) -> Path:
        """Firewall defaults, rules and whether it is enabled."""
        return self.state / "ufw.json"

    @property
    def systemctl(self) -> Path:
        """Unit states (enabled, active)."""
        return self.state / "systemctl.json"

    @property
    def shim_calls(self) -> Path:
        """One JSON line per shim invocation (`shim`, `argv`, `sudo`)."""
        return self.state / "shim_calls.jsonl"

    @property
    def connections(self) -> Path:
        """One JSON line per SSH connection the server saw (`peer`, `refused`)."""
        return self.state / "connections.jsonl"

    @property
    def settings(self) -> Path:
        """Sandbox knobs the shims read (`vllm_startup_seconds`)."""
        return self.state / "settings.json"

    @property
    def logs(self) -> Path:
        """Container logs and exit files."""
        return self.state / "containers"

    def container_dir(self, name: str) -> Path:
        """SANDBOX ONLY: a container's private directory (`root/` is its filesystem root)."""
        return self.logs / f"{name}.d"

    def container_root(self, name: str) -> Path:
        """A container's filesystem root: its working directory; `/root` and `/tmp` live below it."""
        return self.container_dir(name) / "root"

    def create(self, users: tuple[str, ...] = ()) -> None:
        """Make the directory tree (idempotent), with a home for each SSH user."""
        for path in (
            self.state,
            self.logs,
            self.root / "etc",
            self.root / "var" / "lib",
            self.root / "root",
            self.root / "tmp",
            *(self.root / "home" / user for user in users),
        ):
            path.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_env(cls) -> HostPaths:
        """The host the current shim runs on (`SANDBOX_HOST_DIR`, set by the SSH server)."""
        directory = os.environ.get("SANDBOX_HOST_DIR")
        if not directory:
            raise RuntimeError("SANDBOX_HOST_DIR is not set: shims only run inside the sandbox SSH server")
        return cls(Path(directory))

    def remap(self, path: str) -> str:
        """`path` under `root` when it is below one of `REMAPPED_PREFIXES`, else unchanged."""
        return remap(path, self.root)


def remap(path: str, root: Path) -> str:
    """`root + path` for paths at or below `REMAPPED_PREFIXES`; any other path unchanged."""
    for prefix in REMAPPED_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return str(root) + path
    return path


def read_json(path: Path, default: Any) -> Any:
    """The JSON document at `path`, or `default` when the file does not exist yet."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


@contextlib.contextmanager
def locked_json(path: Path, default: Any) -> Iterator[Any]:
    """Read `path` under an exclusive lock, yield the document, write it back (0600) on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        document = read_json(path, default)
        yield document
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
        os.replace(tmp, path)


def process_start_time(pid: int) -> int | None:
    """Field 22 of `/proc/<pid>/stat` (start time in clock ticks), or None when the pid is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def is_alive(pid: int | None, start_time: int | None) -> bool:
    """Whether `pid` still runs and is the same process (same start time), not a zombie."""
    if not pid:
        return False
    now = process_start_time(pid)
    return now is not None and (start_time is None or now == start_time)


@dataclass(frozen=True)
class ContainerState:
    """What `docker inspect` reports about a container's process right now."""

    status: str
    """`running`, `restarting` (exited under a restart policy), `exited` or `created`."""
    exit_code: int
    pid: int


def observe(container: dict[str, Any]) -> ContainerState:
    """The container's state now, from its record and its process.

    Docker relaunches a container that exits under `--restart always|unless-stopped` (or
    `on-failure` with a non-zero code): the sandbox does not relaunch it, it reports `restarting`.
    """
    status = str(container.get("status", "created"))
    if status != "running":
        return ContainerState(status, int(container.get("exit_code", 0)), 0)
    pid = int(container.get("pid") or 0)
    if is_alive(pid, container.get("start_time")):
        return ContainerState("running", 0, pid)
    try:
        code = int(Path(container["exit_file"]).read_text().strip())
    except (KeyError, FileNotFoundError, ValueError):
        code = 137
    policy = str(container.get("restart", "no"))
    if policy in RESTARTING_POLICIES or (policy.startswith("on-failure") and code != 0):
        return ContainerState("restarting", code, 0)
    return ContainerState("exited", code, 0)


def stop_process(pid: int | None, start_time: int | None, timeout: float = 5.0) -> None:
    """SIGTERM the process group led by `pid`, then SIGKILL it if it outlives `timeout` seconds."""
    if not pid or not is_alive(pid, start_time):
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not is_alive(pid, start_time):
                return
            time.sleep(0.05)


def container_processes(container_id: str, exclude: tuple[int, ...] = ()) -> list[int]:
    """Pids of every live process whose environment carries `SANDBOX_CONTAINER_ID=<container_id>`."""
    marker = f"{CONTAINER_ID_ENV}={container_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0") and process_start_time(int(entry.name)) is not None:
            found.append(int(entry.name))
    return sorted(found)


def kill_container_processes(container_id: str | None, exclude: tuple[int, ...] = ()) -> None:
    """SIGKILL whatever still runs in a container (exec'd processes), as tearing down its PID namespace does."""
    if not container_id:
        return
    for pid in container_processes(container_id, exclude):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def stop_container(container: dict[str, Any]) -> None:
    """`docker stop`'s effect on processes: SIGTERM then SIGKILL the main process, then kill the rest."""
    stop_process(container.get("pid"), container.get("start_time"))
    kill_container_processes(container.get("id"))


def stop_all_containers(paths: HostPaths) -> list[str]:
    """Stop every running container process of the host (records kept, marked exited); their names."""
    stopped = []
    with locked_json(paths.docker, {"images": [], "containers": {}}) as document:
        for name, container in document.get("containers", {}).items():
            if container.get("status") == "running" and container.get("pid"):
                stop_process(container["pid"], container.get("start_time"))
                container.update(status="exited", exit_code=143)
                stopped.append(name)
            kill_container_processes(container.get("id"))
    return stopped


def shim_calls(paths: HostPaths) -> list[dict[str, Any]]:
    """Every recorded shim invocation, oldest first."""
    try:
        lines = paths.shim_calls.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]
