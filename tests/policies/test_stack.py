"""Stack guardrails over all resources together: one happy-path stack (tailnet policy, Aperture config
with its read-back grants, one auth key), one change per case, exact messages."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import PolicyResource, StackValidationArgs
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE

from policies import stack
from policies.common import ACL, APERTURE_CONFIG, TAILNET_KEY
from testing.policies import (
    PRODUCTION_ONLY,
    checked_later,
    generated_policy_text,
    generated_policy_with,
    not_applicable_reason,
    replaced,
    run_policy,
    run_policy_with_unknowns,
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
ENDPOINT = f"{GATEWAY} providers.spark.baseurl: points at http://100.101.1.2:8000"
READ_BACK_FIX = (
    "grant admin only to sovereign-ai:tailnet.admins and give everyone else role user (if the declared "
    "grants are narrower, Aperture was changed outside this stack: run `pulumi up` again)"
)


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
    return stack_args(*resources(acl=generated_policy_with(grant)))


def args_with_aperture(**changes: Any) -> StackValidationArgs:
    """The happy stack with the Aperture config's props replaced (None removes one)."""
    return stack_args(*resources(aperture=replaced(APERTURE, **changes)))


def bypass(src: str, target: str) -> str:
    """What `model-endpoint-gateway-only` says of grants[3] letting `src` reach `target` on the port."""
    return (
        f'{ENDPOINT}, but tailnet policy "tailnet" grants[3] lets {src} reach {target} on the model port '
        "tcp:8000, bypassing the gateway; only tag:aperture may reach it; remove the other sources from src: "
        "model users reach the model through the gateway"
    )


@pytest.mark.parametrize("policy", stack.POLICIES, ids=lambda p: p.name)
def test_every_stack_policy_accepts_the_happy_stack(policy: Any) -> None:
    assert run_policy(policy, stack_args(*resources())) == []


# id: (the grant added to the generated policy, what model-endpoint-gateway-only reports)
ENDPOINT_GRANTS = {
    "rejects-a-rule-to-the-endpoint-address": (
        {"src": ["group:ai-users"], "dst": ["100.101.1.2"], "ip": ["*"]},
        [bypass("group:ai-users", "100.101.1.2")],
    ),
    "rejects-a-rule-to-the-tailnet-range": (
        {"src": ["alice@example.com"], "dst": ["100.64.0.0/10"], "ip": ["tcp:8000-8010"]},
        [bypass("alice@example.com", "100.101.1.2")],
    ),
    "rejects-a-rule-to-the-gpu-tag-on-the-endpoint-port": (
        {"src": ["autogroup:member"], "dst": ["tag:gpu"], "ip": ["tcp:8000"]},
        [bypass("autogroup:member", "tag:gpu")],
    ),
    "accepts-other-ports-and-devices": (
        {"src": ["group:ai-users"], "dst": ["100.101.1.2", "tag:nas"], "ip": ["tcp:9090"]},
        [],
    ),
}


@pytest.mark.parametrize(("grant", "expected"), ENDPOINT_GRANTS.values(), ids=ENDPOINT_GRANTS.keys())
def test_model_endpoint_gateway_only(grant: dict[str, Any], expected: list[str]) -> None:
    assert run_policy(stack.model_endpoint_gateway_only, args_with_grant(grant)) == expected


def test_model_endpoint_gateway_only_rejects_a_stack_without_tailnet_policy() -> None:
    args = stack_args(*resources(with_acl=False))
    assert run_policy(stack.model_endpoint_gateway_only, args) == [
        f"{ENDPOINT}, but the stack declares no tailnet policy (tailscale:index/acl:Acl), so nothing shows "
        "that only the gateway reaches port 8000; declare the policy file in this stack"
    ]


# id: (the Aperture config's changed props, what aperture-effective-no-wildcard-admin reports)
READ_BACK = {
    "rejects-star-admin-read-back": (
        {
            "effective_grants": [
                *GRANTS,
                {"src": ["*"], "app": {CAP: [{"role": "admin"}, {"role": "user"}, {"models": "**"}]}},
            ]
        },
        [
            f"{GATEWAY} effectiveGrants[2]: after the deploy Aperture gives the admin role to *, which is "
            f"wider than the configured admins (admin@example.com); {READ_BACK_FIX}"
        ],
    ),
    "reads-the-camel-case-output": (
        {
            "effective_grants": None,
            "effectiveGrants": [{"src": ["autogroup:member"], "app": {CAP: [{"role": "admin"}]}}],
        },
        [
            f"{GATEWAY} effectiveGrants[0]: after the deploy Aperture gives the admin role to "
            f"autogroup:member, which is wider than the configured admins (admin@example.com); {READ_BACK_FIX}"
        ],
    ),
    "rejects-missing-read-back-after-deploy": (
        {"effective_grants": None},
        [
            f"{GATEWAY}: reports no effectiveGrants, so the grants in force after the deploy cannot be "
            "checked; make the ApertureConfig provider return the grants it read back"
        ],
    ),
}


@pytest.mark.parametrize(("changes", "expected"), READ_BACK.values(), ids=READ_BACK.keys())
def test_aperture_effective_no_wildcard_admin(changes: dict[str, Any], expected: list[str]) -> None:
    assert run_policy(stack.aperture_effective_no_wildcard_admin, args_with_aperture(**changes)) == expected


@pytest.mark.usefixtures("preview")
def test_aperture_effective_no_wildcard_admin_defers_missing_read_back_at_preview() -> None:
    args = args_with_aperture(effective_grants=None)
    assert run_policy_with_unknowns(stack.aperture_effective_no_wildcard_admin, args) == (
        [],
        checked_later("Array value at .effectiveGrants", GATEWAY),
    )


def test_aperture_effective_no_wildcard_admin_defers_unknown_read_back() -> None:
    args = args_with_aperture(effective_grants=UNKNOWN_ARRAY_VALUE)
    assert run_policy_with_unknowns(stack.aperture_effective_no_wildcard_admin, args) == (
        [],
        checked_later("Array value at .effective_grants", GATEWAY),
    )


def test_aperture_effective_no_wildcard_admin_accepts_development(development_stack: None) -> None:
    args = args_with_aperture(effective_grants=[{"src": ["*"], "app": {CAP: [{"role": "admin"}]}}])
    assert not_applicable_reason(stack.aperture_effective_no_wildcard_admin, args) == PRODUCTION_ONLY
