"""The ResourceProvider gRPC servicer: wire conversion, configuration, dispatch by token.

Secrets: the handshake and `ConfigureResponse` answer `acceptSecrets=false`, so the engine sends
inputs and old outputs unwrapped and re-marks outputs by input key; `key` (not an input) is
returned wrapped as a secret here, and the SDK also lists it in `additional_secret_outputs`.
Preview Create/Update (`supportsPreview`) return the engine's unknown for computed outputs.

Failures reach the engine as pulumi-terraform-bridge v3.135.0 sends them (`errors.py`): each error
diagnostic logged at error severity as `[ERROR] <detail>: <summary>` (with the resource's URN; none
for Configure and Invoke), then the first returned as the gRPC error; Check failures without a
property. Where upstream's Go code panics (`errors.GoPanic`), the bridge's panic report is logged
and the process dies as upstream's does (`panic.py`). Credentials are masked only in this plugin's
own log file, never in what the engine receives.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

from plugins.engine_log import EngineLog
from plugins.serve import Lifetime, engine_address
from plugins.tailscale import NAME, VERSION, panic
from plugins.tailscale import config as provider_config
from plugins.tailscale.acl import Acl
from plugins.tailscale.client import TailscaleAPI
from plugins.tailscale.dns_preferences import DnsPreferences
from plugins.tailscale.errors import GoPanic, NotImplementedToken, ProviderError
from plugins.tailscale.get_acl import TOKEN as GET_ACL
from plugins.tailscale.get_acl import get_acl
from plugins.tailscale.resource import Diff, Resource
from plugins.tailscale.tailnet_key import TailnetKey
from plugins.wire import UNKNOWN, Props, has_unknown, parse_urn, to_plain, to_struct

RESOURCES: dict[str, Resource] = {r.token: r for r in (Acl(), TailnetKey(), DnsPreferences())}
"""Every resource type this build implements, by token."""

FUNCTIONS: dict[str, Callable[[TailscaleAPI, Props], Props]] = {GET_ACL: get_acl}
"""Every invoke this build implements, by token."""

CONFIGURE_WAIT_SECONDS = 120.0

R = TypeVar("R")


class SecretScrubber(logging.Filter):
    """Replaces every known secret in a log record's text with `[secret]`."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            for value in self.secrets:
                text = text.replace(value, "[secret]")
            record.msg, record.args = text, None
        return True


def _struct(values: Props) -> struct_pb2.Struct:
    """`values` as a Struct, unset (None) properties left out."""
    return to_struct(values, omit_none=True)


def rpc(method: Callable[..., R]) -> Callable[..., R]:
    """Turn plugin errors into gRPC errors the engine shows as they are; log every call."""

    @functools.wraps(method)
    def wrapper(self: TailscaleProvider, request: Any, context: grpc.ServicerContext) -> R:
        urn = getattr(request, "urn", "")
        self.logger.info("%s %s", method.__name__, urn or getattr(request, "tok", ""))
        try:
            return method(self, request, context)
        except ProviderError as exc:
            self.logger.info("%s %s failed: %s", method.__name__, urn, exc)
            if exc.logged:
                for diagnostic in exc.diagnostics:
                    self.engine.log("error", diagnostic.log_line(), urn)
            context.abort(grpc.StatusCode.UNKNOWN, str(exc))
        except GoPanic as exc:
            self.logger.error("%s %s: upstream panics here: %s", method.__name__, urn, exc)
            panic.die(exc, method.__name__, urn, self.engine, self.stderr_fd)
        except Exception as exc:
            self.logger.exception("%s %s: internal error", method.__name__, urn)
            context.abort(
                grpc.StatusCode.INTERNAL, f"tailscale plugin internal error in {method.__name__}: {exc}"
            )
        raise AssertionError("abort returns only by raising")  # pragma: no cover

    return wrapper


class TailscaleProvider(provider_pb2_grpc.ResourceProviderServicer):
    """`pulumi:providers:tailscale`: Acl, TailnetKey, DnsPreferences and getAcl (module docstring)."""

    def __init__(
        self, lifetime: Lifetime, engine: EngineLog, logger: logging.Logger, stderr_fd: int = 2
    ) -> None:
        self.lifetime = lifetime
        self.stderr_fd = stderr_fd
        """The stderr the engine reads (this process's own fd 2 goes to the log file once serving)."""
        self.engine = engine
        self.logger = logger
        self.scrubber = SecretScrubber()
        logger.addFilter(self.scrubber)
        self._configured = threading.Event()
        self._api: TailscaleAPI | None = None
        self._config_error: ProviderError | None = None

    # -- plugin -----------------------------------------------------------------------------------

    @rpc
    def Handshake(
        self, request: provider_pb2.ProviderHandshakeRequest, context: grpc.ServicerContext
    ) -> provider_pb2.ProviderHandshakeResponse:
        if request.engine_address:
            self.engine = EngineLog(request.engine_address, self.logger)
        return provider_pb2.ProviderHandshakeResponse(accept_secrets=False, accept_resources=False)

    @rpc
    def GetPluginInfo(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> plugin_pb2.PluginInfo:
        return plugin_pb2.PluginInfo(version=VERSION)

    @rpc
    def Cancel(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.lifetime.stopping.set()
        return empty_pb2.Empty()

    # -- provider configuration -------------------------------------------------------------------

    @rpc
    def CheckConfig(
        self, request: provider_pb2.CheckRequest, context: grpc.ServicerContext
    ) -> provider_pb2.CheckResponse:
        return provider_pb2.CheckResponse(inputs=request.news)

    @rpc
    def DiffConfig(
        self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext
    ) -> provider_pb2.DiffResponse:
        olds, news = to_plain(request.olds), to_plain(request.news)
        keys = sorted(k for k in set(olds) | set(news) if k != "version")
        changed = [k for k in keys if has_unknown(news.get(k)) or olds.get(k) != news.get(k)]
        return _diff_response(Diff(updates=changed))

    @rpc
    def Configure(
        self, request: provider_pb2.ConfigureRequest, context: grpc.ServicerContext
    ) -> provider_pb2.ConfigureResponse:
        args = (
            to_plain(request.args)
            if request.HasField("args")
            else {key.rsplit(":", 1)[-1]: value for key, value in request.variables.items()}
        )
        try:
            config = provider_config.load(args)
        except ProviderError as exc:
            self._config_error = exc
            self._configured.set()
            raise
        self.scrubber.secrets = config.secrets()
        self._api = TailscaleAPI(config, self.logger)
        self._config_error = None
        self.logger.info("configured: %s", config)
        self._configured.set()
        return provider_pb2.ConfigureResponse(acceptSecrets=False, supportsPreview=True)

    def api(self) -> TailscaleAPI:
        """The configured client; waits for the engine's asynchronous Configure."""
        if not self._configured.wait(CONFIGURE_WAIT_SECONDS):
            message = "the tailscale provider was not configured: Configure never arrived"
            raise ProviderError(message, message, logged=False)
        if self._config_error is not None:
            message = str(self._config_error)
            raise ProviderError(message, message, logged=False)  # Configure logged it already
        assert self._api is not None
        return self._api

    # -- resources --------------------------------------------------------------------------------

    @staticmethod
    def resource(type_token: str, urn: str) -> tuple[Resource, str]:
        token, name = parse_urn(urn)
        resource = RESOURCES.get(type_token or token)
        if resource is None:
            raise NotImplementedToken(type_token or token)
        return resource, name

    @rpc
    def Check(
        self, request: provider_pb2.CheckRequest, context: grpc.ServicerContext
    ) -> provider_pb2.CheckResponse:
        resource, name = self.resource(request.type, request.urn)
        inputs, failures = resource.check(request.name or name, to_plain(request.news))
        return provider_pb2.CheckResponse(
            inputs=_struct(inputs),
            failures=[provider_pb2.CheckFailure(reason=f.reason) for f in failures],
        )

    @rpc
    def Diff(
        self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext
    ) -> provider_pb2.DiffResponse:
        resource, _ = self.resource(request.type, request.urn)
        diff = resource.diff(to_plain(request.olds), to_plain(request.news))
        ignored = set(request.ignoreChanges)
        diff.updates = [key for key in diff.updates if key not in ignored]
        diff.replaces = [key for key in diff.replaces if key not in ignored]
        return _diff_response(diff)

    @rpc
    def Create(
        self, request: provider_pb2.CreateRequest, context: grpc.ServicerContext
    ) -> provider_pb2.CreateResponse:
        resource, _ = self.resource(request.type, request.urn)
        id, outputs = resource.create(self.api(), to_plain(request.properties), request.preview)
        outputs["id"] = UNKNOWN if request.preview else id
        return provider_pb2.CreateResponse(id="" if request.preview else id, properties=_struct(outputs))

    @rpc
    def Read(
        self, request: provider_pb2.ReadRequest, context: grpc.ServicerContext
    ) -> provider_pb2.ReadResponse:
        resource, _ = self.resource(request.type, request.urn)
        result = resource.read(self.api(), request.id, to_plain(request.properties), to_plain(request.inputs))
        if not result.id:
            return provider_pb2.ReadResponse(id="")
        return provider_pb2.ReadResponse(
            id=result.id,
            properties=_struct(result.outputs | {"id": result.id}),
            inputs=_struct(result.inputs),
        )

    @rpc
    def Update(
        self, request: provider_pb2.UpdateRequest, context: grpc.ServicerContext
    ) -> provider_pb2.UpdateResponse:
        resource, _ = self.resource(request.type, request.urn)
        outputs = resource.update(
            self.api(), request.id, to_plain(request.olds), to_plain(request.news), request.preview
        )
        return provider_pb2.UpdateResponse(properties=_struct(outputs | {"id": request.id}))

    @rpc
    def Delete(self, request: provider_pb2.DeleteRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        resource, _ = self.resource(request.type, request.urn)
        resource.delete(self.api(), request.id, to_plain(request.properties))
        return empty_pb2.Empty()

    @rpc
    def Invoke(
        self, request: provider_pb2.InvokeRequest, context: grpc.ServicerContext
    ) -> provider_pb2.InvokeResponse:
        function = FUNCTIONS.get(request.tok)
        if function is None:
            raise NotImplementedToken(request.tok)
        result = function(self.api(), to_plain(request.args))
        return provider_pb2.InvokeResponse(**{"return": _struct(result)})


def _diff_response(diff: Diff) -> provider_pb2.DiffResponse:
    kinds = {key: provider_pb2.PropertyDiff.UPDATE for key in diff.updates}
    kinds |= {key: provider_pb2.PropertyDiff.UPDATE_REPLACE for key in diff.replaces}
    return provider_pb2.DiffResponse(
        changes=provider_pb2.DiffResponse.DIFF_SOME if diff.changed else provider_pb2.DiffResponse.DIFF_NONE,
        replaces=diff.replaces,
        diffs=sorted(kinds),
        detailedDiff={
            key: provider_pb2.PropertyDiff(kind=kind, inputDiff=True) for key, kind in kinds.items()
        },
        hasDetailedDiff=True,
    )


def register(server: grpc.Server, lifetime: Lifetime) -> None:
    """Add the provider to the plugin's gRPC server (`plugins.serve.serve`'s callback)."""
    logger = logging.getLogger(NAME)
    engine = EngineLog(engine_address(sys.argv[1:]), logger)
    stderr_fd = os.dup(2)  # before `serve` points fd 2 at the log file
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(
        TailscaleProvider(lifetime, engine, logger, stderr_fd), server
    )
