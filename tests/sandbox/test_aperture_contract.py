"""Contract tests of the Aperture emulator, over real HTTP (urllib), status and exact message.

The contract is docs/architecture.md §10.2; emulator choices are in sandbox/aperture/models.py and the
modules it names.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.aperture import DEFAULT_CONFIG, IDENTITY_HEADER, ApertureServer, serve
from testing.host import Upstream

ADMIN = "admin@example.com"
ALICE = "alice@example.com"
CI = "tag:ci,tag:prod"
SPARK_KEY = "sk-spark-secret"
OPENAI_KEY = "sk-openai-secret"


# -- HTTP helpers --------------------------------------------------------------------------------


def call(
    method: str,
    url: str,
    body: Any = None,
    identity: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One request; returns (status, headers, parsed JSON body or raw text)."""
    all_headers = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    if identity is not None:
        all_headers[IDENTITY_HEADER] = identity
    request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            status, response_headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        status, response_headers, raw = exc.code, dict(exc.headers), exc.read()
    try:
        return status, response_headers, json.loads(raw)
    except ValueError:
        return status, response_headers, raw.decode()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def config_text(upstream_url: str, down_port: int) -> str:
    return f"""{{
  // Contract-test gateway. Comments and layout must survive every read.
  "providers": {{
    "spark": {{
      "baseurl": "{upstream_url}", // API root
      "apikey": "{SPARK_KEY}",
      "models": ["Qwen/Qwen3-8B"],
    }},
    "versioned": {{
      "baseurl": "{upstream_url}/v1",
      "models": ["legacy-model"],
    }},
    "down": {{ "baseurl": "http://127.0.0.1:{down_port}", "models": ["down-model"] }},
    "off": {{ "baseurl": "{upstream_url}", "models": ["off-model"], "disabled": true }},
    "openai": {{ "baseurl": "https://api.openai.com", "apikey": "{OPENAI_KEY}", "models": ["gpt-5"] }},
  }},
  "quotas": {{ "daily": {{ "capacity": "$10.00", "rate": "$5.00/day", "on_exceed": "reject" }} }},
  "grants": [
    {{ "src": ["{ADMIN}"], "app": {{ "tailscale.com/cap/aperture": [ {{ "role": "admin" }} ] }} }},
    {{
      "src": ["{ALICE}", "group:ml"],
      "app": {{
        "tailscale.com/cap/aperture": [
          {{ "role": "user" }},
          {{ "models": "spark/**" }},
          {{ "models": "versioned/*" }},
          {{ "models": "down/*" }},
          {{ "models": "off/*" }},
        ],
      }},
    }},
    {{ "src": ["{CI}"], "app": {{ "tailscale.com/cap/aperture": [ {{ "role": "user" }} ] }} }},
  ],
}}
"""


class Gateway:
    """A running emulator plus what the tests need to inspect it."""

    def __init__(self, server: ApertureServer, text: str, audit: Path, down_port: int) -> None:
        self.server = server
        self.down_port = down_port
        self.text = text
        self.audit = audit
        self.reachable_calls: list[tuple[str, int]] = []
        self.unreachable: set[int] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def reachable(self, host: str, port: int) -> bool:
        self.reachable_calls.append((host, port))
        return port not in self.unreachable

    def audit_lines(self) -> list[dict[str, Any]]:
        if not self.audit.exists():
            return []
        return [json.loads(line) for line in self.audit.read_text().splitlines()]


@pytest.fixture
def gateway(upstream: Upstream, tmp_path: Path) -> Iterator[Gateway]:
    down_port = closed_port()
    text = config_text(upstream.url, down_port)
    audit = tmp_path / "audit.jsonl"
    holder: list[Gateway] = []
    server, _ = serve(
        config=text,
        audit_path=audit,
        groups={"group:ml": ["bob@example.com"]},
        reachable=lambda host, port: holder[0].reachable(host, port),
    )
    holder.append(Gateway(server, text, audit, down_port))
    yield holder[0]
    server.shutdown()
    server.server_close()


@pytest.fixture
def start_default() -> Iterator[Callable[..., ApertureServer]]:
    servers: list[ApertureServer] = []

    def start(**kwargs: Any) -> ApertureServer:
        server, _ = serve(**kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} must occur exactly once in the test document"
    return text.replace(old, new)


# -- GET /aperture/config ------------------------------------------------------------------------


def test_get_config_returns_document_with_only_keys_redacted(gateway: Gateway) -> None:
    status, _, body = call("GET", f"{gateway.url}/aperture/config", identity=ADMIN)
    expected = gateway.text.replace(f'"{SPARK_KEY}"', '"<redacted>"').replace(
        f'"{OPENAI_KEY}"', '"<redacted>"'
    )
    assert (status, body) == (200, {"config": expected})


def test_get_config_sends_a_quoted_etag(gateway: Gateway) -> None:
    _, headers, _ = call("GET", f"{gateway.url}/aperture/config", identity=ADMIN)
    etag = headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2, etag


@pytest.mark.parametrize(
    ("identity", "detail"),
    [
        (None, "access denied: no role granted"),
        ("mallory@example.com", "access denied: no role granted"),
        (ALICE, "access denied: admin role required"),
        ("tag:ci", "access denied: no role granted"),
    ],
    ids=["anonymous", "no-grant", "user-role", "partial-tag-string"],
)
def test_get_config_refuses_non_admins(gateway: Gateway, identity: str | None, detail: str) -> None:
    status, headers, body = call("GET", f"{gateway.url}/aperture/config", identity=identity)
    assert (status, headers["Content-Type"], body) == (
        403,
        "application/problem+json",
        {
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
            "detail": detail,
            "instance": "/aperture/config",
        },
    )


def test_new_instance_default_lets_everyone_be_admin(start_default: Callable[..., ApertureServer]) -> None:
    server = start_default()
    status, _, body = call(
        "GET", f"http://127.0.0.1:{server.server_address[1]}/aperture/config", identity="anyone@example.com"
    )
    assert (status, body) == (
        200,
        {
            "config": DEFAULT_CONFIG.replace('"YOUR_OPENAI_API_KEY"', '"<redacted>"').replace(
                '"YOUR_ANTHROPIC_API_KEY"', '"<redacted>"'
            )
        },
    )


def test_default_identity_applies_without_the_header(start_default: Callable[..., ApertureServer]) -> None:
    server = start_default(default_identity="ops@example.com")
    status, _, _ = call("GET", f"http://127.0.0.1:{server.server_address[1]}/aperture/config")
    assert status == 200


def test_serve_refuses_a_non_loopback_address() -> None:
    with pytest.raises(
        ValueError, match=r"^the Aperture emulator listens on loopback only, not '0\.0\.0\.0'$"
    ):
        serve(host="0.0.0.0")


# -- PUT /aperture/config ------------------------------------------------------------------------


def get(gateway: Gateway) -> tuple[str, str]:
    status, headers, body = call("GET", f"{gateway.url}/aperture/config", identity=ADMIN)
    assert status == 200
    return body["config"], headers["ETag"]


def test_put_without_if_match_is_428(gateway: Gateway) -> None:
    status, _, body = call("PUT", f"{gateway.url}/aperture/config", {"config": gateway.text}, ADMIN)
    assert (status, body["detail"], body["errors"]) == (
        428,
        "If-Match header is required: GET /aperture/config first and send its ETag",
        [{"location": "header.If-Match", "message": "required header parameter is missing", "value": None}],
    )


def test_put_with_stale_etag_is_412_and_writes_nothing(gateway: Gateway) -> None:
    _, etag = get(gateway)
    status, _, body = call(
        "PUT", f"{gateway.url}/aperture/config", {"config": "{}"}, ADMIN, {"If-Match": '"stale"'}
    )
    assert (status, body["detail"]) == (
        412,
        f'config has changed since it was read: If-Match "stale" does not match ETag {etag}',
    )
    assert get(gateway)[1] == etag


def test_put_saves_and_returns_redacted_config_with_new_etag(gateway: Gateway) -> None:
    text, etag = get(gateway)
    edited = replace_once(text, "// API root", "// API root, edited")
    status, headers, body = call(
        "PUT", f"{gateway.url}/aperture/config", {"config": edited}, ADMIN, {"If-Match": etag}
    )
    assert (status, body, headers["ETag"] != etag) == (200, {"config": edited}, True)


def test_put_with_the_previous_etag_after_a_save_is_412(gateway: Gateway) -> None:
    text, etag = get(gateway)
    edited = replace_once(text, "// API root", "// edited")
    call("PUT", f"{gateway.url}/aperture/config", {"config": edited}, ADMIN, {"If-Match": etag})
    status, _, _ = call("PUT", f"{gateway.url}/aperture/config", {"config": text}, ADMIN, {"If-Match": etag})
    assert status == 412


def test_put_of_redaction_marker_keeps_the_stored_key(gateway: Gateway) -> None:
    text, etag = get(gateway)
    call("PUT", f"{gateway.url}/aperture/config", {"config": text}, ADMIN, {"If-Match": etag})
    assert gateway.server.backend.stored_text == gateway.text


GRANT_ADMIN = (
    '{ "src": ["admin@example.com"], "app": { "tailscale.com/cap/aperture": [ { "role": "admin" } ] } }'
)


EMPTY = "config must not be empty"
MODELS_RULE = "provider versioned models must be a non-empty array of non-empty strings"
LEGACY_MODELS = '"models": ["legacy-model"]'
BASURL = ('"quotas":', '"basurl": 1, "quotas":')
WHOLE = ""
"""An `old` of "" in an edit: replace the whole document."""

INVALID_EDITS: list[tuple[str, list[tuple[str, str]], list[str]]] = [
    ("empty", [(WHOLE, "")], [EMPTY]),
    ("comment-only", [(WHOLE, "// only a comment\n")], [EMPTY]),
    (
        "invalid-hujson",
        [('"quotas": {', '"quotas" {')],
        ["invalid HuJSON: line 17, column 12: expected ':' after key 'quotas'"],
    ),
    ("unknown-key", [BASURL], ['unknown config key "basurl"']),
    (
        "no-baseurl",
        [('"baseurl": "https://api.openai.com"', '"base_url": "x"')],
        ["provider openai has no baseurl configured"],
    ),
    ("models-empty", [(LEGACY_MODELS, '"models": []')], [MODELS_RULE]),
    ("models-string", [(LEGACY_MODELS, '"models": "legacy-model"')], [MODELS_RULE]),
    ("models-empty-string", [(LEGACY_MODELS, '"models": ["legacy-model", ""]')], [MODELS_RULE]),
    (
        "bad-authorization",
        [('"models": ["gpt-5"]', '"authorization": "basic", "models": ["gpt-5"]')],
        ["provider openai has invalid authorization type: basic"],
    ),
    (
        "undeclared-provider",
        [('"down/*"', '"gpu/*"')],
        ['models pattern "gpu/*" references provider "gpu" which does not match any declared provider'],
    ),
    (
        "grant-dst",
        [('{ "src": ["tag:ci', '{ "dst": ["tag:aperture"], "src": ["tag:ci')],
        ['grants[2]: unknown grant field "dst"'],
    ),
    (
        "no-admin",
        [(GRANT_ADMIN, GRANT_ADMIN.replace('"admin" }', '"user" }'))],
        ["no grant assigns role admin"],
    ),
    (
        "two-problems-in-order",
        [BASURL, (LEGACY_MODELS, '"models": []')],
        ['unknown config key "basurl"', MODELS_RULE],
    ),
]
"""(id, edits of the valid document, expected messages); each edit replaces `old` once."""


def edited(text: str, edits: list[tuple[str, str]]) -> str:
    for old, new in edits:
        text = new if old == WHOLE else replace_once(text, old, new)
    return text


@pytest.mark.parametrize(
    ("edits", "messages"), [row[1:] for row in INVALID_EDITS], ids=[row[0] for row in INVALID_EDITS]
)
def test_put_of_invalid_config_is_422_with_each_message(
    gateway: Gateway, edits: list[tuple[str, str]], messages: list[str]
) -> None:
    text, etag = get(gateway)
    status, headers, body = call(
        "PUT", f"{gateway.url}/aperture/config", {"config": edited(text, edits)}, ADMIN, {"If-Match": etag}
    )
    assert (status, headers["Content-Type"], body["detail"], [e["message"] for e in body["errors"]]) == (
        422,
        "application/problem+json",
        "validation failed",
        messages,
    )
    assert gateway.server.backend.stored_text == gateway.text


def test_put_that_removes_the_savers_own_admin_role_is_422(gateway: Gateway) -> None:
    text, etag = get(gateway)
    edited = replace_once(text, f'"src": ["{ADMIN}"]', '"src": ["root@example.com"]')
    status, _, body = call(
        "PUT", f"{gateway.url}/aperture/config", {"config": edited}, ADMIN, {"If-Match": etag}
    )
    assert (status, [e["message"] for e in body["errors"]]) == (
        422,
        [f"this change would remove your own admin role ({ADMIN})"],
    )


@pytest.mark.parametrize(
    ("body", "location", "message"),
    [
        ({}, "body", "expected required property config to be present"),
        ({"config": 1}, "body.config", "expected string"),
    ],
    ids=["missing-config", "config-not-a-string"],
)
def test_put_with_a_malformed_body_is_422(gateway: Gateway, body: Any, location: str, message: str) -> None:
    _, etag = get(gateway)
    status, _, answer = call("PUT", f"{gateway.url}/aperture/config", body, ADMIN, {"If-Match": etag})
    assert (status, answer["errors"]) == (422, [{"location": location, "message": message, "value": None}])


# -- POST /aperture/config:validate --------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "answer"),
    [
        (lambda t: t, {"valid": True, "errors": None}),
        (
            lambda t: t.replace('"quotas":', '"basurl": 1, "quotas":', 1),
            {"valid": False, "errors": ['unknown config key "basurl"']},
        ),
        (
            lambda t: t.replace(f'"src": ["{ADMIN}"]', '"src": ["root@example.com"]', 1),
            {"valid": True, "errors": None},
        ),
    ],
    ids=["valid", "invalid", "lockout-is-checked-on-save-only"],
)
def test_validate_answers_valid_and_errors(gateway: Gateway, edit: Callable[[str], str], answer: Any) -> None:
    text, _ = get(gateway)
    status, _, body = call("POST", f"{gateway.url}/aperture/config:validate", {"config": edit(text)}, ADMIN)
    assert (status, body) == (200, answer)


def test_validate_never_writes(gateway: Gateway) -> None:
    text, etag = get(gateway)
    edited = replace_once(text, "// API root", "// changed")
    call("POST", f"{gateway.url}/aperture/config:validate", {"config": edited}, ADMIN)
    assert (gateway.server.backend.stored_text, get(gateway)[1]) == (gateway.text, etag)


def test_validate_needs_admin(gateway: Gateway) -> None:
    status, _, body = call("POST", f"{gateway.url}/aperture/config:validate", {"config": "{}"}, ALICE)
    assert (status, body["detail"]) == (403, "access denied: admin role required")


# -- /v1/models ----------------------------------------------------------------------------------


def test_models_lists_enabled_granted_models_with_provider_metadata(gateway: Gateway) -> None:
    status, _, body = call("GET", f"{gateway.url}/v1/models", identity=ALICE)
    listed = [(m["id"], m["object"], m["metadata"]["provider"]["id"]) for m in body["data"]]
    assert (status, body["object"], listed) == (
        200,
        "list",
        [
            ("Qwen/Qwen3-8B", "model", "spark"),
            ("legacy-model", "model", "versioned"),
            ("down-model", "model", "down"),
        ],
    )


def test_models_resolves_the_visible_groups_it_is_given(gateway: Gateway) -> None:
    status, _, body = call("GET", f"{gateway.url}/v1/models", identity="bob@example.com")
    assert (status, len(body["data"])) == (200, 3)


def test_models_without_role_is_403(gateway: Gateway) -> None:
    status, _, body = call("GET", f"{gateway.url}/v1/models", identity="mallory@example.com")
    assert (status, body) == (403, {"error": "access denied: no role granted"})


# -- inference -----------------------------------------------------------------------------------


def chat(
    gateway: Gateway, model: str, identity: str | None = ALICE, path: str = "/v1/chat/completions"
) -> tuple[int, Any]:
    status, _, body = call(
        "POST",
        f"{gateway.url}{path}",
        {"model": model, "messages": [{"role": "user", "content": "hi"}]},
        identity,
    )
    return status, body


def usage(gateway: Gateway) -> list[dict[str, Any]]:
    status, _, body = call("GET", f"{gateway.url}/api/usage")
    assert status == 200
    records: list[dict[str, Any]] = body["records"]
    return records


def test_chat_routes_bare_model_to_its_provider_with_bearer_key(gateway: Gateway, upstream: Upstream) -> None:
    status, body = chat(gateway, "Qwen/Qwen3-8B")
    sent = upstream.requests[-1]
    assert (
        status,
        body["choices"][0]["message"]["content"],
        sent["path"],
        sent["headers"]["Authorization"],
    ) == (
        200,
        "hi",
        "/v1/chat/completions",
        f"Bearer {SPARK_KEY}",
    )


def test_chat_with_provider_qualified_model_sends_the_bare_id(gateway: Gateway, upstream: Upstream) -> None:
    status, _ = chat(gateway, "spark/Qwen/Qwen3-8B")
    assert (status, upstream.requests[-1]["body"]["model"]) == (200, "Qwen/Qwen3-8B")


def test_chat_records_usage(gateway: Gateway) -> None:
    chat(gateway, "Qwen/Qwen3-8B")
    assert usage(gateway) == [
        {
            "identity": ALICE,
            "provider": "spark",
            "model": "Qwen/Qwen3-8B",
            "prompt_tokens": 7,
            "completion_tokens": 3,
            "status": 200,
            "cost": "$0.00",
        }
    ]


def test_chat_sends_no_authorization_without_apikey(gateway: Gateway, upstream: Upstream) -> None:
    chat(gateway, "legacy-model", path="/chat/completions")
    assert "Authorization" not in upstream.requests[-1]["headers"]


def test_versioned_baseurl_gives_the_upstreams_404_for_v1_v1(gateway: Gateway, upstream: Upstream) -> None:
    status, body = chat(gateway, "legacy-model")
    assert (status, body, upstream.requests[-1]["path"]) == (
        404,
        {"detail": "Not Found"},
        "/v1/v1/chat/completions",
    )


def test_root_chat_completions_works_with_a_versioned_baseurl(gateway: Gateway, upstream: Upstream) -> None:
    status, _ = chat(gateway, "legacy-model", path="/chat/completions")
    assert (status, upstream.requests[-1]["path"]) == (200, "/v1/chat/completions")


@pytest.mark.parametrize(
    ("identity", "model", "status", "body"),
    [
        (None, "Qwen/Qwen3-8B", 403, {"error": "access denied: no role granted"}),
        ("mallory@example.com", "Qwen/Qwen3-8B", 403, {"error": "access denied: no role granted"}),
        (CI, "Qwen/Qwen3-8B", 404, {"error": 'model "Qwen/Qwen3-8B" not found'}),
        (ALICE, "gpt-5", 404, {"error": 'model "gpt-5" not found'}),
        (ALICE, "off-model", 404, {"error": 'model "off-model" not found'}),
        (ALICE, "no-such-model", 404, {"error": 'model "no-such-model" not found'}),
    ],
    ids=[
        "anonymous",
        "no-grant",
        "role-without-models",
        "model-of-ungranted-provider",
        "disabled-provider",
        "unknown-model",
    ],
)
def test_chat_refusals(gateway: Gateway, identity: str | None, model: str, status: int, body: Any) -> None:
    assert chat(gateway, model, identity) == (status, body)


def test_chat_to_a_refusing_upstream_is_502(gateway: Gateway) -> None:
    assert chat(gateway, "down-model") == (
        502,
        {"error": f'the gateway could not reach provider "down" at http://127.0.0.1:{gateway.down_port}'},
    )


def test_chat_is_502_when_reachable_says_no(gateway: Gateway, upstream: Upstream) -> None:
    port = upstream.server.server_address[1]
    gateway.unreachable.add(port)
    result = chat(gateway, "Qwen/Qwen3-8B")
    assert (result, gateway.reachable_calls[-1], upstream.requests) == (
        (502, {"error": f'the gateway could not reach provider "spark" at {upstream.url}'}),
        ("127.0.0.1", port),
        [],
    )


def test_unreachable_upstream_is_recorded_as_502(gateway: Gateway) -> None:
    chat(gateway, "down-model")
    assert [(r["provider"], r["status"]) for r in usage(gateway)] == [("down", 502)]


# -- audit ---------------------------------------------------------------------------------------


def test_audit_has_one_line_per_request(gateway: Gateway) -> None:
    text, etag = get(gateway)
    call("PUT", f"{gateway.url}/aperture/config", {"config": text}, ADMIN, {"If-Match": etag})
    chat(gateway, "Qwen/Qwen3-8B")
    assert gateway.audit_lines() == [
        {
            "service": "aperture",
            "method": "GET",
            "path": "/aperture/config",
            "mutating": False,
            "identity": ADMIN,
            "status": 200,
        },
        {
            "service": "aperture",
            "method": "PUT",
            "path": "/aperture/config",
            "mutating": True,
            "identity": ADMIN,
            "status": 200,
        },
        {
            "service": "aperture",
            "method": "POST",
            "path": "/v1/chat/completions",
            "mutating": False,
            "identity": ALICE,
            "status": 200,
        },
    ]
