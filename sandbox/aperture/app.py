"""HTTP layer of the Aperture emulator: parse the request, call `ApertureBackend`, answer JSON.

Routes (reference/aperture.md §4):

| Request | Answer |
|---|---|
| `GET /aperture/config` | 200 `{"config": <redacted>}` + `ETag` (admin) |
| `PUT /aperture/config` | `If-Match` required (428), stale (412), invalid (422), 200 + new `ETag` |
| `POST /aperture/config:validate` | 200 `{"valid", "errors"}`; never writes |
| `GET /v1/models` | the caller's models (any role) |
| `POST /v1/chat/completions`, `POST /chat/completions` | routed to a provider by `model` |
| `GET /api/usage` | SANDBOX ONLY: `{"records": [...]}`, every usage record so far |

Fault switches (sandbox/faults.py), for requests of the deploy (no `X-Sandbox-Identity`) to
`/aperture/*`: `aperture.error` answers a burst of 5xx in their place; `aperture.race` holds the
answer to a `GET /aperture/config` until another writer has changed the document, so the deploy's
next `PUT` carries a stale `If-Match` and gets a real 412.

Loopback only: `serve` refuses any other address. The caller's identity comes from the sandbox-only
`X-Sandbox-Identity` header (see `models.py`).
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sandbox import faults
from sandbox.aperture import errors
from sandbox.aperture.models import DEFAULT_CONFIG, ApertureBackend

IDENTITY_HEADER = "X-Sandbox-Identity"
"""SANDBOX ONLY: the request header that states the caller's Tailscale identity."""

INFERENCE_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
"""Paths routed to a provider by the request's `model`."""

MAX_BODY = 16 * 1024 * 1024
"""Largest request body read (bytes)."""


class ApertureServer(ThreadingHTTPServer):
    """A threading HTTP server bound to loopback that serves one `ApertureBackend`."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], backend: ApertureBackend, faults_file: Path | None = None
    ) -> None:
        super().__init__(address, ApertureHandler)
        self.backend = backend
        self.faults_file = faults_file
        """The fault switches' file (sandbox/faults.py), or None for none."""

    @property
    def url(self) -> str:
        """`http://host:port` of the bound socket."""
        host, port = self.server_address[0], self.server_address[1]
        return f"http://{host!s}:{port}"


class ApertureHandler(BaseHTTPRequestHandler):
    """One request: dispatch by method and path, turn `ApertureError`s into upstream-shaped bodies."""

    server: ApertureServer
    server_version = "aperture-emulator/0"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the audit log records requests."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # -- plumbing ------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        backend = self.server.backend
        path = urlsplit(self.path).path
        identity = backend.identity(self.headers.get(IDENTITY_HEADER))
        mutating = self.command == "PUT" and path == "/aperture/config"
        deploy = path.startswith("/aperture/") and self.headers.get(IDENTITY_HEADER) is None
        try:
            reply = self._injected_error(path) if deploy else None
            if reply is None:
                reply = self._route(backend, path, identity)
        except errors.ApertureError as exc:
            reply = Reply(exc.status, exc.body(path), exc.content_type())
        # Audit before answering, so that a client that has its answer also finds the audit line.
        backend.audit(self.command, path, identity, reply.status, mutating)
        if deploy and self.command == "GET" and path == "/aperture/config" and reply.status == 200:
            self._race(reply.headers["ETag"])
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _injected_error(self, path: str) -> Reply | None:
        """The answer of a firing `aperture.error` switch, or None to serve the request."""
        fault = faults.take(self.server.faults_file, "aperture.error", f"{self.command} {path}")
        if fault is None:
            return None
        self._body()
        status = int(fault.get("status", 503))
        return _json(
            status, {"title": "Service Unavailable", "status": status, "detail": "sandbox: injected"}
        )

    def _race(self, etag: str) -> None:
        """Hold this answer (stale ETag) until another writer changes the document, if switched on."""
        path = self.server.faults_file
        fault = faults.take(path, "aperture.race")
        if fault is None or path is None:
            return
        faults.update(path, "aperture.race", waiting=etag)
        deadline = time.monotonic() + float(fault.get("timeoutSeconds", 15))
        while self.server.backend.etag == etag and time.monotonic() < deadline:
            time.sleep(0.02)
        faults.update(path, "aperture.race", waiting=None)

    def _route(self, backend: ApertureBackend, path: str, identity: str | None) -> Reply:
        method = self.command
        if path == "/aperture/config" and method == "GET":
            text, etag = backend.get_config(identity)
            return _json(200, {"config": text}, {"ETag": etag})
        if path == "/aperture/config" and method == "PUT":
            body = self._config_body()
            text, etag = backend.put_config(identity, body, self.headers.get("If-Match"))
            return _json(200, {"config": text}, {"ETag": etag})
        if path == "/aperture/config:validate" and method == "POST":
            problems = backend.validate(identity, self._config_body())
            return _json(200, {"valid": not problems, "errors": problems or None})
        if path.startswith("/aperture/"):
            raise errors.not_found_problem(path)
        if path == "/v1/models" and method == "GET":
            return _json(200, backend.list_models(identity))
        if path in INFERENCE_PATHS and method == "POST":
            headers = {name: value for name, value in self.headers.items()}
            response = backend.chat_completion(identity, self.path, self._body(), headers)
            return Reply(response.status, response.body, response.content_type)
        if path == "/api/usage" and method == "GET":
            return _json(200, {"records": backend.usage()})
        raise errors.NotFoundError(path)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise errors.BadRequestError(f"request body larger than {MAX_BODY} bytes")
        return self.rfile.read(length) if length > 0 else b""

    def _config_body(self) -> str:
        raw = self._body()
        try:
            document = json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            raise errors.bad_body(f"request body is not JSON: {exc.msg}") from None
        if not isinstance(document, dict) or "config" not in document:
            raise errors.bad_body("expected required property config to be present", "body")
        if not isinstance(document["config"], str):
            raise errors.bad_body("expected string", "body.config")
        return document["config"]


@dataclass(frozen=True)
class Reply:
    """A response, built before anything is sent (so the audit line comes first)."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(document).encode(), "application/json", dict(headers or {}))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    backend: ApertureBackend | None = None,
    config: str = DEFAULT_CONFIG,
    default_identity: str | None = None,
    groups: Mapping[str, Sequence[str]] | None = None,
    audit_path: str | Path | None = None,
    reachable: Callable[[str, int], bool] | None = None,
    faults_file: Path | None = None,
) -> tuple[ApertureServer, threading.Thread]:
    """Start the emulator in a daemon thread; returns the bound server (`server.server_address`).

    Pass a ready `backend`, or the options to build one. Stop it with `server.shutdown()` and
    `server.server_close()`.
    """
    if not _is_loopback(host):
        raise ValueError(f"the Aperture emulator listens on loopback only, not {host!r}")
    if backend is None:
        backend = ApertureBackend(
            config,
            default_identity=default_identity,
            groups=groups,
            audit_path=audit_path,
            reachable=reachable,
        )
    server = ApertureServer((host, port), backend, faults_file)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="aperture-emulator", daemon=True
    )
    thread.start()
    return server, thread
