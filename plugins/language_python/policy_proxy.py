"""A Python policy pack behind upstream's `PolicyProxy`, which hands it the stack it analyses.

Upstream: `sdk/policy_proxy.go` (sdk v3.274.1; lines cited as `policy_proxy.go:N`) and `RunPlugin`'s
analyzer branch (main.go:1644-1728). The engine starts a Python pack as `RunPlugin(kind=analyzer)` of
this host (`plugin_run.py`), dials the port the plugin prints, calls `Handshake`, then `ConfigureStack`
with the stack's organization, project, stack, dry-run flag and config (pkg
`resource/plugin/analyzer_plugin.go:199-236`), then `GetAnalyzerInfo`, `Analyze`, ... The pack
(`pulumi_policy`) reads the stack from its environment at start, so upstream's host:

1. serves this proxy, prints its port, and waits for the configuration (`AwaitConfiguration`);
2. `ConfigureStack` records the request and answers an empty response at once (policy_proxy.go:176);
   any other call first (e.g. `policy publish` asks `GetAnalyzerInfo` only) records "no stack";
3. starts `python -u -m pulumi.policy <args> <pack dir>` with `PULUMI_ORGANIZATION`,
   `PULUMI_PROJECT`, `PULUMI_STACK` (each only when not empty), `PULUMI_DRY_RUN` and `PULUMI_CONFIG`
   (only when there is config) over the toolchain's environment, and the request's `env` last
   (main.go:1659-1679; no `PULUMI_CONFIG_SECRET_KEYS`);
4. `Attach` (policy_proxy.go:104-170): reads the pack's port from its first stdout line (the rest of
   stdout, and all of stderr, go to the engine), dials it, forwards the recorded `ConfigureStack`
   (an empty request when there was no stack; `Unimplemented` is fine), and from then on forwards
   every call. A failed forward rejects the pack: calls answer `policy pack not started: policy pack
   configuration failed: rpc error: ...` and `RunPlugin` ends with that error;
5. `Cancel` is forwarded like any call: it starts the pack if need be and waits for it
   (policy_proxy.go:267).

One difference, kept on purpose: where the pack cannot be started at all, upstream (this main.go)
leaves the proxy's callers waiting for a pack that never comes (the engine hangs); here they fail
with `policy pack not started: <why>`, which is still a failure where upstream fails.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Generic, TypeVar

import grpc
from google.protobuf.message import Message
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, language_pb2

from plugins.language_python.gostyle import json_marshal, status_error
from plugins.language_python.plugin_run import (
    NOT_STARTED,
    Exited,
    PluginCommand,
    PluginError,
    exit_response,
    start_streamed,
)
from plugins.language_python.processes import Streamed
from plugins.serve import GRPC_OPTIONS

T = TypeVar("T")

FORWARDED = (
    "Analyze",
    "AnalyzeStack",
    "Remediate",
    "GetAnalyzerInfo",
    "GetPluginInfo",
    "Configure",
    "Cancel",
)
"""Every Analyzer call but `Handshake` and `ConfigureStack` waits for the pack and is forwarded."""

POLL_SECONDS = 0.2


class Rejected(Exception):
    """A `Completion` that failed: upstream's error text, and the gRPC code it carries.

    Go's `status.FromError` looks through `%w` wrapping, so an error that wraps the pack's gRPC
    error keeps the pack's code (e.g. `InvalidArgument`); any other is `Unknown`.
    """

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.UNKNOWN) -> None:
        super().__init__(message)
        self.code = code


class Completion(Generic[T]):
    """`promise.CompletionSource`: settled once (fulfilled or rejected), later settles are ignored."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._value: T | None = None
        self._error: Rejected | None = None

    def fulfill(self, value: T) -> bool:
        return self._settle(value, None)

    def reject(self, error: Rejected) -> bool:
        return self._settle(None, error)

    def _settle(self, value: T | None, error: Rejected | None) -> bool:
        with self._lock:
            if self._done.is_set():
                return False
            self._value, self._error = value, error
            self._done.set()
            return True

    def try_result(self) -> tuple[T | None, bool]:
        """`TryResult`: the value and whether it is settled (never rejected where this is used)."""
        return self._value, self._done.is_set()

    def result(self, active: Callable[[], bool]) -> T | None:
        """Wait while `active()` (the caller's gRPC context): the value, `Rejected`, or TimeoutError."""
        while not self._done.wait(POLL_SECONDS):
            if not active():
                raise TimeoutError("context canceled")
        if self._error is not None:
            raise self._error
        return self._value


class PolicyProxy(analyzer_pb2_grpc.AnalyzerServicer):
    """`PolicyProxy`: answers `Handshake` and `ConfigureStack`, forwards the rest to the pack."""

    def __init__(self) -> None:
        self.configuration: Completion[analyzer_pb2.AnalyzerStackConfigureRequest | None] = Completion()
        self.client: Completion[analyzer_pb2_grpc.AnalyzerStub] = Completion()

    def Handshake(
        self, request: analyzer_pb2.AnalyzerHandshakeRequest, context: grpc.ServicerContext
    ) -> analyzer_pb2.AnalyzerHandshakeResponse:
        return analyzer_pb2.AnalyzerHandshakeResponse()

    def ConfigureStack(
        self, request: analyzer_pb2.AnalyzerStackConfigureRequest, context: grpc.ServicerContext
    ) -> analyzer_pb2.AnalyzerStackConfigureResponse:
        """policy_proxy.go:176-182: record it for the pack's start; the answer does not wait."""
        self.configuration.fulfill(request)
        return analyzer_pb2.AnalyzerStackConfigureResponse()

    def await_client(self, context: grpc.ServicerContext) -> analyzer_pb2_grpc.AnalyzerStub:
        """`awaitClient` (policy_proxy.go:191-201): a call before `ConfigureStack` means no stack."""
        self.configuration.fulfill(None)
        try:
            client = self.client.result(context.is_active)
        except Rejected as exc:
            context.abort(exc.code, f"policy pack not started: {exc}")
        except TimeoutError as exc:
            context.abort(grpc.StatusCode.CANCELLED, f"policy pack not started: {exc}")
        assert client is not None
        return client


def _forwarder(method: str) -> Callable[[PolicyProxy, Message, grpc.ServicerContext], Message]:
    """A servicer method that waits for the pack, then hands it the call and returns its answer."""

    def forward(self: PolicyProxy, request: Message, context: grpc.ServicerContext) -> Message:
        client = self.await_client(context)
        try:
            response: Message = getattr(client, method)(request, timeout=_timeout(context))
        except grpc.RpcError as exc:
            context.abort(exc.code(), exc.details() or "")
        return response

    forward.__name__ = method
    return forward


for _method in FORWARDED:
    setattr(PolicyProxy, _method, _forwarder(_method))


def _timeout(context: grpc.ServicerContext) -> float | None:
    """The caller's deadline for the forwarded call (grpc reports "none" as a huge number)."""
    remaining = context.time_remaining()
    return remaining if remaining is not None and remaining < 1e9 else None


def stack_environment(config: analyzer_pb2.AnalyzerStackConfigureRequest | None) -> list[tuple[str, str]]:
    """The stack's variables for the pack (main.go:1659-1676): empty ones left out, no secret keys."""
    if config is None:
        return []
    pairs = [
        (key, value)
        for key, value in (
            ("PULUMI_ORGANIZATION", config.organization),
            ("PULUMI_PROJECT", config.project),
            ("PULUMI_STACK", config.stack),
        )
        if value
    ]
    pairs.append(("PULUMI_DRY_RUN", "true" if config.dry_run else "false"))
    if config.config:
        pairs.append(("PULUMI_CONFIG", json_marshal(dict(config.config))))
    return pairs


def read_port(line: bytes) -> tuple[int, str]:
    """`fmt.Fscanf(r, "%d\\n", &port)`: the port, or Go's error text for what was there instead."""
    if not line:
        return 0, "EOF"
    text = line.decode(errors="replace").lstrip(" \t")
    if text.startswith(("\n", "\r\n")):
        return 0, "unexpected newline"
    number = re.match(r"[+-]?\d+", text)
    if number is None:
        return 0, "expected integer"
    if text[number.end() :] not in ("", "\n", "\r\n"):
        return 0, "input does not match format"
    return int(number.group(0)), ""


class Attachment:
    """`Attach` (policy_proxy.go:104-170) in a thread: port, dial, forward the stack, wait for exit."""

    def __init__(self, proxy: PolicyProxy, process: Streamed, output: queue.Queue[object]) -> None:
        self.proxy = proxy
        self.process = process
        self.output = output
        self.channel: grpc.Channel | None = None

    def run(self) -> None:
        """Attach, then wait for the pack's exit; tell `RunPlugin` which of the two ended it."""
        error = self._attach()
        if error is not None:
            self.proxy.client.reject(error)
            self.output.put(Rejected(f"could not attach policy pack proxy: {error}", error.code))
            return
        self.output.put(Exited(self.process.wait()))

    def _attach(self) -> Rejected | None:
        """The reason the pack is not attached, or None once it is."""
        port, error = read_port(self.process.stdout.readline())
        if error:
            return Rejected(f"could not read policy pack port: {error}")
        self.process.pump_stdout()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=GRPC_OPTIONS)
        client = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        config, has = self.proxy.configuration.try_result()
        if has:
            try:
                client.ConfigureStack(config or analyzer_pb2.AnalyzerStackConfigureRequest())
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                    return Rejected(f"policy pack configuration failed: {status_error(exc)}", exc.code())
        self.proxy.client.fulfill(client)
        return None

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()


def run_policy_pack(
    command: PluginCommand, context: grpc.ServicerContext
) -> Iterator[language_pb2.RunPluginResponse]:
    """`RunPlugin` for an analyzer: serve the proxy, then start and attach the pack once configured."""
    proxy = PolicyProxy()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=GRPC_OPTIONS)
    analyzer_pb2_grpc.add_AnalyzerServicer_to_server(proxy, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    process: Streamed | None = None
    attachment: Attachment | None = None
    try:
        yield language_pb2.RunPluginResponse(stdout=f"{port}\n".encode())
        try:
            config = proxy.configuration.result(context.is_active)
        except TimeoutError:
            return  # the engine hung up before configuring: nothing to start
        output: queue.Queue[object] = queue.Queue()
        try:
            process = start_streamed(command, command.environment(stack_environment(config)), output)
        except PluginError as exc:
            proxy.client.reject(Rejected(str(exc)))  # upstream leaves callers waiting (the module's note)
            context.abort(grpc.StatusCode.UNKNOWN, str(exc))
            raise
        attachment = Attachment(proxy, process, output)
        threading.Thread(target=attachment.run, daemon=True).start()
        yield from _relay(output, context)
    finally:
        if process is not None:
            process.kill()  # exec.CommandContext: the call is over, the pack goes with it
        if attachment is not None:
            attachment.close()
        server.stop(grace=1)


def _relay(
    output: queue.Queue[object], context: grpc.ServicerContext
) -> Iterator[language_pb2.RunPluginResponse]:
    """The pack's output until it exits (its exit code if not 0) or the attachment fails."""
    while context.is_active():
        try:
            item = output.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
        if isinstance(item, Exited):
            yield from exit_response(item.code)
            return
        if isinstance(item, Rejected):
            context.abort(item.code, NOT_STARTED + str(item))
        assert isinstance(item, language_pb2.RunPluginResponse)
        yield item
