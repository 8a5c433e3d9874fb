"""The emulated `ray` CLI inside a container (present once `pip install ray` ran): `start --block`, `status`.

Upstream: ray-project/ray python/ray/scripts/scripts.py (`start`, `status`), its `cli_logger` output
as it looks when stdout is not a terminal (`<date> <time>,<ms>\\tINFO scripts.py:<line> -- <text>`,
`SUCC` for the success banner; the line numbers printed are illustrative), and
python/ray/_private/utils.py `internal_kv_get_with_retry` for a head that cannot be reached.

- `ray start --block --head [--port=6379] [--node-ip-address=IP] [--num-gpus=N] ...`: a fake head
  (sandbox/host/fake_ray.py) on IP:PORT; IP is `--node-ip-address`, else `VLLM_HOST_IP`, else
  127.0.0.1. Prints Ray's banner (`Local node IP`, `Ray runtime started.`, `Next steps`, the `--block`
  lines), records `IP:PORT` in the container's `/tmp/ray/ray_current_cluster` and serves until
  signalled. A taken port fails (exit 1).
- `ray start --block --address=HEAD:PORT [--node-ip-address=IP]`: a worker registers its IP and GPUs
  with the head and blocks; the head drops it when the process ends. An unreachable head: the warning
  `Unable to connect to GCS (ray head) at HEAD:PORT. Check that ...` per attempt, then
  `ConnectionError: Could not read 'session_name' from GCS. Did GCS start successfully?`, exit 1.
  Attempts: `RAY_NUM_REDIS_GET_RETRIES` (Ray's knob; the sandbox's default is 5, Ray's 20), SANDBOX
  ONLY 0.5 s apart (Ray: 2 s plus a connect timeout). If the head goes away later, the worker prints
  Ray's `Some Ray subprocesses exited unexpectedly:` lines and exits 1.
- `ray status [--address A]`: the cluster at `--address`, `RAY_ADDRESS` or the address file, in Ray's
  status format (fake_ray.status_text); none: `ConnectionError: Could not find any running Ray
  instance. Please specify the one to connect to by setting `--address` flag or `RAY_ADDRESS`
  environment variable.` on stderr, exit 1 (Ray prints a traceback ending with that line).
- `ray --version`: `ray, version <RAY_VERSION>`.
- SANDBOX ONLY refusals (exit 1): `ray start` without `--block` (Ray would daemonize its processes),
  `ray stop` and every other subcommand.

GPUs of a node are `--num-gpus`, else the container's (`SANDBOX_CONTAINER_GPUS`).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sandbox.host import container as inside
from sandbox.host import fake_ray

NO_CLUSTER = (
    "ConnectionError: Could not find any running Ray instance. Please specify the one to connect to "
    "by setting `--address` flag or `RAY_ADDRESS` environment variable."
)
"""What `ray status` ends with when no cluster can be found (ray/_private/services.py)."""

GCS_UNREACHABLE = (
    "Unable to connect to GCS (ray head) at {}. Check that (1) Ray with matching version started "
    "successfully at the specified address, (2) this node can reach the specified address, and (3) "
    "there is no firewall setting preventing access."
)
"""Ray's warning for each failed attempt to reach a head (ray/_private/utils.py)."""

SESSION_NAME_ERROR = "ConnectionError: Could not read 'session_name' from GCS. Did GCS start successfully?"
"""Ray's error once the attempts are used up (`internal_kv_get_with_retry`)."""

RETRY_SECONDS = 0.5
"""SANDBOX ONLY: pause between attempts to reach a head (Ray: 2 s)."""

USAGE_STATS = (
    "Usage stats collection is enabled by default without user confirmation because this terminal "
    "is detected to be non-interactive. To disable this, add `--disable-usage-stats` to the command "
    "that starts the cluster, or run the following command: `ray disable-usage-stats` before "
    "starting the cluster. See https://docs.ray.io/en/master/cluster/usage-stats.html for more details."
)


def _log(text: str, level: str = "INFO", where: str = "scripts.py:1002", stream: Any = None) -> None:
    """One `cli_logger` line as Ray prints it when stdout is not a terminal."""
    now = datetime.now()
    stamp = now.strftime("%Y-%m-%d %H:%M:%S") + f",{now.microsecond // 1000:03d}"
    print(f"{stamp}\t{level} {where} -- {text}", file=stream or sys.stdout, flush=True)


def _options(words: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """`--name=value`/`--name value` options and bare flags of a `ray` subcommand."""
    flags_only = {"--head", "--block", "--disable-usage-stats", "--verbose", "-v", "--include-dashboard"}
    options: dict[str, str] = {}
    positional: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--") and "=" in word:
            key, _, value = word.partition("=")
            options[key] = value
        elif word in flags_only:
            options[word] = ""
        elif word.startswith("-") and i + 1 < len(words) and not words[i + 1].startswith("-"):
            options[word] = words[i + 1]
            i += 1
        elif word.startswith("-"):
            options[word] = ""
        else:
            positional.append(word)
        i += 1
    return options, positional


def _gpus(options: dict[str, str]) -> int:
    value = options.get("--num-gpus") or os.environ.get(inside.GPUS_ENV, "0")
    return int(float(value))


def _address_file() -> Path | None:
    root = os.environ.get(inside.ROOT_ENV)
    return fake_ray.address_file(Path(root)) if root else None


def _write_address(address: str) -> None:
    target = _address_file()
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(address)


def _stop_on_sigterm() -> None:
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


def _started_banner(ip: str, port: int | None) -> None:
    """The `Ray runtime started.` lines; `port` for a head (its `Next steps`), None for a worker."""
    _log("")
    for line in ("-" * 20, "Ray runtime started.", "-" * 20):
        _log(line, "SUCC", "scripts.py:935")
    _log("")
    if port is not None:
        address = f"{ip}:{port}"
        for line in (
            "Next steps",
            "  To add another node to this Ray cluster, run",
            f"    ray start --address='{address}'",
            "",
            "  To connect to this Ray cluster:",
            "    import ray",
            f"    ray.init(_node_ip_address='{ip}')",
            "",
            "  To submit a Ray job using the Ray Jobs CLI:",
            "    RAY_ADDRESS='http://127.0.0.1:8265' ray job submit --working-dir . -- python my_script.py",
            "",
            "  See https://docs.ray.io/en/latest/cluster/running-applications/job-submission/index.html",
            "  for more information on submitting Ray jobs to the Ray cluster.",
            "",
            "  To terminate the Ray runtime, run",
            "    ray stop",
            "",
            "  To view the status of the cluster, use",
            "    ray status",
        ):
            _log(line)
    else:
        _log("To terminate the Ray runtime, run")
        _log("  ray stop")
    _log("--block", where="scripts.py:1123")
    _log("This command will now block forever until terminated by a signal.", where="scripts.py:1124")
    _log(
        "Running subprocesses are monitored and a message will be printed if any of them terminate "
        "unexpectedly. Subprocesses exit with SIGTERM will be treated as graceful, thus NOT reported.",
        where="scripts.py:1127",
    )


def _head(ip: str, port: int, gpus: int) -> int:
    try:
        server = fake_ray.HeadServer(ip, port, fake_ray.node(ip, gpus, head=True))
    except OSError as exc:
        _log(f"Local node IP: {ip}")
        print(
            f"ValueError: Failed to bind to {ip}:{port} for the GCS server: {exc.strerror} "
            "(sandbox: the port is taken)",
            file=sys.stderr,
            flush=True,
        )
        return 1
    _log(f"Local node IP: {ip}", where="scripts.py:865")
    _write_address(f"{ip}:{port}")
    _started_banner(ip, port)
    _stop_on_sigterm()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


def _worker(address: str, ip: str, gpus: int) -> int:
    _log(f"Local node IP: {ip}", where="scripts.py:1069")
    attempts = int(os.environ.get("RAY_NUM_REDIS_GET_RETRIES", "5"))
    record = fake_ray.node(ip, gpus, head=False)
    for attempt in range(max(attempts, 1)):
        try:
            connection = fake_ray.register(address, record)
            break
        except (OSError, ValueError):
            _log(GCS_UNREACHABLE.format(address), "WARNING", "utils.py:1280")
            if attempt + 1 < attempts:
                time.sleep(RETRY_SECONDS)
    else:
        print(SESSION_NAME_ERROR, file=sys.stderr, flush=True)
        return 1
    _write_address(address)
    _started_banner(ip, None)
    _stop_on_sigterm()
    with connection:
        while connection.recv(1024):
            pass
    _log("")
    _log("Some Ray subprcesses exited unexpectedly:", "ERROR", "scripts.py:1140")
    _log("  raylet [exit code=1]", "ERROR", "scripts.py:1147")
    _log("")
    _log("Remaining processes will be killed.", "ERROR", "scripts.py:1152")
    return 1


def start(words: Sequence[str]) -> int:
    """`ray start --block (--head [--port=P] | --address=A) [--node-ip-address=IP] [--num-gpus=N]`."""
    options, _ = _options(words)
    if "--block" not in options:
        print(
            "ray start: SANDBOX ONLY: only `ray start --block` is emulated (Ray would start its "
            "processes in the background and return)",
            file=sys.stderr,
        )
        return 1
    ip = options.get("--node-ip-address") or os.environ.get("VLLM_HOST_IP") or "127.0.0.1"
    if "--disable-usage-stats" not in options and "--head" in options:
        _log(USAGE_STATS, where="usage_lib.py:447")
    if "--head" in options:
        if "--address" in options:
            print(
                "ValueError: If --head is passed in, a GCS server will be started, so a GCS address "
                "should not be provided.",
                file=sys.stderr,
            )
            return 1
        return _head(ip, int(options.get("--port") or fake_ray.DEFAULT_PORT), _gpus(options))
    address = options.get("--address")
    if not address:
        print("ValueError: If --head is not passed in, --address must be provided.", file=sys.stderr)
        return 1
    return _worker(address, ip, _gpus(options))


def status(words: Sequence[str]) -> int:
    """`ray status [--address A]`."""
    options, _ = _options(words)
    env = dict(os.environ)
    if options.get("--address"):
        env["RAY_ADDRESS"] = options["--address"]
    address = fake_ray.cluster_address(env)
    if address is None:
        print(NO_CLUSTER, file=sys.stderr)
        return 1
    attempts = int(os.environ.get("RAY_NUM_REDIS_GET_RETRIES", "5"))
    for attempt in range(max(attempts, 1)):
        try:
            cluster = fake_ray.nodes(address)
            break
        except (OSError, ValueError):
            _log(GCS_UNREACHABLE.format(address), "WARNING", "utils.py:1280", sys.stderr)
            if attempt + 1 < attempts:
                time.sleep(RETRY_SECONDS)
    else:
        print(SESSION_NAME_ERROR, file=sys.stderr)
        return 1
    print(fake_ray.status_text(cluster))
    return 0


def main(argv: Sequence[str]) -> int:
    """Dispatch `ray SUBCOMMAND ...`."""
    words = list(argv)
    if words[:1] in (["--version"], ["version"]):
        print(f"ray, version {fake_ray.RAY_VERSION}")
        return 0
    if words[:1] == ["start"]:
        return start(words[1:])
    if words[:1] == ["status"]:
        return status(words[1:])
    print(
        f"ray: SANDBOX ONLY: `ray {' '.join(words[:1])}` is not emulated (start --block, status, --version)",
        file=sys.stderr,
    )
    return 1
