"""The `pulumirpc.ResourceProvider` service of the command plugin.

Answers as upstream's server (github.com/pulumi/pulumi-go-provider v1.3.0 `provider.go`) does:
GetPluginInfo `1.2.1`; no Handshake (the server embeds `UnimplementedResourceProviderServer` and
v1.3.0 defines no Handshake, so the engine gets UNIMPLEMENTED and falls back to Configure); Configure
answers `acceptSecrets`, `supportsPreview`, `acceptResources`, `acceptOutputs` and nothing else
(`provider.go:777-800`) and notes whether the engine sends old inputs (`:780`); CheckConfig/DiffConfig
for a provider without configuration; the resource calls through `remote_command`, property maps in
wire form, secrets where they are (`provider.go:649-669`). Cancel cancels every running command and
stops the plugin.

A failed step is an `UNKNOWN` status whose message is upstream's error; a failed create returns no
partial state (`infer/resource.go:1291-1293`). The plugin's own log file gets the step and its outcome,
never a command's output or error text (those can hold what a command printed).
"""

from __future__ import annotations

import concurrent.futures
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

from plugins.command import VERSION, remote_command
from plugins.command.background import LoopThread
from plugins.command.run import CommandFailed, Run, execute
from plugins.command.schema import INPUT_FIELDS
from plugins.command.stream import EngineStream
from plugins.command.values import Props
from plugins.engine_log import EngineLog
from plugins.serve import Lifetime, engine_address
from plugins.wire import parse_urn, to_python, to_struct

T = TypeVar("T")

StepRequest = provider_pb2.CreateRequest | provider_pb2.UpdateRequest | provider_pb2.DeleteRequest
"""The requests that run a command."""

KINDS = {
    "add": provider_pb2.PropertyDiff.ADD,
    "add&replace": provider_pb2.PropertyDiff.ADD_REPLACE,
    "delete": provider_pb2.PropertyDiff.DELETE,
    "delete&replace": provider_pb2.PropertyDiff.DELETE_REPLACE,
    "update": provider_pb2.PropertyDiff.UPDATE,
    "update&replace": provider_pb2.PropertyDiff.UPDATE_REPLACE,
}
"""`DiffKind.rpc()` (`provider.go:105-122`)."""


class CommandProvider(provider_pb2_grpc.ResourceProviderServicer):
    """`command:remote:Command` over SSH; every other `command` resource fails at Check."""

    def __init__(self, lifetime: Lifetime, address: str, logger: logging.Logger) -> None:
        self._lifetime = lifetime
        self._logger = logger
        self._engine = EngineLog(address, _quiet(logger)) if address else None
        self._loop = LoopThread()
        self._supports_old_inputs = False

    # Plugin and provider configuration.

    def GetPluginInfo(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> plugin_pb2.PluginInfo:
        return plugin_pb2.PluginInfo(version=VERSION)

    def CheckConfig(
        self, request: provider_pb2.CheckRequest, context: grpc.ServicerContext
    ) -> provider_pb2.CheckResponse:
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(
        self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext
    ) -> provider_pb2.DiffResponse:
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE)

    def Configure(
        self, request: provider_pb2.ConfigureRequest, context: grpc.ServicerContext
    ) -> provider_pb2.ConfigureResponse:
        self._supports_old_inputs = request.sends_old_inputs and request.sends_old_inputs_to_delete
        return provider_pb2.ConfigureResponse(
            acceptSecrets=True, supportsPreview=True, acceptResources=True, acceptOutputs=True
        )

    def Cancel(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> empty_pb2.Empty:
        cancelled = self._loop.cancel_all()
        self._logger.info("Cancel: %d running command(s) cancelled", cancelled)
        self._lifetime.stopping.set()
        return empty_pb2.Empty()

    # Resources.

    def Check(
        self, request: provider_pb2.CheckRequest, context: grpc.ServicerContext
    ) -> provider_pb2.CheckResponse:
        checked, failures = remote_command.check(
            request.type or parse_urn(request.urn)[0], to_python(request.news)
        )
        return provider_pb2.CheckResponse(
            inputs=to_struct(checked),
            failures=[provider_pb2.CheckFailure(property=p, reason=r) for p, r in failures],
        )

    def Diff(
        self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext
    ) -> provider_pb2.DiffResponse:
        state = to_python(request.olds)
        result = remote_command.diff(
            self._old_inputs(request, state), to_python(request.news), state, list(request.ignoreChanges)
        )
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME
            if result.changes
            else provider_pb2.DiffResponse.DIFF_NONE,
            diffs=result.diffs,
            replaces=result.replaces,
            detailedDiff={
                path: provider_pb2.PropertyDiff(kind=KINDS[kind], inputDiff=False)
                for path, kind in result.detailed.items()
            },
            hasDetailedDiff=True,
        )

    def _old_inputs(self, request: provider_pb2.DiffRequest, state: Props) -> Props:
        """The engine's old inputs when it sends them (`resource.go:1194-1213`), else the state's inputs."""
        if self._supports_old_inputs:
            return to_python(request.old_inputs)
        return {key: state[key] for key in INPUT_FIELDS if key in state}

    def Create(
        self, request: provider_pb2.CreateRequest, context: grpc.ServicerContext
    ) -> provider_pb2.CreateResponse:
        inputs = to_python(request.properties)
        resource_id, outputs = self._step(
            "Create",
            request,
            context,
            lambda execute: remote_command.create(
                remote_command.name_of(request.urn, request.name), inputs, request.preview, execute
            ),
        )
        return provider_pb2.CreateResponse(id=resource_id, properties=to_struct(outputs))

    def Update(
        self, request: provider_pb2.UpdateRequest, context: grpc.ServicerContext
    ) -> provider_pb2.UpdateResponse:
        state, news = to_python(request.olds), to_python(request.news)
        ignore = list(request.ignoreChanges)
        outputs = self._step(
            "Update",
            request,
            context,
            lambda execute: remote_command.update(state, news, request.preview, ignore, execute),
        )
        return provider_pb2.UpdateResponse(properties=to_struct(outputs))

    def Delete(self, request: provider_pb2.DeleteRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        state = to_python(request.properties)
        self._step("Delete", request, context, lambda execute: remote_command.delete(state, execute))
        return empty_pb2.Empty()

    def Read(
        self, request: provider_pb2.ReadRequest, context: grpc.ServicerContext
    ) -> provider_pb2.ReadResponse:
        return provider_pb2.ReadResponse(id=request.id, properties=request.properties, inputs=request.inputs)

    # Helpers.

    def _step(
        self,
        step: str,
        request: StepRequest,
        context: grpc.ServicerContext,
        action: Callable[[remote_command.Execute], T],
    ) -> T:
        """Run `action(execute)` for the resource of `request`; a failed command aborts the call."""
        preview = f" (preview={request.preview})" if hasattr(request, "preview") else ""
        self._logger.info("%s %s%s", step, request.urn, preview)
        try:
            return action(self._executor(request.urn))
        except CommandFailed as exc:
            message = str(exc)
        self._logger.info("%s %s failed (the error went to the engine)", step, request.urn)
        context.abort(grpc.StatusCode.UNKNOWN, message)
        raise AssertionError("abort returns only by raising")  # pragma: no cover

    def _executor(self, urn: str) -> remote_command.Execute:
        def run(step: Run) -> tuple[str, str]:
            stream = EngineStream(self._engine, urn)
            try:
                return self._loop.run(execute(step, stream))
            except concurrent.futures.CancelledError:
                raise CommandFailed(f"command {remote_command.name_of(urn)!r} was cancelled") from None
            finally:
                stream.close()

        return run


def _quiet(logger: logging.Logger) -> logging.Logger:
    """A child logger for `EngineLog` that keeps its failures but not the messages it forwards:
    command output goes to the engine unmasked (as upstream), never into the plugin's log file."""
    child = logger.getChild("engine")
    child.setLevel(logging.WARNING)
    return child


def register(server: grpc.Server, lifetime: Lifetime) -> None:
    """Add the provider service to `server` (the `register` of `plugins.serve.serve`)."""
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(
        CommandProvider(lifetime, engine_address(sys.argv[1:]), logging.getLogger("command")), server
    )
