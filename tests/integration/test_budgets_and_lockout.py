"""Budgets and the deployer lockout guard through the real engine, on one sandbox stack whose admins
are admin@example.com (the sandbox's deploy identity) and ops@example.com.

A small per-user budget is deployed with the policy pack, spent through the gateway until Aperture
answers 429 with `Retry-After`, and refilled; `make verify` prints what is left. Then a grants change
that drops ops from the admin role is refused by the pack before any call to Aperture; deployed
without the pack it is saved, and the next deploy as ops, the one that would put the grant back, gets
403. Tests run in file order.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from testing.engine import ROOT
from testing.sandbox_stack import OPENER, SandboxStack
from tests.integration.test_previews import findings

pytestmark = pytest.mark.engine

ADMIN = "admin@example.com"
OPS = "ops@example.com"
ALICE = "alice@example.com"
MODEL = "Qwen/Qwen3.6-35B-A3B-FP8"
BUDGET = {"capacity": "$0.00005", "rate": "$0.0006/min"}
"""A few completions' worth, priced as gpt-5-mini; it refills $0.00001 a second."""

GRANTS_WITHOUT_OPS = [
    {"src": [ADMIN], "role": "admin", "models": "**"},
    {"src": ["group:ai-users"], "role": "user", "models": "spark/**"},
]
GRANTS_BACK = [{**GRANTS_WITHOUT_OPS[0], "src": [ADMIN, OPS]}, GRANTS_WITHOUT_OPS[1]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxStack]:
    running = SandboxStack.start(tmp_path_factory.mktemp("budgets"))
    try:
        running.set_tailnet(admins=[ADMIN, OPS])
        running.set_gateway(quotas=BUDGET)
        deployed = running.stack_sh("up")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        yield running
    finally:
        running.stop()


def chat(stack: SandboxStack, identity: str) -> tuple[int, str | None, str]:
    """One completion through the gateway: (status, Retry-After, body)."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Say hello in five words."}],
        "max_tokens": 16,
    }
    request = urllib.request.Request(
        stack.endpoints["aperture"]["url"] + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        method="POST",
    )
    request.add_header("X-Sandbox-Identity", identity)
    request.add_header("Content-Type", "application/json")
    try:
        with OPENER.open(request, timeout=60) as response:
            return response.status, None, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Retry-After"), exc.read().decode()


def test_a_small_budget_is_spent_refused_with_retry_after_and_refilled(stack: SandboxStack) -> None:
    answers = [chat(stack, ALICE) for _ in range(12)]
    statuses = [status for status, _, _ in answers]
    assert 200 in statuses and 429 in statuses, statuses
    spent = statuses.index(429)
    _, retry_after, body = answers[spent]
    assert json.loads(body)["error"].startswith(
        'quota exceeded: bucket "sovereign-ai:alice@example.com" has -$'
    )
    assert retry_after is not None and int(retry_after) >= 1
    assert chat(stack, ADMIN)[0] == 200, "admin@example.com has a bucket of its own"
    time.sleep(int(retry_after))
    assert chat(stack, ALICE)[0] == 200


def test_verify_prints_the_remaining_budget(stack: SandboxStack) -> None:
    time.sleep(6)  # a full bucket again: $0.00005 at $0.00001 a second
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "verify.py"), "--stack", "sandbox", "--identity", ALICE, "--usage"],
        cwd=stack.project, env=stack.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "of $0.00005 left in sovereign-ai:alice@example.com (refills $0.0006/min)" in result.stdout


def test_a_deploy_that_drops_a_deployer_is_refused_before_any_call_to_aperture(stack: SandboxStack) -> None:
    stack.set_gateway(grants=GRANTS_WITHOUT_OPS)
    stack.mark()
    result = stack.stack_sh("up")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert ("mandatory", "aperture-keeps-deployer-admin") in findings(output), output
    assert 'keep the admin grant {src: ["ops@example.com"], role: admin}' in output, output
    calls = stack.since_mark()
    assert [c for c in calls if c["service"] == "aperture"] == [], calls
    assert [c for c in calls if c.get("mutating")] == [], calls


def test_without_the_guard_the_next_deploy_as_the_dropped_admin_gets_403(stack: SandboxStack) -> None:
    unguarded = stack.pulumi("up", "--yes", "--skip-preview")
    assert unguarded.returncode == 0, unguarded.stdout + unguarded.stderr
    stack.set_gateway(grants=GRANTS_BACK)
    stack.mark()
    stack.env["SOVEREIGN_AI_IDENTITY"] = OPS
    try:
        repair = stack.pulumi("up", "--yes", "--skip-preview")
    finally:
        del stack.env["SOVEREIGN_AI_IDENTITY"]
    output = repair.stdout + repair.stderr
    assert repair.returncode != 0, output
    assert "(403) for ops@example.com; it needs a grant with role admin" in output, output
    writes = [c for c in stack.since_mark() if c["service"] == "aperture" and c.get("mutating")]
    assert writes == [], writes
