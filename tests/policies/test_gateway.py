"""Aperture config guardrails (`pulumi-python:dynamic/aperture:Config`): one happy-path config, one
change per case, exact messages, and no secret (a provider's apikey) in any message."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies import gateway
from policies.common import APERTURE_CONFIG
from testing.policies import (
    PRODUCTION_ONLY,
    checked_later,
    not_applicable_reason,
    resource_args,
    run_policy,
    run_policy_with_unknowns,
)

WHO = 'Aperture config "gateway"'
CAP = "tailscale.com/cap/aperture"
APIKEY = "sk-provider-secret-0123456789"
BUDGET = {"bucket": "sovereign-ai:<user>"}

HAPPY: dict[str, Any] = {
    "providers": {
        "spark": {
            "baseurl": "http://100.101.1.2:8000",
            "models": ["Qwen/Qwen3.6-35B-A3B-FP8"],
            "apikey": APIKEY,
            "compatibility": {"openai_chat": True},
        }
    },
    "grants": [
        {
            "src": ["admin@example.com"],
            "app": {CAP: [{"role": "admin"}, {"models": "**", "quotas": [BUDGET]}]},
        },
        {
            "src": ["group:ai-users"],
            "app": {CAP: [{"role": "user"}, {"models": "spark/**", "quotas": [BUDGET]}]},
        },
    ],
    "quotas": {"sovereign-ai:<user>": {"capacity": "$10.00", "rate": "$5.00/day", "on_exceed": "reject"}},
    "environment": "production",
}

Change = Callable[[dict[str, Any]], None]


def gateway_args(change: Change | None = None) -> ResourceValidationArgs:
    props = copy.deepcopy(HAPPY)
    if change is not None:
        change(props)
    return resource_args(APERTURE_CONFIG, props, "gateway")


def add_grant(src: list[str], *caps: dict[str, str]) -> Change:
    return lambda props: props["grants"].append({"src": src, "app": {CAP: list(caps)}})


def set_baseurl(url: str) -> Change:
    return lambda props: props["providers"]["spark"].update(baseurl=url)


STAR_ADMIN = add_grant(["*"], {"role": "admin"})
EVERY_MODEL_TO_EVERYONE = add_grant(["*"], {"role": "user"}, {"models": "**"})
ONE_PROVIDER_TO_EVERYONE = add_grant(["*"], {"role": "user"}, {"models": "spark/**"})


@pytest.mark.parametrize("policy", gateway.POLICIES, ids=lambda p: p.name)
def test_every_gateway_policy_accepts_the_happy_config(policy: Any) -> None:
    assert run_policy(policy, gateway_args()) == []


# id: (policy, change to the happy config, the message)
REJECTED = {
    "star-admin": (
        gateway.aperture_no_wildcard_admin,
        STAR_ADMIN,
        f"{WHO} grants[2]: gives the Aperture admin role to *, which is wider than the configured admins "
        "(admin@example.com); grant admin only to sovereign-ai:tailnet.admins and give everyone else role user",
    ),
    "autogroup-member-and-wide-group-admin": (
        gateway.aperture_no_wildcard_admin,
        add_grant(["autogroup:member", "group:ai-users", "bob@example.com"], {"role": "admin"}),
        f"{WHO} grants[2]: gives the Aperture admin role to autogroup:member, group:ai-users, which is wider "
        "than the configured admins (admin@example.com); grant admin only to sovereign-ai:tailnet.admins and "
        "give everyone else role user",
    ),
    "login-pattern-admin": (
        gateway.aperture_no_wildcard_admin,
        add_grant(["*@example.com", "user:*@example.com"], {"role": "admin"}),
        f"{WHO} grants[2]: gives the Aperture admin role to *@example.com, user:*@example.com, which is "
        "wider than the configured admins (admin@example.com); grant admin only to sovereign-ai:tailnet.admins "
        "and give everyone else role user",
    ),
    "model-grant-without-budget": (
        gateway.aperture_model_grant_budget,
        ONE_PROVIDER_TO_EVERYONE,
        f"{WHO} grants[2]: gives models spark/** without a budget that refuses once spent, so one caller can "
        "keep the GPU busy for everyone; set sovereign-ai:gateway.quotas ({} gives each caller $10.00 that "
        "refills at $5.00/day), or a quota on this grant in sovereign-ai:gateway.grants",
    ),
    "budget-bucket-that-never-refuses": (
        gateway.aperture_model_grant_budget,
        lambda props: props.update(
            quotas={**props["quotas"], "tracking": {"capacity": "$1.00", "rate": "$1.00/day"}},
            grants=[
                {
                    "src": ["admin@example.com"],
                    "app": {CAP: [{"role": "admin"}, {"models": "**", "quotas": [{"bucket": "tracking"}]}]},
                },
                props["grants"][1],
            ],
        ),
        f"{WHO} grants[0]: gives models ** without a budget that refuses once spent, so one caller can keep "
        "the GPU busy for everyone; set sovereign-ai:gateway.quotas ({} gives each caller $10.00 that "
        "refills at $5.00/day), or a quota on this grant in sovereign-ai:gateway.grants",
    ),
    "every-model-to-everyone": (
        gateway.aperture_no_wildcard_models,
        EVERY_MODEL_TO_EVERYONE,
        f'{WHO} grants[2]: gives every model (models "**") to every device of the tailnet (src "*"); in '
        "production name the model users (sovereign-ai:tailnet.modelUsers) and their models, e.g. models "
        '"spark/**"',
    ),
    "public-host-without-echoing-credentials": (
        gateway.aperture_provider_private_baseurl,
        set_baseurl("https://user:hunter2@api.example.com:8443/v2?key=abc"),
        f"{WHO} providers.spark.baseurl: 'https://api.example.com:8443/v2' points at api.example.com, a "
        "public DNS name: a provider baseurl must be a tailnet address (100.64.0.0/10) or a MagicDNS name "
        "(a short name such as ai, or <name>.<tailnet>.ts.net)",
    ),
    "lan-address": (
        gateway.aperture_provider_private_baseurl,
        set_baseurl("http://192.168.1.50:8000"),
        f"{WHO} providers.spark.baseurl: 'http://192.168.1.50:8000' points at 192.168.1.50, which is outside "
        "the tailnet range 100.64.0.0/10: a provider baseurl must be a tailnet address or a MagicDNS name, "
        "never a public or LAN address",
    ),
    "v1-suffix": (
        gateway.aperture_provider_baseurl_no_v1,
        set_baseurl("http://100.101.1.2:8000/v1/"),
        f"{WHO} providers.spark.baseurl: http://100.101.1.2:8000/v1/ ends in /v1: Aperture appends the "
        "request path (/v1/chat/completions), so it would call /v1/v1/... and get 404; use the API root, "
        "http://100.101.1.2:8000",
    ),
}


@pytest.mark.parametrize(("policy", "change", "expected"), REJECTED.values(), ids=REJECTED.keys())
def test_gateway_policy_rejects_without_printing_secrets(
    policy: ResourceValidationPolicy, change: Change, expected: str
) -> None:
    messages = run_policy(policy, gateway_args(change))
    assert messages == [expected]
    assert not any(secret in messages[0] for secret in ("hunter2", "key=abc", APIKEY))


# id: (policy, change to the happy config)
ACCEPTED = {
    "star-as-user": (gateway.aperture_no_wildcard_admin, ONE_PROVIDER_TO_EVERYONE),
    "one-login-that-is-no-pattern": (
        gateway.aperture_no_wildcard_admin,
        add_grant(["ops@example.com", "tag:ci"], {"role": "admin"}),
    ),
    "admin-grant-without-models-needs-no-budget": (gateway.aperture_model_grant_budget, STAR_ADMIN),
    "budget-in-a-floating-capability": (
        gateway.aperture_model_grant_budget,
        add_grant(["*"], {"role": "user"}, {"models": "spark/**"}, {"quotas": [BUDGET]}),  # type: ignore[dict-item]
    ),
    "one-provider-to-everyone": (
        gateway.aperture_no_wildcard_models,
        ONE_PROVIDER_TO_EVERYONE,
    ),
    **{
        url: (gateway.aperture_provider_private_baseurl, set_baseurl(url))
        for url in ("http://spark:8000", "http://spark.tail1234.ts.net:8000", "http://127.100.0.2:8000")
    },
    "v1beta-path": (
        gateway.aperture_provider_baseurl_no_v1,
        set_baseurl("http://100.101.1.2:8000/v1beta"),
    ),
}


@pytest.mark.parametrize(("policy", "change"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_gateway_policy_accepts(policy: ResourceValidationPolicy, change: Change) -> None:
    assert run_policy(policy, gateway_args(change)) == []


def test_aperture_no_wildcard_admin_rejects_in_development_too(development_stack: None) -> None:
    assert len(run_policy(gateway.aperture_no_wildcard_admin, gateway_args(STAR_ADMIN))) == 1


def test_aperture_model_grant_budget_accepts_development(development_stack: None) -> None:
    args = gateway_args(ONE_PROVIDER_TO_EVERYONE)
    assert not_applicable_reason(gateway.aperture_model_grant_budget, args) == PRODUCTION_ONLY


def test_aperture_no_wildcard_models_accepts_development(development_stack: None) -> None:
    args = gateway_args(EVERY_MODEL_TO_EVERYONE)
    assert not_applicable_reason(gateway.aperture_no_wildcard_models, args) == PRODUCTION_ONLY


def test_aperture_provider_private_baseurl_reports_known_providers_and_defers_unknown_ones() -> None:
    def change(props: dict[str, Any]) -> None:
        props["providers"]["spark"]["baseurl"] = UNKNOWN_STRING_VALUE
        props["providers"]["cloud"] = {"baseurl": "https://api.example.com", "models": ["m"]}

    reported, advisory = run_policy_with_unknowns(
        gateway.aperture_provider_private_baseurl, gateway_args(change)
    )
    assert reported == [
        f"{WHO} providers.cloud.baseurl: 'https://api.example.com' points at api.example.com, a public DNS "
        "name: a provider baseurl must be a tailnet address (100.64.0.0/10) or a MagicDNS name (a short name "
        "such as ai, or <name>.<tailnet>.ts.net)"
    ]
    assert advisory == checked_later("string value at .providers.spark.baseurl", WHO)


def test_gateway_policies_never_print_the_provider_key() -> None:
    def change(props: dict[str, Any]) -> None:
        add_grant(["*"], {"role": "admin"}, {"models": "**"})(props)
        props["providers"]["spark"]["baseurl"] = "https://api.example.com/v1"

    messages = [m for policy in gateway.POLICIES for m in run_policy(policy, gateway_args(change))]
    assert len(messages) == 5
    assert not any(APIKEY in m for m in messages)
