"""A fake Ray cluster: the head's node table over TCP, worker registration, `ray status` text.

SANDBOX ONLY protocol (real Ray speaks gRPC to its GCS on the same port): one JSON line per request
on `HEAD_IP:PORT` (6379 by default, as `ray start --head --port=6379`):

| request | answer |
|---|---|
| `{"op": "status"}` | `{"nodes": [NODE...]}`, then the head closes the connection |
| `{"op": "register", "node": NODE}` | `{"node_id": "<56 hex>"}`; the worker keeps the connection open while it lives, and the head drops the node when it closes (the worker's process ended) |

A NODE is `{"node_id", "ip", "CPU", "GPU", "memory", "object_store_memory", "head"}`. Each node is a
GB10: 20 CPUs, the GPUs its container was given, and memory numbers of a 128 GB unified-memory Spark
(`GB10_MEMORY`, `GB10_OBJECT_STORE`). Resource usage is always 0 (nothing is scheduled).

The cluster address (`IP:PORT`) is written where Ray writes it, `/tmp/ray/ray_current_cluster`, in the
container's own filesystem (`address_file`), by the head and by each worker; `ray status` and the fake
vLLM find the cluster through it (or `RAY_ADDRESS`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import socketserver
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

RAY_VERSION = "2.49.2"
"""The Ray version `pip install 'ray[default]>=2.9'` records."""

DEFAULT_PORT = 6379
"""Ray's default GCS port (`ray_constants.DEFAULT_PORT`)."""

GB10_CPUS = 20
"""A GB10's CPU cores (10 Cortex-X925 + 10 Cortex-A725)."""

GB10_MEMORY = 82_463_372_083
"""Ray's `memory` resource on a GB10 (about 76.80 GiB: available memory less the object store)."""

GB10_OBJECT_STORE = 35_341_445_178
"""Ray's `object_store_memory` on a GB10 (30% of available memory, about 32.91 GiB)."""

CLUSTER_FILE = "/tmp/ray/ray_current_cluster"
"""Where Ray records the address of the cluster last started on a node (`ray._private.utils`)."""


def address_file(root: Path) -> Path:
    """`/tmp/ray/ray_current_cluster` of the container whose filesystem root is `root`."""
    return root / CLUSTER_FILE.lstrip("/")


def node(ip: str, gpus: int, head: bool) -> dict[str, Any]:
    """A node record for a GB10 at `ip` with `gpus` GPUs."""
    return {
        "node_id": secrets.token_hex(28),
        "ip": ip,
        "CPU": GB10_CPUS,
        "GPU": gpus,
        "memory": GB10_MEMORY,
        "object_store_memory": GB10_OBJECT_STORE,
        "head": head,
    }


class _Handler(socketserver.StreamRequestHandler):
    """One connection: a status query, or a worker that stays registered while connected."""

    server: HeadServer

    def handle(self) -> None:
        try:
            request = json.loads(self.rfile.readline() or b"null")
        except ValueError:
            return
        if not isinstance(request, dict):
            return
        if request.get("op") == "status":
            self._reply({"nodes": self.server.snapshot()})
        elif request.get("op") == "register" and isinstance(request.get("node"), dict):
            record = dict(request["node"])
            with self.server.lock:
                self.server.nodes[record["node_id"]] = record
            try:
                self._reply({"node_id": record["node_id"]})
                while self.rfile.read(1):
                    pass
            finally:
                with self.server.lock:
                    self.server.nodes.pop(record["node_id"], None)

    def _reply(self, document: Any) -> None:
        self.wfile.write(json.dumps(document).encode() + b"\n")
        self.wfile.flush()


class HeadServer(socketserver.ThreadingTCPServer):
    """The head's node table, served on `(ip, port)`; its own node is the first entry."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, ip: str, port: int, head: dict[str, Any]) -> None:
        self.lock = threading.Lock()
        self.nodes: dict[str, dict[str, Any]] = {head["node_id"]: head}
        super().__init__((ip, port), _Handler)

    def snapshot(self) -> list[dict[str, Any]]:
        """Every node now registered, the head first."""
        with self.lock:
            return list(self.nodes.values())


def _request(address: str, document: dict[str, Any], timeout: float) -> tuple[socket.socket, Any]:
    host, _, port = address.rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        sock.sendall(json.dumps(document).encode() + b"\n")
        line = sock.makefile("rb").readline()
        if not line:
            raise ConnectionError(f"no answer from {address}")
        return sock, json.loads(line)
    except BaseException:
        sock.close()
        raise


def nodes(address: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The cluster's nodes, from its head at `address` (`OSError` when unreachable)."""
    sock, answer = _request(address, {"op": "status"}, timeout)
    sock.close()
    return list(answer.get("nodes", []))


def register(address: str, record: dict[str, Any], timeout: float = 5.0) -> socket.socket:
    """Register `record` with the head; the open connection keeps it registered until closed."""
    sock, _ = _request(address, {"op": "register", "node": record}, timeout)
    sock.settimeout(None)
    return sock


def cluster_address(env: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """The cluster to talk to: `RAY_ADDRESS` (unless `auto`), else the container's address file."""
    value = env.get("RAY_ADDRESS")
    if value and value != "auto":
        return value
    root = env.get("SANDBOX_CONTAINER_ROOT")
    if root:
        with contextlib.suppress(OSError):
            text = address_file(Path(root)).read_text().strip()
            return text or None
    return None


def _gib(value: float) -> str:
    return f"{value / 2**30:.2f}GiB"


def status_text(cluster: list[dict[str, Any]], now: datetime | None = None) -> str:
    """`ray status` for these nodes, in Ray 2.4x's format (`autoscaler/_private/util.py`,
    `format_info_string`): one `Active:` line per node, then total usage of each resource."""
    stamp = (now or datetime.now()).strftime("%Y-%m-%d %H:%M:%S.%f")
    rule = "-" * 63
    cpus = float(sum(n["CPU"] for n in cluster))
    gpus = float(sum(n["GPU"] for n in cluster))
    memory = sum(n["memory"] for n in cluster)
    store = sum(n["object_store_memory"] for n in cluster)
    lines = [
        f"======== Autoscaler status: {stamp} ========",
        "Node status",
        rule,
        "Active:",
        *[f" 1 node_{n['node_id']}" for n in cluster],
        "Pending:",
        " (no pending nodes)",
        "Recent failures:",
        " (no failures)",
        "",
        "Resources",
        rule,
        "Total Usage:",
        f" 0.0/{cpus} CPU",
        *([f" 0.0/{gpus} GPU"] if gpus else []),
        f" 0B/{_gib(memory)} memory",
        f" 0B/{_gib(store)} object_store_memory",
        "",
        "From request_resources:",
        " (none)",
        "Pending Demands:",
        " (no resource demands)",
    ]
    return "\n".join(lines)


def total_gpus(address: str | None, local_gpus: int) -> int:
    """GPUs of the cluster at `address`; without one, a new single-node Ray would have `local_gpus`."""
    if address is None:
        return local_gpus
    return int(sum(n.get("GPU", 0) for n in nodes(address)))
