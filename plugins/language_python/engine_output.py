"""Output shown to the user through the engine's `Log` service, as upstream's `createEngineWriters` does.

Upstream (main.go:491-544): `GetRequiredPackages` creates a missing virtualenv and shows pip's output
as it comes, each write one ephemeral `Log` call with no URN, a random stream id shared by both
writers, severity INFO for stdout and ERROR for stderr, invalid UTF-8 replaced.
"""

from __future__ import annotations

import logging
import random

import grpc
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

from plugins.serve import GRPC_OPTIONS


class EngineWriters:
    """An info writer and an error writer to the engine at `address`, for one operation."""

    def __init__(self, address: str, logger: logging.Logger) -> None:
        self._channel = grpc.insecure_channel(address, options=GRPC_OPTIONS)
        self._stub = engine_pb2_grpc.EngineStub(self._channel)
        self._stream_id = random.randint(0, 2**31 - 1)  # rand.Int31()
        self._logger = logger

    def info(self, chunk: bytes) -> None:
        self._log(engine_pb2.INFO, chunk)

    def error(self, chunk: bytes) -> None:
        self._log(engine_pb2.ERROR, chunk)

    def _log(self, severity: engine_pb2.LogSeverity.ValueType, chunk: bytes) -> None:
        message = chunk.decode("utf-8", errors="replace")
        try:
            self._stub.Log(
                engine_pb2.LogRequest(
                    severity=severity, message=message, urn="", ephemeral=True, streamId=self._stream_id
                )
            )
        except grpc.RpcError as exc:  # upstream's writer fails the write; the output is only progress
            self._logger.warning("engine Log failed: %s", exc)

    def close(self) -> None:
        self._channel.close()
