"""Budgets in the config and the plan: `gateway.quotas` and `gateway.grants[].quota` with readable
defaults, errors naming the key and the fix, the bucket each Aperture grant is charged against, the
grants and providers the Gateway writes, and the deployers who must keep the admin role."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.gateway.gateway import aperture_grants
from config.model import StackConfig, parse_config
from config.plan import PolicyPlan
from config.quota_buckets import declared_quotas, pricing
from tests.unit.test_config import HAPPY, problems

CAP = "tailscale.com/cap/aperture"
DEFAULT_QUOTA = {"capacity": "$10.00", "rate": "$5.00/day", "on_exceed": "reject"}


def config(**gateway: Any) -> StackConfig:
    raw = copy.deepcopy(HAPPY)
    raw["gateway"] = gateway
    return parse_config(raw)


def test_quotas_with_no_setting_give_each_caller_ten_dollars_a_day() -> None:
    plan = PolicyPlan.from_config(config(quotas={}))
    assert declared_quotas(plan.buckets()) == {"sovereign-ai:<user>": DEFAULT_QUOTA}
    assert aperture_grants(plan.aperture_grants, plan.buckets()) == [
        {
            "src": ["admin@example.com"],
            "app": {
                CAP: [{"role": "admin"}, {"models": "**", "quotas": [{"bucket": "sovereign-ai:<user>"}]}]
            },
        },
        {
            "src": ["alice@example.com"],
            "app": {
                CAP: [{"role": "user"}, {"models": "spark/**", "quotas": [{"bucket": "sovereign-ai:<user>"}]}]
            },
        },
    ]


def test_without_quotas_no_bucket_and_the_grants_are_as_before() -> None:
    plan = PolicyPlan.from_config(config())
    assert plan.buckets() == [None, None]
    assert aperture_grants(plan.aperture_grants, plan.buckets())[1]["app"][CAP] == [
        {"role": "user"},
        {"models": "spark/**"},
    ]


def test_a_grant_with_a_budget_of_its_own_gets_a_bucket_of_its_own() -> None:
    grants = [
        {"src": ["admin@example.com"], "role": "admin"},
        {
            "src": ["group:ai-users"],
            "role": "user",
            "models": "spark/**",
            "quota": {"capacity": "$1.00", "perUser": False},
        },
    ]
    plan = PolicyPlan.from_config(config(grants=grants, quotas={"rate": "$1.00/hour"}))
    assert [b.name if b else None for b in plan.buckets()] == [None, "sovereign-ai-grant1"]
    assert declared_quotas(plan.buckets()) == {
        "sovereign-ai-grant1": {"capacity": "$1.00", "rate": "$5.00/day", "on_exceed": "reject"}
    }


@pytest.mark.parametrize(
    ("gateway", "problem"),
    [
        pytest.param(
            {"quotas": {"capacity": "10"}},
            "sovereign-ai:gateway.quotas.capacity: '10' is not an amount in US dollars: write it as Aperture "
            "does, e.g. $10.00",
            id="capacity",
        ),
        pytest.param(
            {"quotas": {"rate": "$5/fortnight"}},
            "sovereign-ai:gateway.quotas.rate: '$5/fortnight' is not a refill rate: write $<amount>/<unit> with "
            "unit min, hour, day, week or month, e.g. $5.00/day",
            id="rate",
        ),
        pytest.param(
            {"quotas": {"onExceed": "overdraft"}},
            "sovereign-ai:gateway.quotas.onExceed: Input should be 'reject'",
            id="on-exceed",
        ),
        pytest.param(
            {"grants": [{"src": ["admin@example.com"], "role": "admin", "quota": {}}], "quotas": None},
            "sovereign-ai:gateway.grants[0]: quota on a grant without models charges nothing (it calls no "
            "model): remove quota, or set models, e.g. spark/**",
            id="quota-without-models",
        ),
        pytest.param(
            {"pricedAs": "gpt-5-mini"},
            "sovereign-ai:gateway.pricedAs: 'gpt-5-mini' is not <cost basis>/<model>: name one of Aperture's "
            "price lists (",
            id="priced-as",
        ),
    ],
)
def test_a_bad_budget_names_the_key_and_the_fix(gateway: dict[str, Any], problem: str) -> None:
    raw = copy.deepcopy(HAPPY)
    raw["gateway"] = {key: value for key, value in gateway.items() if value is not None}
    found = problems(raw)
    assert [p for p in found if p.startswith(problem)], found


def test_pricing_prices_the_served_model_as_a_hosted_one() -> None:
    assert pricing("Qwen/Qwen3[FP8]*", "openai/gpt-5-mini") == {
        "cost_basis": "openai",
        "model_cost_map": [{"match": "Qwen/Qwen3\\[FP8]\\*", "as": "gpt-5-mini", "adjustment": 1.0}],
    }


def test_the_deployers_are_the_admin_logins_and_the_deploy_tag() -> None:
    raw = copy.deepcopy(HAPPY)
    raw["tailnet"] = {
        **raw["tailnet"],
        "admins": ["group:ops", "root@example.com"],
        "groups": {**raw["tailnet"]["groups"], "group:ops": ["ops@example.com"]},
        "deployTag": "tag:deploy",
    }
    assert PolicyPlan.from_config(parse_config(raw)).deployers() == [
        "ops@example.com",
        "root@example.com",
        "tag:deploy",
    ]
