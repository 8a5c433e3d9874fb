"""Stack guardrails over all resources together: one happy-path stack (tailnet policy, Aperture config
with its read-back grants, one auth key), one change per case, exact messages."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pulumi_policy import PolicyResource, StackValidationArgs
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UnknownValueError

from policies import stack
from policies.common import ACL, APERTURE_CONFIG, TAILNET_KEY
from testing.policies import (
    generated_policy,
    generated_policy_text,
    not_applicable_reason,
    run_policy,
    stack_args,
    stack_resource,
)

GATEWAY = 'Aperture config "gateway"'
CAP = "tailscale.com/cap/aperture"
GRANTS = [
    {"src": ["admin@example.com"], "app": {CAP: [{"role": "admin"}]}},
    {"src": ["group:ai-users"], "app": {CAP: [{"role": "user"}, {"models": "spark/**"}]}},
]
APERTURE: dict[str, Any] = {
    "providers": {
        "spark": {"baseurl": "http://100.101.1.2:8000", "models": ["Q"], "apikey": "sk-secret-0123456789"}
    },
    "grants": GRANTS,
    "environment": "production",
    "effective_grants": GRANTS,
    "provider_names": ["spark"],
}
KEY: dict[str, Any] = {"tags": ["tag:gpu"], "reusable": False, "preauthorized": True, "expiry": 3600}


def resources(
    acl: str | None = None, aperture: dict[str, Any] | None = None, with_acl: bool = True
) -> list[PolicyResource]:
    found = [
        stack_resource(APERTURE_CONFIG, aperture if aperture is not None else APERTURE, "gateway"),
        stack_resource(TAILNET_KEY, KEY, "spark-key"),
    ]
    if with_acl:
        found.insert(0, stack_resource(ACL, {"acl": acl or generated_policy_text()}, "tailnet"))
    return found


def args_with_grant(grant: dict[str, Any]) -> StackValidationArgs:
    policy = generated_policy()
    policy["grants"].append(grant)
    return stack_args(*resources(acl=json.dumps(policy)))


def aperture_with(**changes: Any) -> dict[str, Any]:
    aperture = copy.deepcopy(APERTURE)
    for name, value in changes.items():
        if value is None:
            aperture.pop(name, None)
        else:
            aperture[name] = value
    return aperture


@pytest.mark.parametrize("policy", stack.POLICIES, ids=lambda p: p.name)
def test_every_stack_policy_accepts_the_happy_stack(policy: Any) -> None:
    assert run_policy(policy, stack_args(*resources())) == []


def test_model_endpoint_gateway_only_rejects_a_rule_to_the_endpoint_address() -> None:
    args = args_with_grant({"src": ["group:ai-users"], "dst": ["100.101.1.2"], "ip": ["*"]})
    assert run_policy(stack.model_endpoint_gateway_only, args) == [
        f'{GATEWAY} providers.spark.baseurl: points at http://100.101.1.2:8000, but tailnet policy "tailnet" '
        "grants[3] lets group:ai-users reach 100.101.1.2 on the model port tcp:8000, bypassing the gateway; "
        "only tag:aperture may reach it; remove the other sources from src: model users reach the model "
        "through the gateway"
    ]


def test_model_endpoint_gateway_only_rejects_a_rule_to_the_tailnet_range() -> None:
    args = args_with_grant({"src": ["alice@example.com"], "dst": ["100.64.0.0/10"], "ip": ["tcp:8000-8010"]})
    assert run_policy(stack.model_endpoint_gateway_only, args) == [
        f'{GATEWAY} providers.spark.baseurl: points at http://100.101.1.2:8000, but tailnet policy "tailnet" '
        "grants[3] lets alice@example.com reach 100.101.1.2 on the model port tcp:8000, bypassing the gateway; "
        "only tag:aperture may reach it; remove the other sources from src: model users reach the model "
        "through the gateway"
    ]


def test_model_endpoint_gateway_only_rejects_a_rule_to_the_gpu_tag_on_the_endpoint_port() -> None:
    args = args_with_grant({"src": ["autogroup:member"], "dst": ["tag:gpu"], "ip": ["tcp:8000"]})
    assert run_policy(stack.model_endpoint_gateway_only, args) == [
        f'{GATEWAY} providers.spark.baseurl: points at http://100.101.1.2:8000, but tailnet policy "tailnet" '
        "grants[3] lets autogroup:member reach tag:gpu on the model port tcp:8000, bypassing the gateway; "
        "only tag:aperture may reach it; remove the other sources from src: model users reach the model "
        "through the gateway"
    ]


def test_model_endpoint_gateway_only_accepts_other_ports_and_devices() -> None:
    args = args_with_grant({"src": ["group:ai-users"], "dst": ["100.101.1.2", "tag:nas"], "ip": ["tcp:9090"]})
    assert run_policy(stack.model_endpoint_gateway_only, args) == []


def test_model_endpoint_gateway_only_rejects_a_stack_without_tailnet_policy() -> None:
    args = stack_args(*resources(with_acl=False))
    assert run_policy(stack.model_endpoint_gateway_only, args) == [
        f"{GATEWAY} providers.spark.baseurl: points at http://100.101.1.2:8000, but the stack declares no "
        "tailnet policy (tailscale:index/acl:Acl), so nothing shows that only the gateway reaches port 8000; "
        "declare the policy file in this stack"
    ]


def test_aperture_effective_no_wildcard_admin_rejects_star_admin_read_back() -> None:
    effective = [
        *GRANTS,
        {"src": ["*"], "app": {CAP: [{"role": "admin"}, {"role": "user"}, {"models": "**"}]}},
    ]
    args = stack_args(*resources(aperture=aperture_with(effective_grants=effective)))
    assert run_policy(stack.aperture_effective_no_wildcard_admin, args) == [
        f"{GATEWAY} effectiveGrants[2]: after the deploy Aperture gives the admin role to *, which is wider "
        "than the configured admins (admin@example.com); grant admin only to sovereign-ai:tailnet.admins and "
        "give everyone else role user (if the declared grants are narrower, Aperture was changed outside this "
        "stack: run `pulumi up` again)"
    ]


def test_aperture_effective_no_wildcard_admin_reads_the_camel_case_output() -> None:
    effective = [{"src": ["autogroup:member"], "app": {CAP: [{"role": "admin"}]}}]
    aperture = aperture_with(effective_grants=None, effectiveGrants=effective)
    assert run_policy(
        stack.aperture_effective_no_wildcard_admin, stack_args(*resources(aperture=aperture))
    ) == [
        f"{GATEWAY} effectiveGrants[0]: after the deploy Aperture gives the admin role to autogroup:member, "
        "which is wider than the configured admins (admin@example.com); grant admin only to "
        "sovereign-ai:tailnet.admins and give everyone else role user (if the declared grants are narrower, "
        "Aperture was changed outside this stack: run `pulumi up` again)"
    ]


def test_aperture_effective_no_wildcard_admin_rejects_missing_read_back_after_deploy() -> None:
    args = stack_args(*resources(aperture=aperture_with(effective_grants=None)))
    assert run_policy(stack.aperture_effective_no_wildcard_admin, args) == [
        f"{GATEWAY}: reports no effectiveGrants, so the grants in force after the deploy cannot be checked; "
        "make the ApertureConfig provider return the grants it read back"
    ]


@pytest.mark.usefixtures("preview")
def test_aperture_effective_no_wildcard_admin_defers_missing_read_back_at_preview() -> None:
    args = stack_args(*resources(aperture=aperture_with(effective_grants=None)))
    with pytest.raises(UnknownValueError) as raised:
        run_policy(stack.aperture_effective_no_wildcard_admin, args)
    assert raised.value.message == (
        f"Array value at .effectiveGrants can't be known during preview; {GATEWAY} is checked again during "
        "`pulumi up`, once the value is known"
    )


def test_aperture_effective_no_wildcard_admin_defers_unknown_read_back() -> None:
    args = stack_args(*resources(aperture=aperture_with(effective_grants=UNKNOWN_ARRAY_VALUE)))
    with pytest.raises(UnknownValueError) as raised:
        run_policy(stack.aperture_effective_no_wildcard_admin, args)
    assert raised.value.message == (
        f"Array value at .effective_grants can't be known during preview; {GATEWAY} is checked again during "
        "`pulumi up`, once the value is known"
    )


def test_aperture_effective_no_wildcard_admin_accepts_development(development_stack: None) -> None:
    effective = [{"src": ["*"], "app": {CAP: [{"role": "admin"}]}}]
    args = stack_args(*resources(aperture=aperture_with(effective_grants=effective)))
    assert not_applicable_reason(stack.aperture_effective_no_wildcard_admin, args) == (
        "sovereign-ai:environment is development; this rule applies to production stacks only"
    )
