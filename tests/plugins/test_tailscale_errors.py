"""What a user of pulumi-tailscale 0.29.2 sees when the Tailscale API fails, and the ACL's plan rules.

Through the plugin's gRPC face, against the emulator with its fault switch (sandbox/faults.py) or
`FakeAPI`. Upstream: terraform-provider-tailscale v0.29.2 (`resource_acl.go`,
`resource_dns_preferences.go`, `data_source_acl.go`), tailscale-client-go v2.9.0 (no retries), and
pulumi-terraform-bridge v3.135.0's handling of diagnostics (each error logged to the engine as
`[ERROR] <detail>: <summary>`, the first returned as `<summary>: <detail>`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi.runtime.proto import engine_pb2

from sandbox import faults
from sandbox.tailscale import TailscaleServer, serve
from tests.plugins.test_tailscale_client import FakeAPI, fake
from tests.plugins.test_tailscale_plugin import (
    ACL,
    API_KEY,
    DNS,
    GET_ACL,
    KEY,
    KEY_INPUTS,
    POLICY,
    SAME_POLICY_OTHER_LAYOUT,
    Harness,
    bare,
    emulator,
    start,
    ts,
    urn,
)

__all__ = ["bare", "emulator", "fake", "ts"]

KEYS = "/api/v2/tailnet/-/keys"
ACL_PATH = "/api/v2/tailnet/-/acl"
DNS_PATH = "/api/v2/tailnet/-/dns/preferences"
FLAGS_FALSE = {"overwriteExistingContent": False, "resetAclOnDestroy": False}


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[Harness]:
    """The plugin, configured, against an emulator that obeys `<tmp>/faults.json`."""
    server, thread = serve(api_key=API_KEY, faults_file=faults.faults_path(tmp_path))
    server.state.set_policy(POLICY)
    try:
        for harness in start(tmp_path, server):
            harness.configure()
            yield harness
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def arm(tmp_path: Path, status: int, match: str, count: int = 3) -> None:
    faults.arm(tmp_path, "tailscale.error", status=status, match=match, count=count, retryAfter=1)


def statuses(server: TailscaleServer, method: str, path: str) -> list[int]:
    return [r.status for r in server.state.requests if r.method == method and r.path == path]


def errors_logged(harness: Harness) -> list[tuple[str, str]]:
    return [(line.message, line.urn) for line in harness.engine.lines if line.severity == engine_pb2.ERROR]


# -- no retries; the API's status and message, logged as the bridge logs it ----------------------------


def test_a_429_on_key_creation_fails_at_once_with_the_apis_message(faulty: Harness, tmp_path: Path) -> None:
    """resource_tailnet_key.go:184-187; tailscale-client-go sends once (client.go:326-374)."""
    arm(tmp_path, 429, f"POST {KEYS}")
    message = faulty.error(lambda: faulty.create(KEY, KEY_INPUTS))
    assert message == "Failed to create key: Error creating tailnet key: rate limit exceeded (429)"
    assert statuses(faulty.server, "POST", KEYS) == [429]
    assert errors_logged(faulty) == [
        ("[ERROR] Error creating tailnet key: rate limit exceeded (429): Failed to create key", urn(KEY))
    ]


def test_a_503_on_the_policy_read_fails_the_invoke_at_once(faulty: Harness, tmp_path: Path) -> None:
    """data_source_acl.go:90-93; the invoke's diagnostic is logged without a URN."""
    arm(tmp_path, 503, f"GET {ACL_PATH}")
    assert (
        faulty.error(lambda: faulty.invoke(GET_ACL))
        == "Failed to fetch ACL: sandbox: injected server error (503)"
    )
    assert statuses(faulty.server, "GET", ACL_PATH) == [503]
    assert errors_logged(faulty) == [
        ("[ERROR] sandbox: injected server error (503): Failed to fetch ACL", "")
    ]


def test_a_5xx_on_a_policy_update_is_failed_to_update_acl_and_not_retried(
    faulty: Harness, tmp_path: Path
) -> None:
    """resource_acl.go:138-142."""
    arm(tmp_path, 502, f"POST {ACL_PATH}")
    state = {"acl": POLICY} | FLAGS_FALSE
    message = faulty.error(lambda: faulty.update(ACL, "id", state, state | {"acl": POLICY + "\n"}))
    assert message == "Failed to update ACL: sandbox: injected server error (502)"
    assert statuses(faulty.server, "POST", ACL_PATH) == [502]


def test_dns_preferences_errors_are_upstreams(faulty: Harness, tmp_path: Path) -> None:
    """resource_dns_preferences.go:74-77 (read) and :139 (set): the detail repeats the summary."""
    arm(tmp_path, 503, f"POST {DNS_PATH}", count=1)
    assert faulty.error(lambda: faulty.create(DNS, {"magicDns": True})) == (
        "Failed to set DNS preferences: Failed to set DNS preferences: sandbox: injected server error (503)"
    )
    arm(tmp_path, 503, f"GET {DNS_PATH}", count=1)
    assert faulty.error(lambda: faulty.read(DNS, "id", {"magicDns": True})) == (
        "Error fetching DNS preferences: Failed to fetch DNS preferences: sandbox: injected server error (503)"
    )


def test_an_html_error_page_is_gos_json_error_without_the_status(bare: Harness, fake: FakeAPI) -> None:
    """client.go:363-367: what a proxy's 502 page becomes upstream."""
    fake.answer("GET", ACL_PATH, 502, b"<html><body>502 Bad Gateway</body></html>", Content_Type="text/html")
    bare.configure(baseUrl=fake.url)
    assert bare.error(lambda: bare.invoke(GET_ACL)) == (
        "Failed to fetch ACL: invalid character '<' looking for beginning of value"
    )


# -- Check -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (
            ACL,
            "Missing required property 'acl': The policy that defines which devices and users are allowed "
            "to connect in your network. Can be either a JSON or a HuJSON string.",
        ),
        (DNS, "Missing required property 'magicDns': Whether or not to enable magic DNS"),
    ],
)
def test_a_missing_required_property_is_the_bridges_failure(ts: Harness, token: str, reason: str) -> None:
    """bridge check_failures.go:360-384 with the attribute's description (resource_acl.go:66)."""
    failures = ts.check(token, "r", {}).failures
    assert [(f.property, f.reason) for f in failures] == [("", reason)]


# -- Acl ---------------------------------------------------------------------------------------------------


def test_acl_flags_left_unset_stay_unset(ts: Harness) -> None:
    """resource_acl.go:74-81: optional bools without a default; state false vs config unset is a change."""
    _, outputs = ts.create(ACL, {"acl": POLICY})
    response = ts.diff(ACL, {"acl": POLICY} | FLAGS_FALSE, {"acl": POLICY})
    assert (sorted(outputs), list(response.diffs)) == (
        ["acl", "id"],
        ["overwriteExistingContent", "resetAclOnDestroy"],
    )


def test_acl_update_writes_the_planned_text_which_is_the_states_when_only_layout_differs(ts: Harness) -> None:
    """plan_modifiers.go:76-81 keeps the state's text; Update posts the plan (resource_acl.go:138)."""
    state = {"acl": POLICY} | FLAGS_FALSE
    outputs = ts.update(ACL, "id", state, {"acl": SAME_POLICY_OTHER_LAYOUT, "resetAclOnDestroy": True})
    posted = [r.body for r in ts.server.state.requests if r.method == "POST" and r.path == ACL_PATH]
    assert (posted, outputs["acl"]) == ([POLICY], POLICY)


def test_get_acl_json_is_hujson_minimize_of_the_text(bare: Harness, fake: FakeAPI) -> None:
    """data_source_acl.go:65-77: escapes, number spelling and duplicate names kept as written."""
    text = '// hand-written\n{\n  "tagOwners": {"tag:gpu": ["\\u0061lice@example.com"]},\n  "n": 1.50,\n  "n": 2,\n}\n'
    fake.answer("GET", ACL_PATH, 200, text.encode(), Content_Type="application/hujson")
    bare.configure(baseUrl=fake.url)
    result = bare.invoke(GET_ACL)
    assert (result["hujson"], result["json"]) == (
        text,
        '{"tagOwners":{"tag:gpu":["\\u0061lice@example.com"]},"n":1.50,"n":2}',
    )


def test_get_acl_of_text_hujson_cannot_parse_is_upstreams_error(bare: Harness, fake: FakeAPI) -> None:
    """data_source_acl.go:65-69."""
    fake.answer("GET", ACL_PATH, 200, b"{,}", Content_Type="application/hujson")
    bare.configure(baseUrl=fake.url)
    assert bare.error(lambda: bare.invoke(GET_ACL)) == (
        "Failed to parse ACL as HuJSON: hujson: line 1, column 2: invalid character ',' at start of value"
    )
