"""The HTTP scaffold of the emulated services (Tailscale API, Aperture, vLLM), after moto's `core`.

Each emulator is an `EmulatorServer` (a stdlib `ThreadingHTTPServer`, daemon threads, loopback)
holding its `backend` (the emulated state) and its fault switches' file, with an `EmulatorHandler`
subclass (`handler_class`) that names the methods it serves in `methods` and answers each request in
`dispatch()`: it reads the body with `read_body()`, builds a `Reply` (usually with
`json_reply`) before sending anything, so the audit line (sandbox/audit.py) is written first, then
`send_reply()`. `serve_loopback` refuses any host but loopback, binds, and runs the server in a
daemon thread (`serve_in_thread`); the `Serving` handle it returns unpacks as `(server, thread)` and
its `stop()` shuts the server down.

What stays per service: the protocol version (the Tailscale API and vLLM speak HTTP/1.1 keep-alive,
Aperture HTTP/1.0), the `Server` header, logging (quiet, except the fake vLLM's uvicorn-style lines),
whether chunked request bodies are decoded, and the size limit on bodies. A method a handler does not
list is answered by the stdlib (501), as before.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

JSON = "application/json"
"""The content type of every JSON answer."""


@dataclass
class Reply:
    """A whole response, built before anything is sent: status, body, content type, extra headers."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = JSON
    """The `Content-Type` header; None sends none."""
    headers: dict[str, str] = field(default_factory=dict)
    """Headers sent after `Content-Type` and `Content-Length`, in order."""


def json_reply(
    document: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    separators: tuple[str, str] | None = None,
) -> Reply:
    """A JSON answer (`json.dumps` with the given separators, default Python's `", "` and `": "`)."""
    body = json.dumps(document, separators=separators).encode()
    return Reply(status, body, JSON, dict(headers or {}))


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback IP address (a name or a malformed address is not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


B = TypeVar("B")


class EmulatorServer(ThreadingHTTPServer, Generic[B]):
    """A threading HTTP server for one emulator's `backend`: daemon request threads, `url`, `stop()`."""

    daemon_threads = True
    allow_reuse_address = True
    handler_class: ClassVar[type[BaseHTTPRequestHandler]]
    """The emulator's `EmulatorHandler` subclass (set by each server class)."""

    def __init__(
        self,
        address: tuple[str, int],
        backend: B,
        faults_file: Path | None = None,
        *,
        bind_and_activate: bool = True,
    ) -> None:
        super().__init__(address, self.handler_class, bind_and_activate)
        self.backend = backend
        """What the handler answers from (the emulator's state)."""
        self.faults_file = faults_file
        """The fault switches' file (sandbox/faults.py), or None for none."""

    @property
    def url(self) -> str:
        """`http://host:port` of the bound socket."""
        host, port = self.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host_text}:{port}"

    def stop(self) -> None:
        """Stop serving (`serve_forever` must be running or have run) and close the socket."""
        self.shutdown()
        self.server_close()


class EmulatorHandler(BaseHTTPRequestHandler):
    """One request of an emulator: `do_<METHOD>` for each of `methods` calls `dispatch()`."""

    methods: ClassVar[tuple[str, ...]] = ()
    """HTTP methods served; any other gets the stdlib's 501."""

    chunked_requests: ClassVar[bool] = False
    """Decode `Transfer-Encoding: chunked` request bodies (otherwise only `Content-Length` counts)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for method in cls.methods:
            setattr(cls, f"do_{method}", EmulatorHandler._dispatch_request)

    def _dispatch_request(self) -> None:
        self.dispatch()

    def dispatch(self) -> None:
        """Answer the request (subclasses)."""
        raise NotImplementedError

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the audit log is the record."""

    def content_length(self) -> int:
        """The request's `Content-Length` (0 when absent)."""
        return int(self.headers.get("Content-Length") or 0)

    def read_body(self, limit: int | None = None) -> bytes:
        """The request body: chunked (when `chunked_requests`), else `Content-Length` bytes, at most `limit`."""
        if self.chunked_requests and "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunks()
        length = self.content_length()
        if limit is not None:
            length = min(length, limit)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunks(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def send_reply(self, reply: Reply) -> None:
        """Send `reply`: status, `Content-Type`, `Content-Length`, its headers, the body (not for HEAD)."""
        self.send_response(reply.status)
        if reply.content_type is not None:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.body and self.command != "HEAD":
            self.wfile.write(reply.body)


S = TypeVar("S", bound=EmulatorServer[Any])


class Serving(NamedTuple, Generic[S]):
    """A server running in a daemon thread; unpacks as `(server, thread)`."""

    server: S
    thread: threading.Thread

    def stop(self) -> None:
        """Shut the server down, close its socket and wait for the thread."""
        self.server.stop()
        self.thread.join(timeout=5)


def serve_in_thread(server: S, name: str, poll_interval: float = 0.05) -> Serving[S]:
    """Run `server.serve_forever` in a daemon thread called `name`."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": poll_interval}, name=name, daemon=True
    )
    thread.start()
    return Serving(server, thread)


def serve_loopback(
    server_class: type[S],
    host: str,
    port: int,
    backend: Any,
    faults_file: Path | None,
    *,
    name: str,
    refusal: str,
) -> Serving[S]:
    """Bind `server_class` for `backend` on a loopback `host` and serve it in a daemon thread `name`.

    The sandbox never listens outside loopback: any other host is a `ValueError(refusal)`, with
    `{host!r}` in `refusal` filled in.
    """
    if not is_loopback(host):
        raise ValueError(refusal.format(host=host))
    return serve_in_thread(server_class((host, port), backend, faults_file), name)
