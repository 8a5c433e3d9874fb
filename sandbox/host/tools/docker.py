"""The emulated `docker` CLI: images and containers recorded in `state/docker.json`.

Subcommands: `info` (`--format '{{json .Runtimes}}'` lists `nvidia`), `version`, `pull`, `run -d`,
`ps [-a] [-q] [--format]`, `inspect [-f TEMPLATE]`, `logs [--tail N]`, `start`, `stop`, `rm [-f]`,
`exec [-d] [-i] [-t] [-e K=V] [-w DIR] NAME CMD ARGS...`.

- `run -d --name N [options] IMAGE ARGS...` records the container. When IMAGE looks like a vLLM image
  (its repository contains `vllm`) the container's process is the fake vLLM (`python -m
  sandbox.vllm ARGS...`; a leading `vllm serve` is accepted as in NVIDIA's image), started in its own
  session with its output in `state/containers/N.log`. Its environment is the `--env-file` lines and
  `-e` values, as Docker passes them, so `VLLM_API_KEY` reaches it without touching any argv. Other
  images are recorded as `exited` (0) without a process. Only detached runs are emulated.
- `run -d ... --entrypoint E IMAGE ARGS...` of a vLLM image runs `E ARGS...` for real "inside" the
  container (sandbox/host/container.py: its environment, its own filesystem root, the container shims
  `pip`, `vllm`, `pkill`, `pgrep`, and `ray` once pip installed it), under a small init whose exit
  code `docker inspect` reports. `--gpus` (any value) gives the container the host's one GB10, no
  `--gpus` none (`SANDBOX_CONTAINER_GPUS`, read by the fake Ray and vLLM).
- `start NAME...` relaunches a stopped container's recorded command (fresh pid, new `StartedAt`,
  fault switches consumed as `run` does) and prints each name; a running one is left alone. A missing
  one: `Error response from daemon: No such container: N` then `Error: failed to start containers: N`,
  exit 1 (docker/cli cli/command/container/start.go).
- `exec` runs a command in a running container (same environment; `-e` added). Without `-d` its
  stdio and exit code pass through; with `-d` it runs detached, and `docker stop`/`rm -f` end it too.
  A command not on the container's PATH: `OCI runtime exec failed: exec failed: unable to start
  container process: exec: "X": executable file not found in $PATH: unknown`, exit 127; a stopped
  container: `Error response from daemon: container <id> is not running`, exit 1 (moby daemon/exec.go).
  SANDBOX ONLY: the literal paths `/proc/1/fd/1` and `/proc/1/fd/2` in the exec'd words are replaced
  by the container's log file, because the emulated container has no PID namespace: in Docker they
  are PID 1's stdout/stderr, which is what `docker logs` shows.
- `--env-file` and `-v` host paths below /etc/sovereign-ai or /var/lib/sovereign-ai are read under
  `SANDBOX_ROOT` (see `state.REMAPPED_PREFIXES`); `--network host` is implied: the fake vLLM binds
  the `--host` it is given, `-p` is recorded only.
- Exit codes follow Docker's: 125 for a refused `run`, 1 for `inspect` of a missing object
  (`Error: No such object: N`), `rm -f` of a missing container is 0 with the daemon's message on
  stderr, `rm` of a running container without `-f` is 1.
- A container whose process exited under `--restart always|unless-stopped` reports `restarting`
  (Docker would relaunch it; the sandbox does not), else `exited`; see `state.observe`. `stop` of such a
  container leaves it `exited`, as Docker's stop ends the restart loop.
- `state/settings.json` `vllm_startup_seconds` is passed to the fake vLLM as `--startup-seconds`.
- Fault switches (sandbox/faults.py, the file `$SANDBOX_FAULTS`): `docker.pull` makes `pull` fail
  with the switch's `message` (exit 1); `docker.vllm` makes the next vLLM container never listen
  (`mode: never-healthy`), or crash while loading: exit with status 1 `afterSeconds` after it starts
  (`mode: dies`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox import faults
from sandbox.host import container as inside
from sandbox.host.state import (
    HostPaths,
    locked_json,
    observe,
    process_start_time,
    read_json,
    stop_container,
)
from sandbox.host.tools import ToolError, run_subcommand

RUNTIMES = {
    "io.containerd.runc.v2": {"path": "runc"},
    "nvidia": {"path": "nvidia-container-runtime"},
    "runc": {"path": "runc"},
}
"""`docker info` runtimes on a DGX Spark with nvidia-container-toolkit configured."""

VALUE_OPTIONS = {
    "--name",
    "--gpus",
    "--ipc",
    "--network",
    "--net",
    "--ulimit",
    "--restart",
    "-v",
    "--volume",
    "--env-file",
    "-e",
    "--env",
    "-p",
    "--publish",
    "--shm-size",
    "--entrypoint",
    "--runtime",
    "-w",
    "--workdir",
    "-u",
    "--user",
    "-m",
    "--memory",
    "-l",
    "--label",
    "--memory-swap",
    "--pids-limit",
    "--health-cmd",
    "--health-interval",
    "--health-retries",
    "--health-start-period",
    "--hostname",
}
"""`docker run` options that take a value (`--opt value` or `--opt=value`)."""

FLAG_OPTIONS = {
    "-d",
    "--detach",
    "--rm",
    "-i",
    "-t",
    "-it",
    "--interactive",
    "--tty",
    "--privileged",
    "--init",
}
"""`docker run` options without a value."""

EMPTY: dict[str, Any] = {"images": [], "containers": {}}


class DockerError(ToolError):
    """A refused docker command: the message goes to stderr and the process exits with `status`."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _is_vllm(image: str) -> bool:
    """Whether the image's repository (without tag or digest) names vLLM."""
    repository = image.split("@", 1)[0]
    head, _, last = repository.rpartition("/")
    return "vllm" in (head + "/" + last.split(":", 1)[0]).lower()


def _env_file(path: str, paths: HostPaths) -> list[str]:
    """`KEY=VALUE` lines of a Docker env file (blank and `#` lines skipped, bare `KEY` from the env)."""
    try:
        text = Path(paths.remap(path)).read_text(encoding="utf-8")
    except OSError as exc:
        raise DockerError(
            f"docker: open {path}: {exc.strerror.lower() if exc.strerror else exc}.", 125
        ) from None
    entries = []
    for raw in text.splitlines():
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        if "=" in line:
            entries.append(line)
        elif line in os.environ:
            entries.append(f"{line}={os.environ[line]}")
    return entries


def info(args: Sequence[str], paths: HostPaths) -> int:
    """`docker info [--format TEMPLATE]`."""
    template = _option(args, "--format", "-f")
    document = {
        "Runtimes": RUNTIMES,
        "DefaultRuntime": "runc",
        "ServerVersion": "28.3.3",
        "Architecture": "aarch64",
        "OperatingSystem": "Ubuntu 24.04.3 LTS (sandbox)",
        "Name": os.environ.get("SANDBOX_HOST_NAME", ""),
    }
    if template:
        print(render_template(template, document))
    else:
        print(
            f"Server Version: {document['ServerVersion']}\nRuntimes: {' '.join(sorted(RUNTIMES))}\n"
            f"Default Runtime: runc\nArchitecture: aarch64"
        )
    return 0


def render_template(template: str, document: Any) -> str:
    """A Go-template subset: `{{.A.B}}` and `{{json .A.B}}`; anything else is a DockerError."""

    def value(match: re.Match[str]) -> str:
        expression = match.group(1).strip()
        as_json = expression.startswith("json ")
        if as_json:
            expression = expression[5:].strip()
        if expression != "." and not re.fullmatch(r"(\.[A-Za-z_][A-Za-z0-9_]*)+", expression):
            raise DockerError(f"template: sandbox docker does not emulate {{{{{match.group(1)}}}}}", 1)
        current = document
        for part in [p for p in expression.split(".") if p]:
            if not isinstance(current, dict) or part not in current:
                raise DockerError(
                    f'template: executing "" at <{expression}>: map has no entry for key "{part}"'
                )
            current = current[part]
        if as_json:
            return json.dumps(current, separators=(",", ":"))
        if isinstance(current, bool):
            return "true" if current else "false"
        return "<no value>" if current is None else str(current)

    return re.sub(r"\{\{(.*?)\}\}", value, template)


def _option(args: Sequence[str], *names: str) -> str | None:
    words = list(args)
    for i, word in enumerate(words):
        for name in names:
            if word == name and i + 1 < len(words):
                return words[i + 1]
            if word.startswith(name + "="):
                return word.split("=", 1)[1]
    return None


def _last(options: dict[str, list[str]], *names: str) -> str | None:
    """The last value given for any of `names`, or None."""
    values = [value for name in names for value in options.get(name, [])]
    return values[-1] if values else None


def pull(args: Sequence[str], paths: HostPaths) -> int:
    """`docker pull IMAGE`: recorded, no download."""
    images = [a for a in args if not a.startswith("-")]
    if len(images) != 1:
        raise DockerError('"docker pull" requires exactly 1 argument.', 1)
    image = images[0]
    fault = faults.take(_faults_file(), "docker.pull", image)
    if fault is not None:
        default = 'Error response from daemon: Get "https://registry-1.docker.io/v2/": net/http: TLS handshake timeout'
        raise DockerError(str(fault.get("message") or default), 1)
    with locked_json(paths.docker, EMPTY) as document:
        if image not in document["images"]:
            document["images"].append(image)
    tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else "latest"
    print(f"{tag}: Pulling from {image.rsplit(':', 1)[0]}")
    print(f"Digest: sha256:{secrets.token_hex(32)}")
    print(f"Status: Image is up to date for {image}")
    print(image if "/" in image.split(":")[0] and "." in image.split("/")[0] else f"docker.io/{image}")
    return 0


def run(args: Sequence[str], paths: HostPaths) -> int:
    """`docker run -d --name N [options] IMAGE [ARGS...]`."""
    options, flags, rest = split_options(list(args), VALUE_OPTIONS, FLAG_OPTIONS, "run", "docker: ")
    if not rest:
        raise DockerError('docker: "docker run" requires at least 1 argument.', 125)
    image, command = rest[0], rest[1:]
    if not flags & {"-d", "--detach"}:
        raise DockerError("docker: sandbox: only detached runs (`docker run -d`) are emulated", 125)
    name = (options.get("--name") or [f"sandbox_{secrets.token_hex(4)}"])[-1]
    env: list[str] = []
    for env_file in options.get("--env-file", []):
        env += _env_file(env_file, paths)
    for value in options.get("-e", []) + options.get("--env", []):
        env.append(value if "=" in value else f"{value}={os.environ.get(value, '')}")
    volumes = options.get("-v", []) + options.get("--volume", [])
    for volume in volumes:
        Path(paths.remap(volume.split(":", 1)[0])).mkdir(parents=True, exist_ok=True)
    container_id = secrets.token_hex(32)
    with locked_json(paths.docker, EMPTY) as document:
        existing = document["containers"].get(name)
        if existing is not None:
            raise DockerError(
                f'docker: Error response from daemon: Conflict. The container name "/{name}" is already in use '
                f'by container "{existing["id"]}". You have to remove (or rename) that container to be able '
                "to reuse that name.\nSee 'docker run --help'.",
                125,
            )
        if image not in document["images"]:
            document["images"].append(image)
        container: dict[str, Any] = {
            "id": container_id,
            "name": name,
            "image": image,
            "args": command,
            "env": env,
            "restart": (options.get("--restart") or ["no"])[-1],
            "network": (options.get("--network") or options.get("--net") or ["bridge"])[-1],
            "options": options,
            "flags": sorted(flags),
            "created": _now(),
            "log": str(paths.logs / f"{name}.log"),
            "exit_file": str(paths.logs / f"{name}.exit"),
            "vllm": _is_vllm(image),
            "entrypoint": _last(options, "--entrypoint"),
            "gpus": inside.gpu_count(options),
        }
        if container["vllm"]:
            container.update(_launch(container, paths))
        else:
            container.update(status="exited", exit_code=0, started_at=_now(), finished_at=_now())
        document["containers"][name] = container
    print(container_id)
    return 0


def _launch(container: dict[str, Any], paths: HostPaths) -> dict[str, Any]:
    """Start a vLLM-image container's process; the record fields describing it.

    With an entrypoint the command runs under the container's init (sandbox/host/container.py);
    without, the process is the fake vLLM itself.
    """
    if container.get("entrypoint"):
        Path(container["exit_file"]).unlink(missing_ok=True)
        process = inside.launch_init(container, paths, [container["entrypoint"], *container["args"]])
        return {
            "status": "running",
            "pid": process.pid,
            "start_time": process_start_time(process.pid),
            "started_at": _now(),
        }
    settings = read_json(paths.settings, {})
    startup = float(settings.get("vllm_startup_seconds", 0.0))
    log_path, exit_path = Path(container["log"]), Path(container["exit_file"])
    exit_path.unlink(missing_ok=True)
    # The same environment as any process in a container (so its processes are the container's),
    # plus where the fake vLLM writes its exit code.
    env = inside.environment(container, paths) | {"SANDBOX_VLLM_EXIT_FILE": str(exit_path)}
    python = os.environ.get("SANDBOX_PYTHON", sys.executable)
    argv = [python, "-m", "sandbox.vllm", *container["args"], "--startup-seconds", str(startup)]
    fault = faults.take(_faults_file(), "docker.vllm", container["name"])
    if fault is not None:
        argv[-1] = str(365 * 24 * 3600.0)  # never listens: still loading the model
        if fault.get("mode") == "dies":
            argv += ["--exit-after-seconds", str(fault.get("afterSeconds", 0.5))]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=paths.container_root(container["name"]),
            start_new_session=True,
            close_fds=True,
        )
    return {
        "status": "running",
        "pid": process.pid,
        "start_time": process_start_time(process.pid),
        "started_at": _now(),
    }


def _faults_file() -> Path | None:
    """The sandbox's fault switches (`$SANDBOX_FAULTS`), if the host was given them."""
    value = os.environ.get(faults.FAULTS_ENV)
    return Path(value) if value else None


def _inspect_document(container: dict[str, Any]) -> dict[str, Any]:
    state = observe(container)
    return {
        "Id": container["id"],
        "Created": container["created"],
        "Name": "/" + container["name"],
        "Image": container["image"],
        "RestartCount": 0,
        "State": {
            "Status": state.status,
            "Running": state.status == "running",
            "Restarting": state.status == "restarting",
            "Dead": False,
            "Pid": state.pid,
            "ExitCode": state.exit_code,
            "StartedAt": container.get("started_at", ""),
            "FinishedAt": container.get("finished_at", "0001-01-01T00:00:00Z"),
        },
        "Config": {
            "Image": container["image"],
            "Cmd": container["args"],
            "Entrypoint": [container["entrypoint"]] if container.get("entrypoint") else None,
            "Env": container["env"],
        },
        "HostConfig": {
            "NetworkMode": container.get("network", "bridge"),
            "RestartPolicy": {"Name": container.get("restart", "no")},
            "Binds": container.get("options", {}).get("-v", []),
        },
    }


def inspect(args: Sequence[str], paths: HostPaths) -> int:
    """`docker inspect [-f TEMPLATE] NAME...`: 1 with `Error: No such object: N` for a missing one."""
    template, names, words, i = None, [], list(args), 0
    while i < len(words):
        word = words[i]
        if word in ("-f", "--format") and i + 1 < len(words):
            template, i = words[i + 1], i + 2
            continue
        if word.startswith("--format="):
            template = word.split("=", 1)[1]
        elif not word.startswith("-"):
            names.append(word)
        i += 1
    if not names:
        raise DockerError('"docker inspect" requires at least 1 argument.', 1)
    containers = read_json(paths.docker, EMPTY)["containers"]
    found, status = [], 0
    for name in names:
        container = containers.get(name) or next(
            (c for c in containers.values() if c["id"].startswith(name)), None
        )
        if container is None:
            print(f"Error: No such object: {name}", file=sys.stderr)
            status = 1
        else:
            found.append(_inspect_document(container))
    if template is None:
        print(json.dumps(found, indent=4))
    else:
        for document in found:
            print(render_template(template, document))
    return status


def ps(args: Sequence[str], paths: HostPaths) -> int:
    """`docker ps [-a] [-q] [--format TEMPLATE]` (templates see `.ID .Names .Image .Status .State`)."""
    show_all = "-a" in args or "--all" in args
    template = _option(args, "--format")
    if "-q" in args or "--quiet" in args:
        template = "{{.ID}}"
    rows = []
    for container in read_json(paths.docker, EMPTY)["containers"].values():
        state = observe(container)
        if state.status != "running" and not show_all:
            continue
        label = {"running": "Up", "restarting": f"Restarting ({state.exit_code})"}.get(
            state.status, f"Exited ({state.exit_code})"
        )
        rows.append(
            {
                "ID": container["id"][:12],
                "Names": container["name"],
                "Image": container["image"],
                "Status": label,
                "State": state.status,
                "Command": " ".join(container["args"])[:20],
            }
        )
    if template:
        for row in rows:
            print(render_template(template, row))
        return 0
    print(f"{'CONTAINER ID':<15}{'IMAGE':<32}{'STATUS':<16}NAMES")
    for row in rows:
        print(f"{row['ID']:<15}{row['Image']:<32}{row['Status']:<16}{row['Names']}")
    return 0


def logs(args: Sequence[str], paths: HostPaths) -> int:
    """`docker logs [--tail N] NAME`: the container's output (stdout and stderr interleaved)."""
    tail = _option(args, "--tail", "-n")
    names = [
        a
        for i, a in enumerate(args)
        if not a.startswith("-") and (i == 0 or args[i - 1] not in ("--tail", "-n"))
    ]
    if len(names) != 1:
        raise DockerError('"docker logs" requires exactly 1 argument.', 1)
    container = read_json(paths.docker, EMPTY)["containers"].get(names[0])
    if container is None:
        raise DockerError(f"Error response from daemon: No such container: {names[0]}", 1)
    try:
        lines = Path(container["log"]).read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        lines = []
    if tail not in (None, "all"):
        lines = lines[-int(tail) :] if int(tail) > 0 else []
    for line in lines:
        print(line)
    return 0


def _named(args: Sequence[str], document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """Each container named in `args` with its record; None (after the daemon's message) if missing."""
    for name in [a for a in args if not a.startswith("-")]:
        container = document["containers"].get(name)
        if container is None:
            print(f"Error response from daemon: No such container: {name}", file=sys.stderr)
        yield name, container


def stop(args: Sequence[str], paths: HostPaths) -> int:
    """`docker stop NAME...`: SIGTERM (then SIGKILL) the process and anything exec'd; it stays, `exited`.

    A `restarting` container (its process died under a restart policy) ends `exited` too: Docker's
    stop cancels the restart loop.
    """
    status = 0
    with locked_json(paths.docker, EMPTY) as document:
        for name, container in _named(args, document):
            if container is None:
                status = 1
                continue
            before = observe(container)
            stop_container(container)
            if container.get("status") == "running":
                code = before.exit_code if before.status == "restarting" else observe(container).exit_code
                container.update(status="exited", exit_code=code or 143, finished_at=_now())
            print(name)
    return status


def start(args: Sequence[str], paths: HostPaths) -> int:
    """`docker start NAME...`: relaunch each stopped container's recorded command; print its name.

    Missing containers print the daemon's message each, then `Error: failed to start containers:
    A, B` (docker/cli cli/command/container/start.go), exit 1. A running container is left alone.
    """
    failed = []
    with locked_json(paths.docker, EMPTY) as document:
        for name, container in _named(args, document):
            if container is None:
                failed.append(name)
                continue
            if observe(container).status != "running":
                stop_container(container)
                if container.get("vllm"):
                    container.update(_launch(container, paths))
                else:
                    container.update(started_at=_now(), finished_at=_now())
            print(name)
    if failed:
        print(f"Error: failed to start containers: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def rm(args: Sequence[str], paths: HostPaths) -> int:
    """`docker rm [-f] NAME...`: a running container needs `-f`; `-f` of a missing one is 0."""
    force = any(a in ("-f", "--force") for a in args)
    status = 0
    with locked_json(paths.docker, EMPTY) as document:
        for name, container in _named(args, document):
            if container is None:
                status = status if force else 1
                continue
            if observe(container).status in ("running", "restarting") and not force:
                print(
                    f'Error response from daemon: cannot remove container "/{name}": container is running: '
                    "stop the container before removing or force remove",
                    file=sys.stderr,
                )
                status = 1
                continue
            stop_container(container)
            del document["containers"][name]
            shutil.rmtree(paths.container_dir(name), ignore_errors=True)
            print(name)
    return status


def version(args: Sequence[str], paths: HostPaths) -> int:
    """`docker version`."""
    print(
        "Client: Docker Engine - Community (sandbox)\n Version: 28.3.3\n\n"
        "Server: Docker Engine - Community (sandbox)\n Engine:\n  Version: 28.3.3"
    )
    return 0


EXEC_VALUE_OPTIONS = {"-e", "--env", "-w", "--workdir", "-u", "--user", "--env-file"}
"""`docker exec` options that take a value."""

EXEC_FLAGS = {"-d", "--detach", "-i", "--interactive", "-t", "--tty", "--privileged"}
"""`docker exec` options without a value (single letters may be combined: `-it`, `-di`)."""

PID1_STREAMS = ("/proc/1/fd/1", "/proc/1/fd/2")
"""PID 1's stdout and stderr in a container; SANDBOX ONLY: replaced by the container's log in exec'd words."""


def split_options(
    words: list[str], value_options: set[str], flag_options: set[str], subcommand: str, prefix: str = ""
) -> tuple[dict[str, list[str]], set[str], list[str]]:
    """A subcommand's leading options (`--opt value`, `--opt=value`, flags, combined single letters
    such as `-it`) as (options, flags, the words after them); an unknown or incomplete one is
    refused with the CLI's message, `prefix` first, and exit 125."""
    options: dict[str, list[str]] = {}
    flags: set[str] = set()
    letters = "".join(flag[1] for flag in flag_options if len(flag) == 2)
    i = 0
    while i < len(words) and words[i].startswith("-") and words[i] != "-":
        word = words[i]
        name, eq, inline = word.partition("=")
        if name in value_options:
            if eq:
                options.setdefault(name, []).append(inline)
            elif i + 1 < len(words):
                options.setdefault(name, []).append(words[i + 1])
                i += 1
            else:
                raise DockerError(f"{prefix}flag needs an argument: {name}", 125)
        elif word in flag_options:
            flags.add(word)
        elif letters and re.fullmatch(f"-[{letters}]+", word):
            flags.update(f"-{letter}" for letter in word[1:])
        else:
            raise DockerError(f"{prefix}unknown flag: {name}\nSee 'docker {subcommand} --help'.", 125)
        i += 1
    return options, flags, words[i:]


def exec_(args: Sequence[str], paths: HostPaths) -> int:
    """`docker exec [-d] [-i] [-t] [-e K=V] [-w DIR] NAME CMD ARGS...` (see the module docstring)."""
    options, flags, rest = split_options(list(args), EXEC_VALUE_OPTIONS, EXEC_FLAGS, "exec")
    if len(rest) < 2:
        raise DockerError('"docker exec" requires at least 2 arguments.', 1)
    name, command = rest[0], rest[1:]
    containers = read_json(paths.docker, EMPTY)["containers"]
    container = containers.get(name) or next(
        (c for c in containers.values() if len(name) >= 3 and c["id"].startswith(name)), None
    )
    if container is None:
        raise DockerError(f"Error response from daemon: No such container: {name}", 1)
    if observe(container).status != "running":
        raise DockerError(f"Error response from daemon: container {container['id']} is not running", 1)
    env = inside.environment(container, paths)
    for env_file in options.get("--env-file", []):
        env |= dict(entry.partition("=")[::2] for entry in _env_file(env_file, paths))
    for value in options.get("-e", []) + options.get("--env", []):
        key, eq, text = value.partition("=")
        env[key] = text if eq else os.environ.get(key, "")
    log = container["log"]
    words = [word.replace(PID1_STREAMS[0], log).replace(PID1_STREAMS[1], log) for word in command]
    executable = words[0] if "/" in words[0] else shutil.which(words[0], path=env["PATH"])
    if executable is None or not os.access(executable, os.X_OK):
        print(
            "OCI runtime exec failed: exec failed: unable to start container process: exec: "
            f'"{words[0]}": executable file not found in $PATH: unknown',
            file=sys.stderr,
        )
        return 127
    root = paths.container_root(container["name"])
    workdir = _last(options, "-w", "--workdir")
    cwd = inside.in_container(workdir, root) if workdir else root
    if flags & {"-d", "--detach"}:
        subprocess.Popen(
            words,
            executable=executable,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
        return 0
    stdin = None if flags & {"-i", "--interactive"} else subprocess.DEVNULL
    code = subprocess.call(words, executable=executable, stdin=stdin, env=env, cwd=cwd)
    return code if code >= 0 else 128 - code


COMMANDS = {
    "info": info,
    "version": version,
    "pull": pull,
    "run": run,
    "ps": ps,
    "inspect": inspect,
    "logs": logs,
    "start": start,
    "stop": stop,
    "rm": rm,
    "exec": exec_,
}


def main(argv: Sequence[str]) -> int:
    """Dispatch `docker SUBCOMMAND ...` (and `docker container SUBCOMMAND ...`)."""
    words = list(argv)
    if words[:1] == ["container"]:
        words = words[1:]
    if not words:
        print("Usage:  docker [OPTIONS] COMMAND", file=sys.stderr)
        return 1
    return run_subcommand(
        COMMANDS, words, "docker: '{name}' is not a docker command (sandbox emulates: {emulated})."
    )
