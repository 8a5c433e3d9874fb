"""Run one of the project's plugins as the engine does, and record what it tells the engine.

`start_plugin("plugins.tailscale")` starts `python -m plugins.tailscale <engine address>` in its
own process group, reads the port from its first stdout line, and gives a channel to it. The
`RecordingEngine` is a real `pulumirpc.Engine` server on loopback that keeps every `Log` call, so
tests can check what a user would see (warnings, streamed output) and that no secret is logged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LogLine:
    """One `Log` call the engine received."""

    severity: int
    message: str
    urn: str
    ephemeral: bool


@dataclass
class RecordingEngine(engine_pb2_grpc.EngineServicer):
    """An engine `Log` endpoint that keeps every line it is sent."""

    lines: list[LogLine] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def Log(self, request: engine_pb2.LogRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        with self._lock:
            self.lines.append(LogLine(request.severity, request.message, request.urn, request.ephemeral))
        return empty_pb2.Empty()

    def GetRootResource(self, request: object, context: object) -> engine_pb2.GetRootResourceResponse:
        return engine_pb2.GetRootResourceResponse()

    def SetRootResource(self, request: object, context: object) -> engine_pb2.SetRootResourceResponse:
        return engine_pb2.SetRootResourceResponse()

    def text(self) -> str:
        with self._lock:
            return "\n".join(line.message for line in self.lines)


@contextmanager
def recording_engine() -> Iterator[tuple[RecordingEngine, str]]:
    """A `RecordingEngine` served on `127.0.0.1:<port>`; yields it and its address."""
    engine = RecordingEngine()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield engine, f"127.0.0.1:{port}"
    finally:
        server.stop(0)


@dataclass
class RunningPlugin:
    """A started plugin: its process, port and a channel the test's stubs use."""

    process: subprocess.Popen[bytes]
    port: int
    channel: grpc.Channel

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT to the process group, as the engine does at the end; returns the exit code."""
        self.channel.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def start_plugin(
    module: str, engine_address: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> RunningPlugin:
    """`python -m <module> -v=3 <engine address>`, started the way the engine starts plugins."""
    full_env = dict(os.environ) | {"PYTHONPATH": str(ROOT), "GRPC_VERBOSITY": "ERROR"} | (env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", module, "-v=3", engine_address],
        cwd=cwd or ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline().decode().strip()
    if not first.isdigit():
        process.kill()
        _, err = process.communicate(timeout=10)
        raise AssertionError(f"{module} printed {first!r} instead of a port; stderr: {err.decode()}")
    port = int(first)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=10)
    return RunningPlugin(process, port, channel)
