"""Auth key guardrails (`tailscale:index/tailnetKey:TailnetKey`): one happy-path key (the one the
program creates per host), one change per case, exact messages."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE

from policies import keys
from policies.common import TAILNET_KEY
from testing.policies import (
    PRODUCTION_ONLY,
    checked_later,
    not_applicable_reason,
    replaced,
    resource_args,
    run_policy,
    run_policy_with_unknowns,
)

WHO = 'auth key "spark-key"'
UNTAGGED = (
    f"{WHO}: has no tags, so the device joins as the key's creator and the policy file's tag rules do "
    'not apply to it; set tags=["tag:gpu"]'
)

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
    """The happy key with props replaced (None removes one), and the policy config `config`."""
    return resource_args(TAILNET_KEY, replaced(HAPPY, **changes), "spark-key", config)


@pytest.mark.parametrize("policy", keys.POLICIES, ids=lambda p: p.name)
def test_every_key_policy_accepts_the_happy_key(policy: Any) -> None:
    assert run_policy(policy, key_args()) == []


# id: (policy, policy config, changed props, the message)
REJECTED = {
    "untagged-unset": (keys.auth_key_tagged, None, {"tags": None}, UNTAGGED),
    "untagged-empty": (keys.auth_key_tagged, None, {"tags": []}, UNTAGGED),
    "needs-approval": (
        keys.auth_key_preauthorized,
        None,
        {"preauthorized": False},
        f"{WHO}: is not pre-authorized, so the host waits for someone to approve it in the admin console "
        "and the deploy stalls; set preauthorized=True",
    ),
    "reusable": (
        keys.auth_key_single_use,
        None,
        {"reusable": True},
        f"{WHO}: is reusable, so anyone who obtains it can join any number of devices under its tags; set "
        "reusable=False (one key per host)",
    ),
    "expiry-default-ninety-days": (
        keys.auth_key_short_expiry,
        None,
        {"expiry": None},
        f"{WHO}: expiry is not set, so Tailscale's default applies (7776000 s, 90 days); a key only has to "
        "survive the join, so in production set expiry to at most 86400 s "
        "(sovereign-ai:tailnet.keyExpirySeconds, default 3600)",
    ),
    "expiry-longer-than-configured-maximum": (
        keys.auth_key_short_expiry,
        {"maxExpirySeconds": 1800},
        {"expiry": 3600},
        f"{WHO}: expiry is 3600 s; a key only has to survive the join, so in production set expiry to at "
        "most 1800 s (sovereign-ai:tailnet.keyExpirySeconds, default 3600)",
    ),
    "expiry-a-day-and-a-second-even-if-config-allows-more": (
        keys.auth_key_short_expiry,
        {"maxExpirySeconds": 7776000},
        {"expiry": 86401},
        f"{WHO}: expiry is 86401 s; a key only has to survive the join, so in production set expiry to at "
        "most 86400 s (sovereign-ai:tailnet.keyExpirySeconds, default 3600)",
    ),
}


@pytest.mark.parametrize(("policy", "config", "changes", "expected"), REJECTED.values(), ids=REJECTED.keys())
def test_key_policy_rejects(
    policy: ResourceValidationPolicy, config: dict[str, Any] | None, changes: dict[str, Any], expected: str
) -> None:
    assert run_policy(policy, key_args(config, **changes)) == [expected]


def test_auth_key_single_use_rejects_unknown_value_at_preview_with_advisory_reason() -> None:
    args = key_args(reusable=UNKNOWN_BOOLEAN_VALUE)
    assert run_policy_with_unknowns(keys.auth_key_single_use, args) == (
        [],
        checked_later("boolean value at .reusable", WHO),
    )


def test_auth_key_short_expiry_accepts_development(development_stack: None) -> None:
    assert not_applicable_reason(keys.auth_key_short_expiry, key_args(expiry=None)) == PRODUCTION_ONLY


@pytest.mark.usefixtures("no_stack_config")
def test_auth_key_short_expiry_rejects_when_environment_is_missing() -> None:
    assert run_policy(keys.auth_key_short_expiry, key_args(expiry=7776000)) == [
        f"{WHO}: expiry is 7776000 s; a key only has to survive the join, so in production set expiry to at "
        "most 86400 s (sovereign-ai:tailnet.keyExpirySeconds, default 3600) (note: "
        "sovereign-ai:environment is not set, so production rules apply)"
    ]
