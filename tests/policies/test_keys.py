"""Auth key guardrails (`tailscale:index/tailnetKey:TailnetKey`): one happy-path key (the one the
program creates per host), one change per case, exact messages."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import ResourceValidationArgs
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, UnknownValueError

from policies import keys
from policies.common import TAILNET_KEY
from testing.policies import not_applicable_reason, resource_args, run_policy

WHO = 'auth key "spark-key"'

HAPPY: dict[str, Any] = {
    "reusable": False,
    "ephemeral": False,
    "preauthorized": True,
    "expiry": 3600,
    "tags": ["tag:gpu"],
    "description": "sovereign-ai spark",
    "recreateIfInvalid": "never",
}


def key_args(config: dict[str, Any] | None = None, **changes: Any) -> ResourceValidationArgs:
    props = {**HAPPY, **changes}
    for name in [name for name, value in changes.items() if value is None]:
        del props[name]
    return resource_args(TAILNET_KEY, props, "spark-key", config)


@pytest.mark.parametrize("policy", keys.POLICIES, ids=lambda p: p.name)
def test_every_key_policy_accepts_the_happy_key(policy: Any) -> None:
    assert run_policy(policy, key_args()) == []


@pytest.mark.parametrize("tags", [None, []], ids=["unset", "empty"])
def test_auth_key_tagged_rejects_untagged_key(tags: list[str] | None) -> None:
    assert run_policy(keys.auth_key_tagged, key_args(tags=tags)) == [
        f"{WHO}: has no tags, so the device joins as the key's creator and the policy file's tag rules do "
        'not apply to it; set tags=["tag:gpu"]'
    ]


def test_auth_key_preauthorized_rejects_key_needing_approval() -> None:
    assert run_policy(keys.auth_key_preauthorized, key_args(preauthorized=False)) == [
        f"{WHO}: is not pre-authorized, so the host waits for someone to approve it in the admin console "
        "and the deploy stalls; set preauthorized=True"
    ]


def test_auth_key_single_use_rejects_reusable_key() -> None:
    assert run_policy(keys.auth_key_single_use, key_args(reusable=True)) == [
        f"{WHO}: is reusable, so anyone who obtains it can join any number of devices under its tags; set "
        "reusable=False (one key per host)"
    ]


def test_auth_key_single_use_rejects_unknown_value_at_preview_with_advisory_reason() -> None:
    with pytest.raises(UnknownValueError) as raised:
        run_policy(keys.auth_key_single_use, key_args(reusable=UNKNOWN_BOOLEAN_VALUE))
    assert raised.value.message == (
        f"boolean value at .reusable can't be known during preview; {WHO} is checked again during "
        "`pulumi up`, once the value is known"
    )


def test_auth_key_short_expiry_rejects_default_ninety_days() -> None:
    assert run_policy(keys.auth_key_short_expiry, key_args(expiry=None)) == [
        f"{WHO}: expiry is not set, so Tailscale's default applies (7776000 s, 90 days); a key only has to "
        "survive the join, so in production set expiry to at most 86400 s "
        "(sovereign-ai:tailnet.keyExpirySeconds, default 3600)"
    ]


def test_auth_key_short_expiry_rejects_longer_than_configured_maximum() -> None:
    args = key_args({"maxExpirySeconds": 1800}, expiry=3600)
    assert run_policy(keys.auth_key_short_expiry, args) == [
        f"{WHO}: expiry is 3600 s; a key only has to survive the join, so in production set expiry to at "
        "most 1800 s (sovereign-ai:tailnet.keyExpirySeconds, default 3600)"
    ]


def test_auth_key_short_expiry_rejects_a_day_and_a_second_even_if_config_allows_more() -> None:
    args = key_args({"maxExpirySeconds": 7776000}, expiry=86401)
    assert run_policy(keys.auth_key_short_expiry, args) == [
        f"{WHO}: expiry is 86401 s; a key only has to survive the join, so in production set expiry to at "
        "most 86400 s (sovereign-ai:tailnet.keyExpirySeconds, default 3600)"
    ]


def test_auth_key_short_expiry_accepts_development(development_stack: None) -> None:
    assert not_applicable_reason(keys.auth_key_short_expiry, key_args(expiry=None)) == (
        "sovereign-ai:environment is development; this rule applies to production stacks only"
    )


@pytest.mark.usefixtures("no_stack_config")
def test_auth_key_short_expiry_rejects_when_environment_is_missing() -> None:
    assert run_policy(keys.auth_key_short_expiry, key_args(expiry=7776000)) == [
        f"{WHO}: expiry is 7776000 s; a key only has to survive the join, so in production set expiry to at "
        "most 86400 s (sovereign-ai:tailnet.keyExpirySeconds, default 3600) (note: "
        "sovereign-ai:environment is not set, so production rules apply)"
    ]
