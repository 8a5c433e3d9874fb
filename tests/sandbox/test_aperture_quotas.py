"""Budgets in the Aperture emulator, over real HTTP: quota buckets in the config, charging each
completion at its price, 429 with `Retry-After` while a rejecting bucket is spent, the refill, and
`GET /api/quotas` / `POST /api/quotas/refill` (sandbox/aperture/quotas.py, spending.py, pricing.py).

The gateway's clock is the test's: a bucket refills only when the test moves time on.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from sandbox.aperture import ApertureBackend, serve
from sandbox.aperture.config import validate_config
from sandbox.aperture.pricing import go_path_match, request_cost
from testing.host import Upstream
from tests.sandbox.test_aperture_contract import call

ADMIN = "admin@example.com"
ALICE = "alice@example.com"
BOB = "bob@example.com"
CAP = "tailscale.com/cap/aperture"
COST = Decimal("0.00000775")
"""One completion of the test upstream (7 prompt + 3 completion tokens) priced as gpt-5-mini."""


def document(upstream_url: str, **quotas: dict[str, Any]) -> str:
    """A gateway whose self-hosted `spark` is priced as gpt-5-mini and `free` has no price; alice and
    bob are charged `per-user:<user>` and `team` for spark, and `every` for any model."""
    buckets = {
        "per-user:<user>": {"capacity": "$0.00002", "rate": "$0.0006/min", "on_exceed": "reject"},
        "team": {"capacity": "$1.00", "rate": "$1.00/day", "on_exceed": "reject"},
        "every": {"capacity": "$1.00", "rate": "$1.00/day"},
        **quotas,
    }
    quoted = ", ".join(f'"{name}": {_json(value)}' for name, value in buckets.items())
    return f"""{{
  "providers": {{
    "spark": {{
      "baseurl": "{upstream_url}", "models": ["qwen"], "cost_basis": "openai",
      "model_cost_map": [{{"match": "qwen", "as": "gpt-5-mini", "adjustment": 1.0}}],
    }},
    "free": {{ "baseurl": "{upstream_url}", "models": ["free-model"] }},
  }},
  "quotas": {{ {quoted} }},
  "grants": [
    {{ "src": ["{ADMIN}"], "app": {{ "{CAP}": [ {{ "role": "admin" }} ] }} }},
    {{
      "src": ["{ALICE}", "{BOB}"],
      "app": {{ "{CAP}": [
        {{ "role": "user" }},
        {{ "models": "spark/**", "quotas": [{{ "bucket": "per-user:<user>" }}, {{ "bucket": "team" }}] }},
        {{ "models": "free/**" }},
        {{ "quotas": [{{ "bucket": "every" }}] }},
      ] }},
    }},
  ],
}}"""


def _json(value: dict[str, Any]) -> str:
    return "{" + ", ".join(f'"{k}": "{v}"' for k, v in value.items()) + "}"


class Clock:
    """The gateway's time, moved on by the test."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway(upstream: Upstream, clock: Clock) -> Iterator[str]:
    backend = ApertureBackend(document(upstream.url), clock=clock)
    serving = serve(backend=backend)
    yield f"http://127.0.0.1:{serving.server.server_address[1]}"
    serving.stop()


def chat(gateway: str, identity: str, model: str = "qwen") -> tuple[int, dict[str, str], Any]:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return call("POST", f"{gateway}/v1/chat/completions", body, identity)


def balances(gateway: str, identity: str) -> dict[str, str]:
    status, _, listed = call("GET", f"{gateway}/api/quotas", identity=identity)
    assert status == 200, listed
    return {bucket["name"]: bucket["balance"] for bucket in listed}


def test_a_small_budget_is_spent_then_refused_with_retry_after_then_refilled(
    gateway: str, clock: Clock
) -> None:
    statuses = [chat(gateway, ALICE)[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert balances(gateway, ALICE)["per-user:alice@example.com"] == "-$0.000003"  # 0.00002 - 3 * COST
    status, headers, body = chat(gateway, ALICE)
    assert (status, headers["Retry-After"]) == (429, "1")
    assert body == {
        "error": 'quota exceeded: bucket "per-user:alice@example.com" has -$0.000003 of $0.00002 '
        "(refills $0.0006/min); retry after 1s"
    }
    assert chat(gateway, BOB)[0] == 200, "bob's bucket is his own"
    clock.now += 1
    assert chat(gateway, ALICE)[0] == 200


def test_every_bucket_that_applies_is_charged_the_whole_cost(gateway: str) -> None:
    chat(gateway, ALICE)
    chat(gateway, BOB)
    assert balances(gateway, ALICE) == {
        "every": "$0.999984",
        "per-user:alice@example.com": "$0.000012",
        "team": "$0.999984",
    }


def test_a_self_hosted_model_without_a_price_costs_nothing(gateway: str) -> None:
    """Cost basis "N/A": a budget on it never runs out (which is why the program prices its models)."""
    for _ in range(5):
        assert chat(gateway, ALICE, "free-model")[0] == 200
    assert balances(gateway, ALICE)["every"] == "$1.00"


def test_a_bucket_without_on_exceed_is_charged_but_never_refuses(upstream: Upstream, clock: Clock) -> None:
    backend = ApertureBackend(
        document(upstream.url, every={"capacity": "$0.00", "rate": "$0.00/day"}), clock=clock
    )
    serving = serve(backend=backend)
    try:
        url = f"http://127.0.0.1:{serving.server.server_address[1]}"
        assert chat(url, ALICE)[0] == 200
        assert balances(url, ALICE)["every"] == "-$0.000008"
    finally:
        serving.stop()


def test_quotas_show_a_user_her_buckets_and_an_admin_all(gateway: str) -> None:
    chat(gateway, BOB)
    assert sorted(balances(gateway, ALICE)) == ["every", "per-user:alice@example.com", "team"]
    assert sorted(balances(gateway, ADMIN)) == [
        "every",
        "per-user:alice@example.com",
        "per-user:bob@example.com",
        "team",
    ]
    assert call("GET", f"{gateway}/api/quotas", identity="mallory@example.com")[:3:2] == (
        403,
        {"error": "access denied: no role granted"},
    )


def test_an_admin_refills_up_to_the_capacity_and_only_an_admin(gateway: str) -> None:
    chat(gateway, ALICE)
    refill = {"bucket": "per-user:alice@example.com", "amount": "$5.00"}
    status, _, body = call("POST", f"{gateway}/api/quotas/refill", refill, ADMIN)
    assert (status, body["balance"], body["capacity"]) == (200, "$0.00002", "$0.00002")
    assert call("POST", f"{gateway}/api/quotas/refill", refill, ALICE)[0] == 403
    unknown = {"bucket": "nope", "amount": "$1.00"}
    assert call("POST", f"{gateway}/api/quotas/refill", unknown, ADMIN)[:3:2] == (
        404,
        {"error": 'no quota bucket "nope"'},
    )


@pytest.mark.parametrize(
    ("quota", "problem"),
    [
        pytest.param(
            {"capacity": "10", "rate": "$1.00/day"},
            "invalid quota \"bad\": '10' is not an amount",
            id="capacity",
        ),
        pytest.param(
            {"capacity": "$1.00", "rate": "$1.00/fortnight"}, 'invalid quota "bad": rate', id="rate"
        ),
        pytest.param(
            {"capacity": "$1.00", "rate": "$1.00/day", "on_exceed": "overdraft"},
            "invalid quota \"bad\": on_exceed 'overdraft' is not supported",
            id="on-exceed",
        ),
    ],
)
def test_an_invalid_quota_is_refused(upstream: Upstream, quota: dict[str, str], problem: str) -> None:
    problems = validate_config(document(upstream.url, bad=quota))
    assert [p for p in problems if p.startswith(problem)], problems


def test_a_bad_template_and_an_undefined_bucket_are_refused(upstream: Upstream) -> None:
    text = document(upstream.url, **{"daily:<team>": {"capacity": "$1.00", "rate": "$1.00/day"}})
    text = text.replace('"bucket": "team"', '"bucket": "missing"')
    assert validate_config(text) == [
        'bad quota/bucket template in "daily:<team>": <team> (use <user> or <node>)',
        'grants[1]: quotas references undefined quota "missing"',
    ]


def test_prices_follow_the_cost_basis_and_the_model_cost_map() -> None:
    openai = {"baseurl": "https://api.openai.com"}
    assert request_cost(openai, "gpt-5", 1000, 100) == Decimal("0.00225")
    assert request_cost(openai, "gpt-5", 1000, 100, auto=False) == 0
    mapped = {"baseurl": "http://spark:8000", "cost_basis": "openai", "model_cost_map": [
        {"match": "Qwen/*", "as": "gpt-5", "adjustment": 2},
    ]}  # fmt: skip
    assert request_cost(mapped, "Qwen/Qwen3-8B", 1000, 100) == Decimal("0.0045")
    assert request_cost(mapped, "other", 1000, 100) == 0


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("Qwen/*", "Qwen/Qwen3-8B", True),
        ("*", "Qwen/Qwen3-8B", False),
        ("Qwen\\/Qwen3-8B", "Qwen/Qwen3-8B", True),
        ("gpt-5-[a-z]*", "gpt-5-mini", True),
        ("gpt-5-[^m]*", "gpt-5-mini", False),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
    ],
)
def test_model_cost_map_matches_as_go_path_match(pattern: str, name: str, matches: bool) -> None:
    assert go_path_match(pattern, name) is matches
