"""HTTP layer of the Tailscale API emulator: routes under `/api/v2`, auth, content types, audit.

Serves the calls tailscale-client-go v2.9.0 makes for pulumi-tailscale (reference/tailscale-api.md
§2.1-2.5) on a stdlib `ThreadingHTTPServer` (HTTP/1.1 keep-alive, loopback only). Requests are
parsed here and answered by `models.TailnetState`; every error is a JSON `errors.APIError` body.

- Auth: `Authorization: Basic base64("<key>:")` or `Bearer <key>`, where the key is the API key or
  an OAuth access token from `POST /api/v2/oauth/token` (form `grant_type=client_credentials`,
  credentials in Basic auth, URL-encoded as x/oauth2 sends them, or in `client_id`/`client_secret`);
  otherwise 401 `{"message": "API token invalid"}`. Auth is checked before routing, so an unknown
  path without credentials is 401, with credentials 404 `{"message": "not found"}`.
- Tailnet in the path: `-` or the configured name; any other is 404.
- Policy file content type: GET answers JSON when `Accept` is absent, `*/*` or names
  `application/json`, HuJSON (the stored text, `Content-Type: application/hujson`) for any other
  `Accept`; a POST without `Accept` answers in the type it was sent in. `?details=1` answers
  `{"acl": <base64 text>, "warnings": [], "errors": []}`. The ETag header is on every 200.
- 2xx answers without a value are `{}` (the client needs a JSON body).
- Audit: each request becomes a `models.RequestRecord`; with `audit_path`, its `audit_line()` is
  appended to that file as one JSON line (`service`, `method`, `path`, `mutating`, `identity`,
  `status`), shared safely with other writers through single appends.
- Fault switch `tailscale.error` (sandbox/faults.py): a burst of 429 (with `Retry-After`) or 5xx
  answers in place of matching requests, recorded in the audit log with that status.
- Not emulated: webhooks, users, contacts, posture integrations, logging, services, device invites,
  split DNS, DNS configuration, workload identity federation.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, unquote_plus, urlsplit

import hujson
from sandbox import faults
from sandbox.tailscale import errors
from sandbox.tailscale.models import DEFAULT_API_KEY, DEFAULT_TAILNET, Identity, RequestRecord, TailnetState

API_PREFIX = "/api/v2"
"""Every route lives under this prefix (the client appends it to the base URL)."""

MUTATING_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
"""Methods that count as mutating in the audit log (except validate and the token endpoint)."""

HUJSON = "application/hujson"
JSON = "application/json"


@dataclass
class Request:
    """One parsed HTTP request, as route handlers see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message[str, str]
    body: bytes
    identity: Identity | None = None

    def text(self) -> str:
        """The body as UTF-8 text."""
        try:
            return self.body.decode()
        except UnicodeDecodeError:
            raise errors.bad_request("request body is not UTF-8") from None

    def json(self) -> Any:
        """The body as JSON (empty: Go's `unexpected end of JSON input`)."""
        text = self.text()
        if not text.strip():
            raise errors.bad_request(errors.UNEXPECTED_END_OF_JSON)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise errors.bad_request(f"invalid JSON body: {exc.msg} at line {exc.lineno}") from None

    def header(self, name: str) -> str | None:
        """A request header, case-insensitively."""
        return self.headers.get(name)


@dataclass
class Response:
    """What a handler answers: status, body, content type and extra headers."""

    status: int = 200
    body: bytes = b"{}"
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, document: Any, status: int = 200) -> Response:
        """A JSON answer."""
        return cls(status=status, body=json.dumps(document).encode())


Handler = Callable[[TailnetState, Request, dict[str, str]], Response]


@dataclass(frozen=True)
class Route:
    """A path pattern (below `/api/v2`), its handlers by method and the OAuth scope it needs."""

    pattern: re.Pattern[str]
    handlers: Mapping[str, Handler]
    scope: str
    read_methods: frozenset[str] = frozenset({"GET"})
    """Methods that only read (a `:read` scope suffices)."""


# -- policy file ----------------------------------------------------------------------------------


def _wants_json(request: Request) -> bool:
    accept = (request.header("Accept") or "").lower()
    if accept and "*/*" not in accept:
        return JSON in accept
    if request.method == "POST":
        return HUJSON not in (request.header("Content-Type") or "").lower()
    return True


def _policy_response(request: Request, text: str, etag: str) -> Response:
    if request.query.get("details", ["0"])[0] not in ("", "0", "false"):
        document = {"acl": base64.b64encode(text.encode()).decode(), "warnings": [], "errors": []}
        response = Response.json(document)
    elif _wants_json(request):
        response = Response(body=json.dumps(hujson.loads(text), indent=2).encode())
    else:
        response = Response(body=text.encode(), content_type=HUJSON)
    response.headers["ETag"] = etag
    return response


def get_acl(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`GET /tailnet/{t}/acl`: the stored policy (HuJSON verbatim or JSON) and its ETag."""
    text, etag = state.get_policy()
    return _policy_response(request, text, etag)


def post_acl(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`POST /tailnet/{t}/acl`: replace the policy (If-Match, validation, tests; empty = reset)."""
    state.set_policy(request.text(), request.header("If-Match"))
    text, etag = state.get_policy()
    return _policy_response(request, text, etag)


def validate_acl(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`POST /tailnet/{t}/acl/validate`: 200 `{}` or 200 `{"message", "data"?}`; never writes."""
    return Response.json(state.validate_policy(request.text()))


# -- keys -----------------------------------------------------------------------------------------


def list_keys(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`GET /tailnet/{t}/keys`."""
    return Response.json(state.list_keys())


def create_key(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`POST /tailnet/{t}/keys`."""
    assert request.identity is not None
    return Response.json(state.create_key(request.identity, request.json()))


def get_key(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`GET /tailnet/{t}/keys/{id}`."""
    return Response.json(state.get_key(params["key"]))


def delete_key(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`DELETE /tailnet/{t}/keys/{id}`."""
    state.delete_key(params["key"])
    return Response()


# -- devices --------------------------------------------------------------------------------------


def _all_fields(request: Request) -> bool:
    return "all" in request.query.get("fields", [])


def list_devices(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`GET /tailnet/{t}/devices[?fields=all][&<field>=<value>...]`."""
    filters = {key: values for key, values in request.query.items() if key != "fields"}
    return Response.json(state.list_devices(filters, _all_fields(request)))


def get_device(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`GET /device/{id}`."""
    return Response.json(state.get_device(params["device"], _all_fields(request)))


def delete_device(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`DELETE /device/{id}`."""
    state.delete_device(params["device"])
    return Response()


def set_device_tags(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`POST /device/{id}/tags`."""
    assert request.identity is not None
    state.set_device_tags(request.identity, params["device"], request.json())
    return Response()


def set_device_authorized(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`POST /device/{id}/authorized`."""
    state.set_device_authorized(params["device"], request.json())
    return Response()


def set_device_key(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`POST /device/{id}/key`."""
    state.set_device_key(params["device"], request.json())
    return Response()


def get_device_routes(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`GET /device/{id}/routes`."""
    return Response.json(state.device_routes(params["device"]))


def set_device_routes(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`POST /device/{id}/routes`."""
    return Response.json(state.set_device_routes(params["device"], request.json()))


# -- DNS and settings -----------------------------------------------------------------------------


def get_dns_preferences(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`GET /tailnet/{t}/dns/preferences`."""
    return Response.json(state.dns_preferences())


def set_dns_preferences(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`POST /tailnet/{t}/dns/preferences`."""
    return Response.json(state.set_dns_preferences(request.json()))


def get_dns_nameservers(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`GET /tailnet/{t}/dns/nameservers`."""
    return Response.json(state.dns_nameservers())


def set_dns_nameservers(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`POST /tailnet/{t}/dns/nameservers`."""
    return Response.json(state.set_dns_nameservers(request.json()))


def get_dns_search_paths(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`GET /tailnet/{t}/dns/searchpaths`."""
    return Response.json(state.dns_search_paths())


def set_dns_search_paths(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`POST /tailnet/{t}/dns/searchpaths`."""
    return Response.json(state.set_dns_search_paths(request.json()))


def get_settings(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`GET /tailnet/{t}/settings`."""
    return Response.json(state.get_settings())


def patch_settings(state: TailnetState, request: Request, params: dict[str, str]) -> Response:
    """`PATCH /tailnet/{t}/settings` (`null` = unchanged)."""
    return Response.json(state.patch_settings(request.json()))


def _route(pattern: str, scope: str, handlers: Mapping[str, Handler], **kwargs: Any) -> Route:
    return Route(re.compile(pattern), handlers, scope, **kwargs)


_TAILNET = r"/tailnet/(?P<tailnet>[^/]+)"
_DEVICE = r"/device/(?P<device>[^/]+)"

ROUTES: tuple[Route, ...] = (
    _route(_TAILNET + r"/acl", "policy_file", {"GET": get_acl, "POST": post_acl}),
    _route(
        _TAILNET + r"/acl/validate",
        "policy_file",
        {"POST": validate_acl},
        read_methods=frozenset({"POST"}),
    ),
    _route(_TAILNET + r"/keys", "auth_keys", {"GET": list_keys, "POST": create_key}),
    _route(_TAILNET + r"/keys/(?P<key>[^/]+)", "auth_keys", {"GET": get_key, "DELETE": delete_key}),
    _route(_TAILNET + r"/devices", "devices:core", {"GET": list_devices}),
    _route(_DEVICE, "devices:core", {"GET": get_device, "DELETE": delete_device}),
    _route(_DEVICE + r"/tags", "devices:core", {"POST": set_device_tags}),
    _route(_DEVICE + r"/authorized", "devices:core", {"POST": set_device_authorized}),
    _route(_DEVICE + r"/key", "devices:core", {"POST": set_device_key}),
    _route(_DEVICE + r"/routes", "devices:routes", {"GET": get_device_routes, "POST": set_device_routes}),
    _route(_TAILNET + r"/dns/preferences", "dns", {"GET": get_dns_preferences, "POST": set_dns_preferences}),
    _route(_TAILNET + r"/dns/nameservers", "dns", {"GET": get_dns_nameservers, "POST": set_dns_nameservers}),
    _route(
        _TAILNET + r"/dns/searchpaths", "dns", {"GET": get_dns_search_paths, "POST": set_dns_search_paths}
    ),
    _route(_TAILNET + r"/settings", "feature_settings", {"GET": get_settings, "PATCH": patch_settings}),
)
"""Every emulated route below `/api/v2`."""


# -- OAuth ----------------------------------------------------------------------------------------


def issue_token(state: TailnetState, request: Request) -> tuple[Response, str]:
    """`POST /oauth/token`: the client credentials grant; the answer and the audit identity."""
    form = parse_qs(request.text(), keep_blank_values=True)
    if form.get("grant_type", [""])[0] != "client_credentials":
        raise errors.bad_request('unsupported grant_type: want "client_credentials"')
    client_id = form.get("client_id", [""])[0]
    client_secret = form.get("client_secret", [""])[0]
    authorization = request.header("Authorization") or ""
    kind, _, credential = authorization.partition(" ")
    if kind.lower() == "basic":
        try:
            decoded = base64.b64decode(credential.strip(), validate=True).decode()
        except ValueError:
            raise errors.unauthorized() from None
        user, _, password = decoded.partition(":")
        client_id, client_secret = unquote_plus(user), unquote_plus(password)
    scope = form.get("scope", [None])[0]
    document = state.issue_token(client_id, client_secret, scope)
    return Response.json(document), f"oauth:{client_id}"


# -- dispatch -------------------------------------------------------------------------------------


def is_mutating(method: str, path: str) -> bool:
    """Does this request count as mutating in the audit log?"""
    if method not in MUTATING_METHODS:
        return False
    return not (path.endswith("/acl/validate") or path == API_PREFIX + "/oauth/token")


JOIN_PATH = "/sandbox/join"
"""SANDBOX ONLY: the control-plane side of `tailscale up --auth-key` (the `tailscale` shim's call)."""


def join(state: TailnetState, request: Request) -> tuple[Response, str]:
    """`POST /sandbox/join {"authKey", "hostname", "tags"}` -> the device, as `GET /device/{id}` shows it.

    Authenticated by the auth key itself, as a real join is (no API key). A refused key answers 400
    `{"message": "backend error: ..."}`, the text the real CLI prints.
    """
    if request.method != "POST":
        raise errors.method_not_allowed(request.method)
    body = request.json()
    if not isinstance(body, dict) or not isinstance(body.get("authKey"), str):
        raise errors.bad_request('sandbox join: expected {"authKey", "hostname", "tags"}')
    try:
        device = state.consume(body["authKey"], str(body.get("hostname") or ""), body.get("tags") or [])
    except errors.JoinError as exc:
        raise errors.bad_request(str(exc)) from None
    return Response.json(device.to_dict(all_fields=True)), f"join:{device.hostname}"


def dispatch(state: TailnetState, request: Request) -> tuple[Response, str]:
    """Answer one request; also returns the audit identity. Raises `errors.APIError`."""
    if request.path == JOIN_PATH:
        return join(state, request)
    if request.path == API_PREFIX + "/oauth/token":
        if request.method != "POST":
            raise errors.method_not_allowed(request.method)
        return issue_token(state, request)
    identity = state.authenticate(request.header("Authorization"))
    if identity is None:
        raise errors.unauthorized()
    request.identity = identity
    if not request.path.startswith(API_PREFIX + "/"):
        return _error_response(errors.not_found()), identity.name
    below = request.path[len(API_PREFIX) :]
    for route in ROUTES:
        match = route.pattern.fullmatch(below)
        if match is None:
            continue
        params = {key: unquote(value) for key, value in match.groupdict().items()}
        if "tailnet" in params and not state.tailnet_matches(params["tailnet"]):
            return _error_response(errors.not_found()), identity.name
        handler = route.handlers.get(request.method)
        if handler is None:
            return _error_response(errors.method_not_allowed(request.method)), identity.name
        if not identity.allows(route.scope, write=request.method not in route.read_methods):
            return _error_response(errors.forbidden()), identity.name
        try:
            return handler(state, request, params), identity.name
        except errors.APIError as exc:
            return _error_response(exc), identity.name
    return _error_response(errors.not_found()), identity.name


def _error_response(error: errors.APIError) -> Response:
    return Response(status=error.status, body=error.body())


class TailscaleServer(ThreadingHTTPServer):
    """The emulator's HTTP server; `.state` is the tailnet it serves, `.url` its base URL."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], state: TailnetState, faults_file: Path | None = None
    ) -> None:
        super().__init__(address, _RequestHandler)
        self.state = state
        """The emulated tailnet (tests and the sandbox read and seed it directly)."""
        self.faults_file = faults_file
        """The fault switches' file (sandbox/faults.py), or None for none."""

    @property
    def url(self) -> str:
        """Base URL for pulumi-tailscale's `base_url` (the client appends `/api/v2`)."""
        host, port = self.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host_text}:{port}"


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TailscaleServer

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the audit log is the record."""

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        state = self.server.state
        body = self._read_body()
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
        )
        identity = "anonymous"
        try:
            response = _injected_fault(self.server.faults_file, request)
            if response is None:
                response, identity = dispatch(state, request)
        except errors.APIError as exc:
            response = _error_response(exc)
        except Exception as exc:  # an emulator bug must still answer JSON
            response = _error_response(errors.APIError(500, f"sandbox internal error: {exc}"))
        oauth = request.path == API_PREFIX + "/oauth/token"
        # Recorded before answering, so a client that got its answer finds the request in the log.
        state.record(
            RequestRecord(
                method=request.method,
                path=request.path,
                query=split.query,
                if_match=self.headers.get("If-Match"),
                body="" if oauth else body.decode(errors="replace"),
                identity=identity,
                status=response.status,
                mutating=is_mutating(request.method, request.path),
            )
        )
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)


def _injected_fault(path: Path | None, request: Request) -> Response | None:
    """The answer of a firing `tailscale.error` switch, or None to serve the request."""
    fault = faults.take(path, "tailscale.error", f"{request.method} {request.path}")
    if fault is None:
        return None
    status = int(fault.get("status", 503))
    message = "rate limit exceeded" if status == 429 else "sandbox: injected server error"
    response = _error_response(errors.APIError(status, message))
    if fault.get("retryAfter") is not None:
        response.headers["Retry-After"] = str(fault["retryAfter"])
    return response


def audit_file_hook(path: str | Path) -> Callable[[RequestRecord], None]:
    """A hook appending each request's audit line to `path` (one write per line)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()

    def write(entry: RequestRecord) -> None:
        line = json.dumps(entry.audit_line()) + "\n"
        with lock, target.open("a", encoding="utf-8") as handle:
            handle.write(line)

    return write


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str = DEFAULT_API_KEY,
    audit_path: str | Path | None = None,
    *,
    tailnet: str = DEFAULT_TAILNET,
    state: TailnetState | None = None,
    faults_file: Path | None = None,
) -> tuple[TailscaleServer, threading.Thread]:
    """Start the emulator in a daemon thread; stop it with `server.shutdown(); server.server_close()`.

    :param host: a loopback address (anything else is refused: the sandbox never listens outside).
    :param port: 0 lets the OS choose; read it from `server.server_address` or `server.url`.
    :param api_key: the API key clients must send.
    :param audit_path: where to append one JSON line per request (None: in memory only).
    :param tailnet: the tailnet name accepted in paths besides `-`.
    :param state: an existing state to serve (its api_key and tailnet are kept).
    :param faults_file: fault switches to obey (sandbox/faults.py); None: none.
    """
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"serve: host must be a loopback address, got {host!r}")
    state = state or TailnetState(tailnet=tailnet, api_key=api_key)
    if audit_path is not None:
        state.audit_hooks.append(audit_file_hook(audit_path))
    server = TailscaleServer((host, port), state, faults_file)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="tailscale-api", daemon=True
    )
    thread.start()
    return server, thread
