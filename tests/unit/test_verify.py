"""make verify: the two client calls, the caller's budget, and failures mapped to the troubleshooting
table."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from testing.host import StubRequest, start_stub

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify", ROOT / "scripts" / "verify.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["verify"] = module
    spec.loader.exec_module(module)
    return module


verify = _load()
MODEL = "Qwen/Qwen3.6-35B-A3B-FP8"
BUCKET = {
    "name": "sovereign-ai:alice@example.com",
    "balance": "$9.999979",
    "capacity": "$10.00",
    "rate": "$5.00/day",
}


class Gateway:
    """A gateway double whose answer per path is set by the test."""

    answers: dict[str, tuple[int, Any]] = {}
    seen: list[tuple[str, str | None]] = []

    @classmethod
    def answer(cls, request: StubRequest) -> tuple[int, Any]:
        cls.seen.append((request.path, request.headers.get("X-Sandbox-Identity")))
        return cls.answers[request.path]


@pytest.fixture
def gateway() -> Iterator[str]:
    Gateway.seen = []
    Gateway.answers = {
        "/v1/models": (200, {"object": "list", "data": [{"id": MODEL}]}),
        "/v1/chat/completions": (
            200,
            {
                "choices": [{"message": {"content": "hello"}}],
                "usage": {"prompt_tokens": 6, "completion_tokens": 1},
            },
        ),
        "/api/quotas": (200, [BUCKET]),
    }
    serving = start_stub(Gateway.answer)
    yield f"{serving.server.url}/v1"
    serving.stop()


def test_verify_passes_and_prints_the_client_settings(
    gateway: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert verify.verify(gateway, MODEL, "alice@example.com") == 0
    out = capsys.readouterr().out
    assert f"base URL: {gateway}" in out and "6 prompt + 1 completion tokens" in out
    assert Gateway.seen == [
        ("/v1/models", "alice@example.com"),
        ("/v1/chat/completions", "alice@example.com"),
        ("/api/quotas", "alice@example.com"),
    ]
    assert "budget: $9.999979 of $10.00 left in sovereign-ai:alice@example.com (refills $5.00/day)" in out


@pytest.mark.parametrize(
    ("answer", "printed"),
    [
        pytest.param((200, []), "budget: none applies to you (no quota bucket", id="no-bucket"),
        pytest.param((404, {"error": "not found"}), "budget: not shown (", id="no-endpoint"),
        pytest.param(
            (200, [{**BUCKET, "name": "sovereign-ai:bob@example.com"}, {**BUCKET, "name": "team"}]),
            "left in team (",
            id="an-admin-sees-everyone-shows-only-hers",
        ),
    ],
)
def test_verify_prints_the_budget_or_why_not(
    gateway: str, capsys: pytest.CaptureFixture[str], answer: tuple[int, Any], printed: str
) -> None:
    Gateway.answers["/api/quotas"] = answer
    assert verify.verify(gateway, MODEL, "alice@example.com") == 0
    out = capsys.readouterr().out
    assert printed in out and "bob@example.com" not in out


def test_a_429_is_a_spent_budget_with_when_it_refills() -> None:
    body = json.dumps(
        {"error": 'quota exceeded: bucket "sovereign-ai:alice@example.com" has -$0.00 of $0.01'}
    )
    diagnosis = verify.diagnose("chat completion", "http://ai/v1", verify.Reply(429, body, retry_after="42"))
    assert diagnosis.symptom.startswith("chat completion: 429 budget spent (quota exceeded: bucket")
    assert diagnosis.cause.startswith("your Aperture budget is spent")
    assert diagnosis.fix.startswith("wait: it refills enough to call again in 42s (at about ")
    assert "sovereign-ai:gateway.quotas" in diagnosis.fix


def test_verify_fails_when_the_model_is_not_listed(gateway: str, capsys: pytest.CaptureFixture[str]) -> None:
    Gateway.answers["/v1/models"] = (200, {"data": [{"id": "other"}]})
    assert verify.verify(gateway, MODEL, None) == 1
    assert f"{MODEL} is not among the models visible to you (other)" in capsys.readouterr().err


def test_verify_maps_403_to_a_missing_grant(gateway: str, capsys: pytest.CaptureFixture[str]) -> None:
    Gateway.answers["/v1/models"] = (403, {"error": "access denied: no role granted"})
    assert verify.verify(gateway, MODEL, None) == 1
    err = capsys.readouterr().err
    assert "403 / access denied through the gateway (access denied: no role granted)" in err
    assert "no Aperture grant covers your identity" in err


@pytest.mark.parametrize(
    ("reply", "symptom", "cause"),
    [
        pytest.param(
            verify.Reply(0, "", socket.gaierror(-2, "Name or service not known")),
            "chat: ai does not resolve",
            "MagicDNS is off, or this device is signed in to another tailnet",
            id="name-resolution",
        ),
        pytest.param(
            verify.Reply(404, "404 page not found: /v1/v1/chat/completions"),
            "chat: 404 on /v1/v1/... through the gateway",
            "the provider base URL includes /v1, and Aperture appends the request path",
            id="v1-twice",
        ),
        pytest.param(
            verify.Reply(502, json.dumps({"error": {"message": "could not reach provider spark"}})),
            "chat: 502 from the gateway (could not reach provider spark)",
            "the gateway cannot reach the model server: a tailnet rule blocks gateway -> server:port "
            "(the dashboard's red X), or vLLM is not up",
            id="gateway-cannot-reach-server",
        ),
        pytest.param(
            verify.Reply(0, "", ConnectionRefusedError(111, "Connection refused")),
            "chat: cannot connect to the gateway at ai ([Errno 111] Connection refused)",
            "this device is not on the tailnet, or the tailnet policy does not let you reach the gateway",
            id="gateway-refuses",
        ),
    ],
)
def test_diagnose(reply: Any, symptom: str, cause: str) -> None:
    diagnosis = verify.diagnose("chat", "http://ai/v1", reply)
    assert (diagnosis.symptom, diagnosis.cause) == (symptom, cause)


GRANT_GROUPS = {"group:ai-users": ["alice@example.com"]}
NO_ROLE = verify.Reply(403, json.dumps({"error": "access denied: no role granted"}))


def test_a_403_for_a_member_of_a_grant_group_says_the_group_is_not_visible() -> None:
    diagnosis = verify.diagnose("list models", "http://ai/v1", NO_ROLE, "alice@example.com", GRANT_GROUPS)
    assert diagnosis.symptom == (
        "list models: 403 / access denied through the gateway (access denied: no role granted) for "
        "alice@example.com, a member of group:ai-users"
    )
    assert diagnosis.cause.startswith("this group is not visible to Aperture: the grants name group:ai-users")
    assert "remove sovereign-ai:gateway.visibleGroups" in diagnosis.fix
    assert "turn group visibility on for the tailnet" in diagnosis.fix and "`make up`" in diagnosis.fix


@pytest.mark.parametrize(
    ("identity", "reply"),
    [
        pytest.param("mallory@example.com", NO_ROLE, id="not-a-member"),
        pytest.param(None, NO_ROLE, id="identity-unknown"),
        pytest.param(
            "alice@example.com", verify.Reply(403, '{"error": "admin role required"}'), id="other-403"
        ),
    ],
)
def test_other_403s_keep_the_missing_grant_diagnosis(identity: str | None, reply: Any) -> None:
    diagnosis = verify.diagnose("list models", "http://ai/v1", reply, identity, GRANT_GROUPS)
    assert diagnosis.cause == "no Aperture grant covers your identity"


def test_verify_names_the_hidden_group(gateway: str, capsys: pytest.CaptureFixture[str]) -> None:
    Gateway.answers["/v1/models"] = (403, {"error": "access denied: no role granted"})
    assert verify.verify(gateway, MODEL, "alice@example.com", grant_groups=GRANT_GROUPS) == 1
    assert "this group is not visible to Aperture" in capsys.readouterr().err


def test_grant_group_members_come_from_the_live_grants_and_the_config() -> None:
    grants = [
        {"src": ["admin@example.com"], "app": {}},
        {"src": ["group:ai-users", "group:scim@example.com", "bob@example.com"], "app": {}},
    ]
    tailnet = {"groups": {"group:ai-users": ["alice@example.com"], "group:unused": ["carol@example.com"]}}
    assert verify.grant_group_members(grants, tailnet) == {
        "group:ai-users": ["alice@example.com"],
        "group:scim@example.com": [],
    }
    assert verify.grant_group_members("[secret]", None) == {}
