"""HTTP layer of the Aperture emulator: parse the request, call `ApertureBackend`, answer JSON.

Routes (the real gateway's, docs/architecture.md §10.2), on the HTTP scaffold (sandbox/http.py, HTTP/1.0):

| Request | Answer |
|---|---|
| `GET /aperture/config` | 200 `{"config": <redacted>}` + `ETag` (admin) |
| `PUT /aperture/config` | `If-Match` required (428), stale (412), invalid (422), 200 + new `ETag` |
| `POST /aperture/config:validate` | 200 `{"valid", "errors"}`; never writes |
| `GET /v1/models` | the caller's models (any role) |
| `POST /v1/chat/completions`, `POST /chat/completions` | routed to a provider by `model`; 429 with `Retry-After` while a rejecting quota bucket is spent |
| `GET /api/quotas` | the quota buckets the caller may see, with balances (any role) |
| `POST /api/quotas/refill` | `{"bucket", "amount"}`: add to a bucket, up to its capacity (admin) |
| `GET /api/usage` | SANDBOX ONLY: `{"records": [...]}`, every usage record so far |

Fault switches (sandbox/faults.py), for requests of the deploy (no `X-Sandbox-Identity`) to
`/aperture/*`: `aperture.error` answers a burst of 5xx in their place; `aperture.race` holds the
answer to a `GET /aperture/config` until another writer has changed the document, so the deploy's
next `PUT` carries a stale `If-Match` and gets a real 412.

Loopback only: `serve` refuses any other address. The caller's identity comes from the sandbox-only
`X-Sandbox-Identity` header (see `models.py`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from sandbox import faults
from sandbox.aperture import errors
from sandbox.aperture.models import DEFAULT_CONFIG, ApertureBackend
from sandbox.http import EmulatorHandler, EmulatorServer, Reply, Serving, json_reply, serve_loopback

REFUSAL = "the Aperture emulator listens on loopback only, not {host!r}"
"""The ValueError of `serve` for a host that is not loopback (the sandbox never listens outside)."""

IDENTITY_HEADER = "X-Sandbox-Identity"
"""SANDBOX ONLY: the request header that states the caller's Tailscale identity."""

INFERENCE_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
"""Paths routed to a provider by the request's `model`."""

MAX_BODY = 16 * 1024 * 1024
"""Largest request body read (bytes)."""


class ApertureHandler(EmulatorHandler):
    """One request: dispatch by method and path, turn `ApertureError`s into upstream-shaped bodies."""

    server: ApertureServer
    server_version = "aperture-emulator/0"
    methods = ("GET", "PUT", "POST", "DELETE")

    # -- plumbing ------------------------------------------------------------------------------

    def dispatch(self) -> None:
        """Answer one request; the audit line is written before the answer is sent."""
        backend = self.server.backend
        path = urlsplit(self.path).path
        identity = backend.identity(self.headers.get(IDENTITY_HEADER))
        mutating = (self.command, path) in (("PUT", "/aperture/config"), ("POST", "/api/quotas/refill"))
        deploy = path.startswith("/aperture/") and self.headers.get(IDENTITY_HEADER) is None
        try:
            reply = self._injected_error(path) if deploy else None
            if reply is None:
                reply = self._route(backend, path, identity)
        except errors.ApertureError as exc:
            reply = Reply(exc.status, exc.body(path), exc.content_type(), exc.headers())
        # Audit before answering, so that a client that has its answer also finds the audit line.
        backend.audit(self.command, path, identity, reply.status, mutating)
        if deploy and self.command == "GET" and path == "/aperture/config" and reply.status == 200:
            self._race(reply.headers["ETag"])
        self.send_reply(reply)

    def _injected_error(self, path: str) -> Reply | None:
        """The answer of a firing `aperture.error` switch, or None to serve the request."""
        fault = faults.take(self.server.faults_file, "aperture.error", f"{self.command} {path}")
        if fault is None:
            return None
        self._body()
        status = int(fault.get("status", 503))
        return json_reply(
            {"title": "Service Unavailable", "status": status, "detail": "sandbox: injected"}, status
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
            return json_reply({"config": text}, headers={"ETag": etag})
        if path == "/aperture/config" and method == "PUT":
            body = self._config_body()
            text, etag = backend.put_config(identity, body, self.headers.get("If-Match"))
            return json_reply({"config": text}, headers={"ETag": etag})
        if path == "/aperture/config:validate" and method == "POST":
            problems = backend.validate(identity, self._config_body())
            return json_reply({"valid": not problems, "errors": problems or None})
        if path.startswith("/aperture/"):
            raise errors.not_found_problem(path)
        if path == "/v1/models" and method == "GET":
            return json_reply(backend.list_models(identity))
        if path in INFERENCE_PATHS and method == "POST":
            headers = {name: value for name, value in self.headers.items()}
            response = backend.chat_completion(identity, self.path, self._body(), headers)
            return Reply(response.status, response.body, response.content_type)
        if path == "/api/quotas" and method == "GET":
            return json_reply(backend.quotas(identity))
        if path == "/api/quotas/refill" and method == "POST":
            return json_reply(backend.refill(identity, self._json_body()))
        if path == "/api/usage" and method == "GET":
            return json_reply({"records": backend.usage()})
        raise errors.not_found(path)

    def _body(self) -> bytes:
        if self.content_length() > MAX_BODY:
            raise errors.BadRequestError(f"request body larger than {MAX_BODY} bytes")
        return self.read_body()

    def _json_body(self) -> object:
        try:
            return json.loads(self._body() or b"null")
        except json.JSONDecodeError as exc:
            raise errors.BadRequestError(f"request body is not JSON: {exc.msg}") from None

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


class ApertureServer(EmulatorServer[ApertureBackend]):
    """A threading HTTP server bound to loopback that serves one `ApertureBackend` (`.backend`)."""

    handler_class = ApertureHandler


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
) -> Serving[ApertureServer]:
    """Start the emulator in a daemon thread; returns `(server, thread)`, a `Serving` handle.

    Pass a ready `backend`, or the options to build one. Stop it with `.stop()` (or
    `server.shutdown()` and `server.server_close()`).
    """
    if backend is None:
        backend = ApertureBackend(
            config,
            default_identity=default_identity,
            groups=groups,
            audit_path=audit_path,
            reachable=reachable,
        )
    return serve_loopback(
        ApertureServer, host, port, backend, faults_file, name="aperture-emulator", refusal=REFUSAL
    )
