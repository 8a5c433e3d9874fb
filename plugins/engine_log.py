"""Diagnostics a provider sends to the user through the engine's `Log` service.

A provider's own stdout and stderr are hidden by the engine, so what a user must see (a warning, a
command's output as it runs) goes through `pulumirpc.Engine/Log`, tied to the resource's URN.
`ephemeral=True` makes it a status line that disappears when the step ends, as upstream does for
streamed command output.
"""

from __future__ import annotations

import logging

import grpc
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

from plugins.serve import GRPC_OPTIONS

SEVERITY = {
    "debug": engine_pb2.DEBUG,
    "info": engine_pb2.INFO,
    "warning": engine_pb2.WARNING,
    "error": engine_pb2.ERROR,
}


class EngineLog:
    """A client of the engine's `Log` RPC; failures are written to the plugin log, never raised."""

    def __init__(self, address: str, logger: logging.Logger) -> None:
        self._logger = logger
        self._stub = (
            engine_pb2_grpc.EngineStub(grpc.insecure_channel(address, options=GRPC_OPTIONS))
            if address
            else None
        )

    def log(self, severity: str, message: str, urn: str = "", ephemeral: bool = False) -> None:
        self._logger.info("engine log %s %s: %s", severity, urn, message)
        if self._stub is None:
            return
        try:
            self._stub.Log(
                engine_pb2.LogRequest(
                    severity=SEVERITY[severity], message=message, urn=urn, ephemeral=ephemeral
                )
            )
        except grpc.RpcError as exc:
            self._logger.warning("engine Log failed: %s", exc)

    def info(self, message: str, urn: str = "", ephemeral: bool = False) -> None:
        self.log("info", message, urn, ephemeral)

    def warning(self, message: str, urn: str = "") -> None:
        self.log("warning", message, urn)
