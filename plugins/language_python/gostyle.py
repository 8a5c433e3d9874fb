"""Texts shaped as upstream's Go host writes them, so a message reads the same on either host.

Upstream is written in Go, and its errors embed Go's own texts: `exec.ExitError` ("exit status 1",
"signal: killed"), `os.PathError` from starting a process ("fork/exec <path>: no such file or
directory"), a gRPC status ("rpc error: code = InvalidArgument desc = ..."), `%q` quoting and
`json.Marshal` (sorted keys, no spaces, `<`, `>` and `&` escaped). Each helper names its Go source.
"""

from __future__ import annotations

import json
import os
import signal

import grpc

GO_CODE_NAMES = {
    grpc.StatusCode.OK: "OK",
    grpc.StatusCode.CANCELLED: "Canceled",
    grpc.StatusCode.UNKNOWN: "Unknown",
    grpc.StatusCode.INVALID_ARGUMENT: "InvalidArgument",
    grpc.StatusCode.DEADLINE_EXCEEDED: "DeadlineExceeded",
    grpc.StatusCode.NOT_FOUND: "NotFound",
    grpc.StatusCode.ALREADY_EXISTS: "AlreadyExists",
    grpc.StatusCode.PERMISSION_DENIED: "PermissionDenied",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "ResourceExhausted",
    grpc.StatusCode.FAILED_PRECONDITION: "FailedPrecondition",
    grpc.StatusCode.ABORTED: "Aborted",
    grpc.StatusCode.OUT_OF_RANGE: "OutOfRange",
    grpc.StatusCode.UNIMPLEMENTED: "Unimplemented",
    grpc.StatusCode.INTERNAL: "Internal",
    grpc.StatusCode.UNAVAILABLE: "Unavailable",
    grpc.StatusCode.DATA_LOSS: "DataLoss",
    grpc.StatusCode.UNAUTHENTICATED: "Unauthenticated",
}
"""google.golang.org/grpc/codes `Code.String()`."""


def exit_error(returncode: int) -> str:
    """`(*exec.ExitError).Error()`: `exit status N`, or `signal: <name>` for a process a signal ended."""
    if returncode >= 0:
        return f"exit status {returncode}"
    return f"signal: {_lower_first(signal.strsignal(-returncode) or f'signal {-returncode}')}"


def wait_status(returncode: int) -> int:
    """`syscall.WaitStatus.ExitStatus()`: the exit code, or -1 for a process a signal ended."""
    return returncode if returncode >= 0 else -1


def start_error(path: str, error: OSError) -> str:
    """`os.StartProcess`'s `*PathError`: `fork/exec <path>: <errno text>`."""
    reason = os.strerror(error.errno) if error.errno else str(error)
    return f"fork/exec {path}: {_lower_first(reason)}"


def status_error(error: grpc.RpcError) -> str:
    """A gRPC error as grpc-go's `status.Error` prints it."""
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = error.details() if isinstance(error, grpc.Call) else str(error)
    return f"rpc error: code = {GO_CODE_NAMES.get(code, 'Unknown')} desc = {details}"


def quote(text: str) -> str:
    """Go's `%q` for the plain strings (paths, option values) this host quotes."""
    return json.dumps(text, ensure_ascii=False)


def json_marshal(value: object) -> str:
    """`encoding/json.Marshal`: map keys sorted, no spaces, HTML-sensitive characters escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _lower_first(text: str) -> str:
    """Go's errno and signal texts are the C library's, starting lower-case."""
    return text[:1].lower() + text[1:]
