"""HTTP layer of the Tailscale API emulator: routes under `/api/v2`, auth, content types, audit.

Serves the calls tailscale-client-go v2.9.0 makes for pulumi-tailscale (https://tailscale.com/api;
docs/architecture.md §10.1) on the sandbox's HTTP scaffold (sandbox/http.py; HTTP/1.1 keep-alive,
chunked request bodies, loopback only). Requests are parsed here and answered by
`models.TailnetState`; every error is a JSON `errors.APIError` body.

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
  `status`) by the shared writer, sandbox/audit.py.
- Fault switch `tailscale.error` (sandbox/faults.py): a burst of 429 (with `Retry-After`) or 5xx
  answers in place of matching requests, recorded in the audit log with that status.
- Not emulated: webhooks, users, contacts, posture integrations, logging, services, device invites,
  split DNS, DNS configuration, workload identity federation.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, unquote_plus, urlsplit

import hujson
from sandbox import faults
from sandbox.audit import AuditLog
from sandbox.http import JSON, EmulatorHandler, EmulatorServer, Reply, Serving, json_reply, serve_loopback
from sandbox.tailscale import errors
from sandbox.tailscale.models import DEFAULT_API_KEY, DEFAULT_TAILNET, Identity, RequestRecord, TailnetState

REFUSAL = "serve: host must be a loopback address, got {host!r}"
"""The ValueError of `serve` for a host that is not loopback (the sandbox never listens outside)."""

API_PREFIX = "/api/v2"
"""Every route lives under this prefix (the client appends it to the base URL)."""

MUTATING_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
"""Methods that count as mutating in the audit log (except validate and the token endpoint)."""

HUJSON = "application/hujson"


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


Handler = Callable[[TailnetState, Request, dict[str, str]], Reply]


@dataclass(frozen=True)
class Route:
    """A path pattern (below `/api/v2`), its handlers by method and the OAuth scope it needs."""

    pattern: re.Pattern[str]
    handlers: Mapping[str, Handler]
    scope: str
    read_methods: frozenset[str] = frozenset({"GET"})
    """Methods that only read (a `:read` scope suffices)."""


# -- handlers -------------------------------------------------------------------------------------


def _wants_json(request: Request) -> bool:
    accept = (request.header("Accept") or "").lower()
    if accept and "*/*" not in accept:
        return JSON in accept
    if request.method == "POST":
        return HUJSON not in (request.header("Content-Type") or "").lower()
    return True


def _policy_response(request: Request, text: str, etag: str) -> Reply:
    if request.query.get("details", ["0"])[0] not in ("", "0", "false"):
        document = {"acl": base64.b64encode(text.encode()).decode(), "warnings": [], "errors": []}
        response = json_reply(document)
    elif _wants_json(request):
        response = Reply(body=json.dumps(hujson.loads(text), indent=2).encode())
    else:
        response = Reply(body=text.encode(), content_type=HUJSON)
    response.headers["ETag"] = etag
    return response


def get_acl(state: TailnetState, request: Request, params: dict[str, str]) -> Reply:
    """`GET /tailnet/{t}/acl`: the stored policy (HuJSON verbatim or JSON) and its ETag."""
    text, etag = state.get_policy()
    return _policy_response(request, text, etag)


def post_acl(state: TailnetState, request: Request, params: dict[str, str]) -> Reply:
    """`POST /tailnet/{t}/acl`: replace the policy (If-Match, validation, tests; empty = reset)."""
    state.set_policy(request.text(), request.header("If-Match"))
    text, etag = state.get_policy()
    return _policy_response(request, text, etag)


def _all_fields(request: Request) -> bool:
    return "all" in request.query.get("fields", [])


def list_devices(state: TailnetState, request: Request, params: dict[str, str]) -> Reply:
    """`GET /tailnet/{t}/devices[?fields=all][&<field>=<value>...]`."""
    filters = {key: values for key, values in request.query.items() if key != "fields"}
    return json_reply(state.list_devices(filters, _all_fields(request)))


def get_device(state: TailnetState, request: Request, params: dict[str, str]) -> Reply:
    """`GET /device/{id}[?fields=all]`."""
    return json_reply(state.get_device(params["device"], _all_fields(request)))


def _call(
    operation: Callable[..., Any], *, identity: bool = False, param: str | None = None, body: bool = False
) -> Handler:
    """A handler calling `operation(state, [identity], [params[param]], [JSON body])`.

    It answers the result as JSON, or `{}` when the operation returns nothing.
    """

    def handle(state: TailnetState, request: Request, params: dict[str, str]) -> Reply:
        args: list[Any] = []
        if identity:
            args.append(request.identity)
        if param is not None:
            args.append(params[param])
        if body:
            args.append(request.json())
        result = operation(state, *args)
        return json_reply({} if result is None else result)

    return handle


def _route(pattern: str, scope: str, handlers: Mapping[str, Handler], **kwargs: Any) -> Route:
    return Route(re.compile(pattern), handlers, scope, **kwargs)


_TAILNET = r"/tailnet/(?P<tailnet>[^/]+)"
_DEVICE = r"/device/(?P<device>[^/]+)"

ROUTES: tuple[Route, ...] = (
    _route(_TAILNET + r"/acl", "policy_file", {"GET": get_acl, "POST": post_acl}),
    _route(
        _TAILNET + r"/acl/validate",
        "policy_file",
        {"POST": lambda state, request, params: json_reply(state.validate_policy(request.text()))},
        read_methods=frozenset({"POST"}),
    ),
    _route(
        _TAILNET + r"/keys",
        "auth_keys",
        {
            "GET": _call(TailnetState.list_keys),
            "POST": _call(TailnetState.create_key, identity=True, body=True),
        },
    ),
    _route(
        _TAILNET + r"/keys/(?P<key>[^/]+)",
        "auth_keys",
        {
            "GET": _call(TailnetState.get_key, param="key"),
            "DELETE": _call(TailnetState.delete_key, param="key"),
        },
    ),
    _route(_TAILNET + r"/devices", "devices:core", {"GET": list_devices}),
    _route(
        _DEVICE,
        "devices:core",
        {"GET": get_device, "DELETE": _call(TailnetState.delete_device, param="device")},
    ),
    _route(
        _DEVICE + r"/tags",
        "devices:core",
        {"POST": _call(TailnetState.set_device_tags, identity=True, param="device", body=True)},
    ),
    _route(
        _DEVICE + r"/authorized",
        "devices:core",
        {"POST": _call(TailnetState.set_device_authorized, param="device", body=True)},
    ),
    _route(
        _DEVICE + r"/key",
        "devices:core",
        {"POST": _call(TailnetState.set_device_key, param="device", body=True)},
    ),
    _route(
        _DEVICE + r"/routes",
        "devices:routes",
        {
            "GET": _call(TailnetState.device_routes, param="device"),
            "POST": _call(TailnetState.set_device_routes, param="device", body=True),
        },
    ),
    _route(
        _TAILNET + r"/dns/preferences",
        "dns",
        {
            "GET": _call(TailnetState.dns_preferences),
            "POST": _call(TailnetState.set_dns_preferences, body=True),
        },
    ),
    _route(
        _TAILNET + r"/dns/nameservers",
        "dns",
        {
            "GET": _call(TailnetState.dns_nameservers),
            "POST": _call(TailnetState.set_dns_nameservers, body=True),
        },
    ),
    _route(
        _TAILNET + r"/dns/searchpaths",
        "dns",
        {
            "GET": _call(TailnetState.dns_search_paths),
            "POST": _call(TailnetState.set_dns_search_paths, body=True),
        },
    ),
    _route(
        _TAILNET + r"/settings",
        "feature_settings",
        {"GET": _call(TailnetState.get_settings), "PATCH": _call(TailnetState.patch_settings, body=True)},
    ),
)
"""Every emulated route below `/api/v2`; each handler is the `TailnetState` operation of that name
(`PATCH /settings`: `null` = unchanged; `POST /acl/validate` only reads)."""


# -- OAuth ----------------------------------------------------------------------------------------


def issue_token(state: TailnetState, request: Request) -> tuple[Reply, str]:
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
    return json_reply(document), f"oauth:{client_id}"


# -- dispatch -------------------------------------------------------------------------------------


def is_mutating(method: str, path: str) -> bool:
    """Does this request count as mutating in the audit log?"""
    if method not in MUTATING_METHODS:
        return False
    return not (path.endswith("/acl/validate") or path == API_PREFIX + "/oauth/token")


JOIN_PATH = "/sandbox/join"
"""SANDBOX ONLY: the control-plane side of `tailscale up --auth-key` (the `tailscale` shim's call)."""


def join(state: TailnetState, request: Request) -> tuple[Reply, str]:
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
    return json_reply(device.to_dict(all_fields=True)), f"join:{device.hostname}"


def dispatch(state: TailnetState, request: Request) -> tuple[Reply, str]:
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


def _error_response(error: errors.APIError) -> Reply:
    return Reply(error.status, error.body())


class _RequestHandler(EmulatorHandler):
    protocol_version = "HTTP/1.1"
    methods = ("GET", "POST", "PATCH", "PUT", "DELETE")
    chunked_requests = True
    server: TailscaleServer

    def dispatch(self) -> None:
        state = self.server.state
        body = self.read_body()
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
        self.send_reply(response)


class TailscaleServer(EmulatorServer[TailnetState]):
    """The emulator's HTTP server; `.state` is the tailnet it serves, `.url` its base URL."""

    handler_class = _RequestHandler

    @property
    def state(self) -> TailnetState:
        """The emulated tailnet (tests and the sandbox read and seed it directly)."""
        return self.backend


def _injected_fault(path: Path | None, request: Request) -> Reply | None:
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
    """A hook appending each request's audit line to `path` (sandbox/audit.py)."""
    log = AuditLog(path)
    return lambda entry: log.write(entry.audit_line())


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str = DEFAULT_API_KEY,
    audit_path: str | Path | None = None,
    *,
    tailnet: str = DEFAULT_TAILNET,
    state: TailnetState | None = None,
    faults_file: Path | None = None,
) -> Serving[TailscaleServer]:
    """Start the emulator in a daemon thread; returns `(server, thread)`, a `Serving` handle.

    Stop it with `.stop()` (or `server.shutdown(); server.server_close()`).

    :param host: a loopback address (anything else is refused: the sandbox never listens outside).
    :param port: 0 lets the OS choose; read it from `server.server_address` or `server.url`.
    :param api_key: the API key clients must send.
    :param audit_path: where to append one JSON line per request (None: in memory only).
    :param tailnet: the tailnet name accepted in paths besides `-`.
    :param state: an existing state to serve (its api_key and tailnet are kept).
    :param faults_file: fault switches to obey (sandbox/faults.py); None: none.
    """
    state = state or TailnetState(tailnet=tailnet, api_key=api_key)
    if audit_path is not None:
        state.audit_hooks.append(audit_file_hook(audit_path))
    return serve_loopback(
        TailscaleServer, host, port, state, faults_file, name="tailscale-api", refusal=REFUSAL
    )
