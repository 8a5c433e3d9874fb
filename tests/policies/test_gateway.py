"""Aperture config guardrails (`pulumi-python:dynamic/aperture:Config`): one happy-path config, one
change per case, exact messages, and no secret (a provider's apikey) in any message."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import ResourceValidationArgs
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies import gateway
from policies.common import APERTURE_CONFIG
from testing.policies import not_applicable_reason, resource_args, run_policy, run_policy_with_unknowns

WHO = 'Aperture config "gateway"'
CAP = "tailscale.com/cap/aperture"
APIKEY = "sk-provider-secret-0123456789"

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
        {"src": ["admin@example.com"], "app": {CAP: [{"role": "admin"}, {"models": "**"}]}},
        {"src": ["group:ai-users"], "app": {CAP: [{"role": "user"}, {"models": "spark/**"}]}},
    ],
    "environment": "production",
}


def gateway_args(change: Callable[[dict[str, Any]], None] | None = None) -> ResourceValidationArgs:
    props = copy.deepcopy(HAPPY)
    if change is not None:
        change(props)
    return resource_args(APERTURE_CONFIG, props, "gateway")


def add_grant(src: list[str], *caps: dict[str, str]) -> Callable[[dict[str, Any]], None]:
    return lambda props: props["grants"].append({"src": src, "app": {CAP: list(caps)}})


def set_baseurl(url: str) -> Callable[[dict[str, Any]], None]:
    return lambda props: props["providers"]["spark"].update(baseurl=url)


@pytest.mark.parametrize("policy", gateway.POLICIES, ids=lambda p: p.name)
def test_every_gateway_policy_accepts_the_happy_config(policy: Any) -> None:
    assert run_policy(policy, gateway_args()) == []


def test_aperture_no_wildcard_admin_rejects_star_admin() -> None:
    args = gateway_args(add_grant(["*"], {"role": "admin"}))
    assert run_policy(gateway.aperture_no_wildcard_admin, args) == [
        f"{WHO} grants[2]: gives the Aperture admin role to *, which is wider than the configured admins "
        "(admin@example.com); grant admin only to sovereign-ai:tailnet.admins and give everyone else role user"
    ]


def test_aperture_no_wildcard_admin_rejects_autogroup_member_and_wide_group() -> None:
    args = gateway_args(
        add_grant(["autogroup:member", "group:ai-users", "bob@example.com"], {"role": "admin"})
    )
    assert run_policy(gateway.aperture_no_wildcard_admin, args) == [
        f"{WHO} grants[2]: gives the Aperture admin role to autogroup:member, group:ai-users, which is wider "
        "than the configured admins (admin@example.com); grant admin only to sovereign-ai:tailnet.admins and "
        "give everyone else role user"
    ]


def test_aperture_no_wildcard_admin_accepts_star_as_user() -> None:
    args = gateway_args(add_grant(["*"], {"role": "user"}, {"models": "spark/**"}))
    assert run_policy(gateway.aperture_no_wildcard_admin, args) == []


def test_aperture_no_wildcard_admin_rejects_in_development_too(development_stack: None) -> None:
    args = gateway_args(add_grant(["*"], {"role": "admin"}))
    assert len(run_policy(gateway.aperture_no_wildcard_admin, args)) == 1


def test_aperture_no_wildcard_models_rejects_every_model_to_everyone() -> None:
    args = gateway_args(add_grant(["*"], {"role": "user"}, {"models": "**"}))
    assert run_policy(gateway.aperture_no_wildcard_models, args) == [
        f'{WHO} grants[2]: gives every model (models "**") to every device of the tailnet (src "*"); in '
        "production name the model users (sovereign-ai:tailnet.modelUsers) and their models, e.g. models "
        '"spark/**"'
    ]


def test_aperture_no_wildcard_models_accepts_one_provider_to_everyone() -> None:
    args = gateway_args(add_grant(["*"], {"role": "user"}, {"models": "spark/**"}))
    assert run_policy(gateway.aperture_no_wildcard_models, args) == []


def test_aperture_no_wildcard_models_accepts_development(development_stack: None) -> None:
    args = gateway_args(add_grant(["*"], {"role": "user"}, {"models": "**"}))
    assert not_applicable_reason(gateway.aperture_no_wildcard_models, args) == (
        "sovereign-ai:environment is development; this rule applies to production stacks only"
    )


def test_aperture_provider_private_baseurl_rejects_public_host_without_echoing_credentials() -> None:
    args = gateway_args(set_baseurl("https://user:hunter2@api.example.com:8443/v2?key=abc"))
    messages = run_policy(gateway.aperture_provider_private_baseurl, args)
    assert messages == [
        f"{WHO} providers.spark.baseurl: 'https://api.example.com:8443/v2' points at api.example.com, a "
        "public DNS name: a provider baseurl must be a tailnet address (100.64.0.0/10) or a MagicDNS name "
        "(a short name such as ai, or <name>.<tailnet>.ts.net)"
    ]
    assert not any(secret in messages[0] for secret in ("hunter2", "key=abc", APIKEY))


def test_aperture_provider_private_baseurl_rejects_lan_address() -> None:
    args = gateway_args(set_baseurl("http://192.168.1.50:8000"))
    assert run_policy(gateway.aperture_provider_private_baseurl, args) == [
        f"{WHO} providers.spark.baseurl: 'http://192.168.1.50:8000' points at 192.168.1.50, which is outside "
        "the tailnet range 100.64.0.0/10: a provider baseurl must be a tailnet address or a MagicDNS name, "
        "never a public or LAN address"
    ]


@pytest.mark.parametrize(
    "url", ["http://spark:8000", "http://spark.tail1234.ts.net:8000", "http://127.100.0.2:8000"]
)
def test_aperture_provider_private_baseurl_accepts_magicdns_and_sandbox_addresses(url: str) -> None:
    assert run_policy(gateway.aperture_provider_private_baseurl, gateway_args(set_baseurl(url))) == []


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
    assert advisory == (
        f"string value at .providers.spark.baseurl can't be known during preview; {WHO} is checked again "
        "during `pulumi up`, once the value is known"
    )


def test_aperture_provider_baseurl_no_v1_rejects_v1_suffix() -> None:
    args = gateway_args(set_baseurl("http://100.101.1.2:8000/v1/"))
    assert run_policy(gateway.aperture_provider_baseurl_no_v1, args) == [
        f"{WHO} providers.spark.baseurl: http://100.101.1.2:8000/v1/ ends in /v1: Aperture appends the "
        "request path (/v1/chat/completions), so it would call /v1/v1/... and get 404; use the API root, "
        "http://100.101.1.2:8000"
    ]


def test_aperture_provider_baseurl_no_v1_accepts_other_paths() -> None:
    args = gateway_args(set_baseurl("http://100.101.1.2:8000/v1beta"))
    assert run_policy(gateway.aperture_provider_baseurl_no_v1, args) == []


def test_gateway_policies_never_print_the_provider_key() -> None:
    def change(props: dict[str, Any]) -> None:
        add_grant(["*"], {"role": "admin"}, {"models": "**"})(props)
        props["providers"]["spark"]["baseurl"] = "https://api.example.com/v1"

    messages = [m for policy in gateway.POLICIES for m in run_policy(policy, gateway_args(change))]
    assert len(messages) == 4
    assert not any(APIKEY in m for m in messages)
