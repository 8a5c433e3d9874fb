"""What runs "inside" an emulated container: its environment, its filesystem root, its init process.

A container of a vLLM image started with `--entrypoint` (the way vLLM's
examples/online_serving/run_cluster.sh and NVIDIA's dgx-spark-playbooks nvidia/vllm/README.md start
Ray nodes: `--entrypoint /bin/bash IMAGE -c SCRIPT`) runs its command for real, under `bash`. Every
process of a container (that command, what `docker exec` starts, and the fake vLLM of a container run
without `--entrypoint`) gets the same environment:

| Variable | Value |
|---|---|
| `PATH` | `sandbox/host/container_shims` (`pip`, `vllm`, `pkill`, `pgrep`), then `<root>/usr/local/bin` (where `pip install ray` puts `ray`), then the system directories |
| `HOME` | `<root>/root`; the working directory is `<root>` |
| `HOSTNAME` | the host's name (`--network host`) |
| the container's `--env-file` lines and `-e` values | as Docker passes them |
| `SANDBOX_CONTAINER`, `SANDBOX_CONTAINER_ID`, `SANDBOX_CONTAINER_ROOT` | SANDBOX ONLY: its name, id and filesystem root (`state.CONTAINER_ID_ENV` marks its processes) |
| `SANDBOX_CONTAINER_GPUS` | SANDBOX ONLY: `1` with `--gpus ...` (the host's one GB10), else `0`; the fake Ray and vLLM read it |
| `SANDBOX_HOST_DIR`, `SANDBOX_PYTHON`, `PYTHONPATH`, `SANDBOX_FAULTS` | SANDBOX ONLY plumbing for the shims |

`<root>` is `state/containers/<name>.d/root` (`HostPaths.container_root`): nothing a container writes
reaches another container or host. The image's own files are not there: only what the container
writes (`/tmp/ray/ray_current_cluster`, pip's records).

The main process is `python -m sandbox.host.container` (SANDBOX ONLY: a tiny init, reading its command
from `SANDBOX_INIT_ARGV` so its own command line matches no `pgrep -f`): it runs the command, records
its exit code in the container's exit file, then kills whatever else still runs in the container (as
Docker does when PID 1 exits), and exits with the same code.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from sandbox.host.state import CONTAINER_ID_ENV, HostPaths, kill_container_processes

CONTAINER_SHIMS = Path(__file__).resolve().parent / "container_shims"
"""Commands available inside a container (first on its PATH)."""

INSTALLABLE = CONTAINER_SHIMS / "installable"
"""Executables `pip install` links into a container's `/usr/local/bin` (`ray`); not on PATH before."""

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""The system directories after the container's own (the same as the host session's)."""

INIT_ARGV_ENV = "SANDBOX_INIT_ARGV"
"""SANDBOX ONLY: the init's command (JSON list), removed from the environment before it runs it."""

EXIT_FILE_ENV = "SANDBOX_INIT_EXIT_FILE"
"""SANDBOX ONLY: where the init writes the command's exit code."""

GPUS_ENV = "SANDBOX_CONTAINER_GPUS"
"""SANDBOX ONLY: how many GPUs the container was given (`--gpus`: the host's one GB10)."""

ROOT_ENV = "SANDBOX_CONTAINER_ROOT"
"""SANDBOX ONLY: the container's filesystem root."""


def gpu_count(options: dict[str, list[str]]) -> int:
    """GPUs a `docker run` gives: the host's one GB10 for any `--gpus` value but `0`, else none."""
    values = options.get("--gpus", [])
    return 0 if not values or values[-1] in ("0", "") else 1


def in_container(path: str, root: Path) -> Path:
    """An absolute path as seen inside the container, on the host (`/tmp/x` -> `<root>/tmp/x`)."""
    return root / path.lstrip("/")


def environment(container: dict[str, Any], paths: HostPaths) -> dict[str, str]:
    """The environment of a process started in `container` (see the module docstring)."""
    root = paths.container_root(container["name"])
    for directory in ("root", "tmp", "usr/local/bin"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": f"{CONTAINER_SHIMS}:{root / 'usr' / 'local' / 'bin'}:{SYSTEM_PATH}",
        "HOME": str(root / "root"),
        "HOSTNAME": os.environ.get("SANDBOX_HOST_NAME", "spark"),
        "PYTHONUNBUFFERED": "1",
    }
    for entry in container["env"]:
        key, _, value = entry.partition("=")
        env[key] = value
    env |= {
        "SANDBOX_HOST_DIR": str(paths.directory),
        "SANDBOX_HOST_NAME": os.environ.get("SANDBOX_HOST_NAME", "spark"),
        "SANDBOX_PYTHON": os.environ.get("SANDBOX_PYTHON", sys.executable),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "SANDBOX_CONTAINER": container["name"],
        CONTAINER_ID_ENV: container["id"],
        ROOT_ENV: str(root),
        GPUS_ENV: str(container.get("gpus", 0)),
    }
    for name in ("SANDBOX_FAULTS",):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def launch_init(container: dict[str, Any], paths: HostPaths, argv: list[str]) -> subprocess.Popen[bytes]:
    """Start the container's init running `argv` in its own session, output appended to the log."""
    env = environment(container, paths) | {
        INIT_ARGV_ENV: json.dumps(argv),
        EXIT_FILE_ENV: container["exit_file"],
    }
    python = os.environ.get("SANDBOX_PYTHON", sys.executable)
    with open(container["log"], "ab") as log:
        return subprocess.Popen(
            [python, "-m", "sandbox.host.container"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=paths.container_root(container["name"]),
            start_new_session=True,
            close_fds=True,
        )


def init() -> int:
    """SANDBOX ONLY: the container's PID 1 (see the module docstring)."""
    argv = json.loads(os.environ.pop(INIT_ARGV_ENV))
    exit_file = os.environ.pop(EXIT_FILE_ENV)
    try:
        child = subprocess.Popen(argv)
    except OSError as exc:
        print(
            f"exec {argv[0]}: {exc.strerror}" if exc.strerror else f"exec {argv[0]}: {exc}",
            file=sys.stderr,
            flush=True,
        )
        code = 127
    else:
        # `docker stop` signals the whole process group: the command gets SIGTERM itself; the init
        # only waits for it, records how it ended, then clears the container.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        returncode = child.wait()
        code = returncode if returncode >= 0 else 128 - returncode
    Path(exit_file).write_text(f"{code}\n", encoding="utf-8")
    kill_container_processes(os.environ.get(CONTAINER_ID_ENV), exclude=(os.getpid(),))
    return code


if __name__ == "__main__":
    raise SystemExit(init())
