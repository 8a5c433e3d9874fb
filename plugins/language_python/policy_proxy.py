"""A policy pack behind a proxy that hands it the stack it is analysing.

Upstream: github.com/pulumi/pulumi `sdk/policy_proxy.go` (`PolicyProxy`).

The engine starts a Python policy pack through the language host's `RunPlugin`, with only its own
address: project, stack and config come later, in the analyzer's `ConfigureStack` call. A pack
started at once would see no stack config, and this project's pack would then judge a development
stack by production rules. So, as upstream does, the proxy:

1. serves the Analyzer service itself and prints its own port (the engine reads it from the
   plugin's stdout, which `RunPlugin` streams);
2. answers `Handshake` and waits for `ConfigureStack`;
3. starts `python -u -m pulumi.policy <engine> <pack dir>` from the pack's virtualenv with
   `PULUMI_ORGANIZATION/PROJECT/STACK/DRY_RUN/CONFIG/CONFIG_SECRET_KEYS` in its environment, reads
   the pack's port, and forwards `ConfigureStack` and every later call to it.

A call that arrives before `ConfigureStack` (the engine only asking `GetAnalyzerInfo`, say) starts
the pack without a stack, as upstream does.
"""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import IO

import grpc
from google.protobuf import empty_pb2
from google.protobuf.message import Message
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, language_pb2

from plugins.serve import GRPC_OPTIONS

FORWARDED = ("Analyze", "AnalyzeStack", "Remediate", "GetAnalyzerInfo", "GetPluginInfo", "Configure")


@dataclass(frozen=True)
class PackLaunch:
    """How to start the pack: its interpreter, directory, engine address and base environment."""

    python: str
    pack_dir: str
    engine: str
    env: dict[str, str]


class PackProcess:
    """The running `python -m pulumi.policy` process and a stub to it."""

    def __init__(self, launch: PackLaunch, stack_env: dict[str, str], output: queue.Queue[object]) -> None:
        env = launch.env | stack_env | {"GRPC_VERBOSITY": "ERROR", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [launch.python, "-u", "-m", "pulumi.policy", launch.engine, launch.pack_dir],
            cwd=launch.pack_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        first = self.process.stdout.readline().decode().strip()
        if not first.isdigit():
            self.process.wait(timeout=30)
            err = self.process.stderr.read().decode(errors="replace")
            raise RuntimeError(
                f"the policy pack in {launch.pack_dir} did not start (exit {self.process.returncode}): "
                f"{(first + chr(10) + err).strip()}"
            )
        self.channel = grpc.insecure_channel(f"127.0.0.1:{first}", options=GRPC_OPTIONS)
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        for stream, field in ((self.process.stdout, "stdout"), (self.process.stderr, "stderr")):
            threading.Thread(target=_pump, args=(stream, field, output), daemon=True).start()

    def stop(self) -> None:
        self.channel.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _pump(stream: IO[bytes], field: str, output: queue.Queue[object]) -> None:
    """Each line the pack writes on `field` (stdout or stderr), as a RunPlugin response."""
    for chunk in iter(stream.readline, b""):
        response = language_pb2.RunPluginResponse()
        setattr(response, field, chunk)
        output.put(response)


def stack_environment(request: analyzer_pb2.AnalyzerStackConfigureRequest) -> dict[str, str]:
    """What pulumi_policy reads to configure its runtime for the stack under analysis."""
    return {
        "PULUMI_ORGANIZATION": request.organization,
        "PULUMI_PROJECT": request.project,
        "PULUMI_STACK": request.stack,
        "PULUMI_DRY_RUN": "true" if request.dry_run else "false",
        "PULUMI_CONFIG": json.dumps(dict(request.config)),
        "PULUMI_CONFIG_SECRET_KEYS": json.dumps(list(request.config_secret_keys)),
    }


class PolicyProxy(analyzer_pb2_grpc.AnalyzerServicer):
    """The Analyzer the engine talks to; the real pack starts once the stack is known."""

    def __init__(self, launch: PackLaunch, logger: logging.Logger) -> None:
        self.launch = launch
        self.logger = logger
        self.output: queue.Queue[object] = queue.Queue()
        self._pack: PackProcess | None = None
        self._lock = threading.Lock()

    def pack(self, stack_env: dict[str, str] | None = None) -> PackProcess:
        with self._lock:
            if self._pack is None:
                self.logger.info(
                    "starting policy pack %s (stack known: %s)", self.launch.pack_dir, bool(stack_env)
                )
                self._pack = PackProcess(self.launch, stack_env or {}, self.output)
                threading.Thread(target=self._watch, args=(self._pack,), daemon=True).start()
            return self._pack

    def _watch(self, pack: PackProcess) -> None:
        code = pack.process.wait()
        self.logger.info("policy pack exited %s", code)
        self.output.put(language_pb2.RunPluginResponse(exitcode=code))

    def stop(self) -> None:
        with self._lock:
            pack = self._pack
        if pack is not None:
            pack.stop()

    def Handshake(
        self, request: analyzer_pb2.AnalyzerHandshakeRequest, context: grpc.ServicerContext
    ) -> analyzer_pb2.AnalyzerHandshakeResponse:
        return analyzer_pb2.AnalyzerHandshakeResponse()

    def ConfigureStack(
        self, request: analyzer_pb2.AnalyzerStackConfigureRequest, context: grpc.ServicerContext
    ) -> analyzer_pb2.AnalyzerStackConfigureResponse:
        try:
            pack = self.pack(stack_environment(request))
        except RuntimeError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        return pack.stub.ConfigureStack(request)

    def Cancel(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> empty_pb2.Empty:
        with self._lock:
            pack = self._pack
        if pack is not None:
            try:
                pack.stub.Cancel(request)
            except grpc.RpcError as exc:
                self.logger.info("forwarding Cancel: %s", exc)
        return empty_pb2.Empty()


def _forwarder(method: str) -> Callable[[PolicyProxy, Message, grpc.ServicerContext], Message]:
    """A servicer method that hands the call to the pack as it is, and its answer back."""

    def forward(self: PolicyProxy, request: Message, context: grpc.ServicerContext) -> Message:
        try:
            return getattr(self.pack().stub, method)(request)
        except grpc.RpcError as exc:
            context.abort(exc.code(), exc.details() or str(exc))
        except RuntimeError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))

    forward.__name__ = method
    return forward


for _method in FORWARDED:
    setattr(PolicyProxy, _method, _forwarder(_method))


def run_policy_pack(
    launch: PackLaunch, logger: logging.Logger, context: grpc.ServicerContext
) -> Iterator[language_pb2.RunPluginResponse]:
    """`RunPlugin` for an analyzer: serve the proxy, stream its port and the pack's output."""
    proxy = PolicyProxy(launch, logger)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=GRPC_OPTIONS)
    analyzer_pb2_grpc.add_AnalyzerServicer_to_server(proxy, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    context.add_callback(proxy.stop)  # the engine hung up: stop the pack with it
    try:
        yield language_pb2.RunPluginResponse(stdout=f"{port}\n".encode())
        while context.is_active():
            try:
                item = proxy.output.get(timeout=0.5)
            except queue.Empty:
                continue
            assert isinstance(item, language_pb2.RunPluginResponse)
            yield item
            if item.WhichOneof("output") == "exitcode":
                return
    finally:
        proxy.stop()
        server.stop(grace=1)
