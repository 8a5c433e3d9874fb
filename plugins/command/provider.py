"""The `pulumirpc.ResourceProvider` service of the command plugin.

Answers as upstream (pulumi-go-provider) does: GetPluginInfo `1.2.1`, Configure with every capability
true, CheckConfig/DiffConfig for a provider without configuration, and the resource calls through
`remote_command`. Handshake is answered too (upstream leaves it unimplemented; the engine accepts both),
with `accept_secrets`, so secrets arrive wrapped and outputs keep their marking (see `remote_command`).
Cancel cancels every running command and stops the plugin.

A failed step is an `UNKNOWN` status whose message is the user's error; a failed create returns no
partial state (upstream stores nothing).
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
from plugins.command.redact import Redactor
from plugins.command.run import CommandFailed, Run, execute
from plugins.command.stream import EngineStream
from plugins.engine_log import EngineLog
from plugins.serve import Lifetime, engine_address
from plugins.wire import RevealedProps, parse_urn, to_python

T = TypeVar("T")

StepRequest = provider_pb2.CreateRequest | provider_pb2.UpdateRequest | provider_pb2.DeleteRequest
"""The requests that run a command."""

KINDS = {
    "add": provider_pb2.PropertyDiff.ADD,
    "delete": provider_pb2.PropertyDiff.DELETE,
    "update": provider_pb2.PropertyDiff.UPDATE,
}


class CommandProvider(provider_pb2_grpc.ResourceProviderServicer):
    """`command:remote:Command` over SSH; every other `command` resource fails at Check."""

    def __init__(self, lifetime: Lifetime, address: str, logger: logging.Logger) -> None:
        self._lifetime = lifetime
        self._logger = logger
        self._engine = EngineLog(address, logger) if address else None
        self._loop = LoopThread()

    # Plugin and provider configuration.

    def GetPluginInfo(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> plugin_pb2.PluginInfo:
        return plugin_pb2.PluginInfo(version=VERSION)

    def Handshake(
        self, request: provider_pb2.ProviderHandshakeRequest, context: grpc.ServicerContext
    ) -> provider_pb2.ProviderHandshakeResponse:
        if request.engine_address and self._engine is None:
            self._engine = EngineLog(request.engine_address, self._logger)
        return provider_pb2.ProviderHandshakeResponse(
            accept_secrets=True, accept_resources=True, accept_outputs=False
        )

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
        return provider_pb2.ConfigureResponse(
            acceptSecrets=True,
            supportsPreview=True,
            acceptResources=True,
            acceptOutputs=True,
            supports_autonaming_configuration=True,
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
            request.type or parse_urn(request.urn)[0], RevealedProps.from_struct(request.news)
        )
        return provider_pb2.CheckResponse(
            inputs=checked.to_struct(remote_command.ALWAYS_SECRET),
            failures=[provider_pb2.CheckFailure(property=p, reason=r) for p, r in failures],
        )

    def Diff(
        self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext
    ) -> provider_pb2.DiffResponse:
        old = request.old_inputs if to_python(request.old_inputs) else request.olds
        result = remote_command.diff(
            RevealedProps.from_struct(old),
            RevealedProps.from_struct(request.news),
            list(request.ignoreChanges),
        )
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME
            if result.keys
            else provider_pb2.DiffResponse.DIFF_NONE,
            diffs=result.keys,
            detailedDiff={
                path: provider_pb2.PropertyDiff(kind=KINDS[kind], inputDiff=True)
                for path, kind in result.detailed.items()
            },
            hasDetailedDiff=True,
        )

    def Create(
        self, request: provider_pb2.CreateRequest, context: grpc.ServicerContext
    ) -> provider_pb2.CreateResponse:
        inputs = RevealedProps.from_struct(request.properties)
        resource_id, outputs = self._step(
            "Create",
            request,
            context,
            lambda name, execute: remote_command.create(name, inputs, request.preview, execute),
        )
        return provider_pb2.CreateResponse(
            id=resource_id, properties=outputs.to_struct(remote_command.ALWAYS_SECRET)
        )

    def Update(
        self, request: provider_pb2.UpdateRequest, context: grpc.ServicerContext
    ) -> provider_pb2.UpdateResponse:
        state = RevealedProps.from_struct(request.olds)
        news = RevealedProps.from_struct(request.news)
        outputs = self._step(
            "Update",
            request,
            context,
            lambda name, execute: remote_command.update(name, state, news, request.preview, execute),
        )
        return provider_pb2.UpdateResponse(properties=outputs.to_struct(remote_command.ALWAYS_SECRET))

    def Delete(self, request: provider_pb2.DeleteRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        state = RevealedProps.from_struct(request.properties)
        self._step(
            "Delete", request, context, lambda name, execute: remote_command.delete(name, state, execute)
        )
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
        action: Callable[[str, remote_command.Execute], T],
    ) -> T:
        """Run `action(name, execute)` for the resource of `request`; a failed command aborts the call."""
        preview = f" (preview={request.preview})" if hasattr(request, "preview") else ""
        self._logger.info("%s %s%s", step, request.urn, preview)
        name = remote_command.name_of(request.urn, request.name)
        try:
            return action(name, self._executor(request.urn))
        except CommandFailed as exc:
            message = str(exc)
        self._logger.info("%s %s failed: %s", step, request.urn, message)
        context.abort(grpc.StatusCode.UNKNOWN, message)
        raise AssertionError("abort returns only by raising")  # pragma: no cover

    def _executor(self, urn: str) -> remote_command.Execute:
        def run(step: Run, redact: Redactor) -> tuple[str, str]:
            stream = EngineStream(self._engine, urn, redact)
            try:
                return self._loop.run(execute(step, stream, redact))
            except concurrent.futures.CancelledError:
                raise CommandFailed(f"command {step.resource!r} was cancelled") from None
            finally:
                stream.close()

        return run


def register(server: grpc.Server, lifetime: Lifetime) -> None:
    """Add the provider service to `server` (the `register` of `plugins.serve.serve`)."""
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(
        CommandProvider(lifetime, engine_address(sys.argv[1:]), logging.getLogger("command")), server
    )
