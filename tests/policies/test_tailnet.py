"""Tailnet policy file guardrails (`tailscale:index/acl:Acl`): one happy-path policy (the one the
program generates for the happy-path config), one change per case, exact messages."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

import hujson
from hujson import HuJSONError
from policies import tailnet
from policies.common import ACL
from testing.policies import (
    checked_later,
    generated_policy,
    generated_policy_text,
    resource_args,
    run_policy,
    run_policy_with_unknowns,
)

WHO = 'tailnet policy "tailnet"'
CAP = "tailscale.com/cap/aperture"
MODEL_USERS_BYPASS = (
    f"{WHO} grants[3]: lets group:ai-users reach tag:gpu on the model port tcp:8000, bypassing the "
    "gateway; only tag:aperture may reach it; remove the other sources from src: model users reach "
    "the model through the gateway"
)

Change = Callable[[dict[str, Any]], None]


def acl_args(change: Change | None = None) -> ResourceValidationArgs:
    """The generated policy (as the program renders it), or a copy with one change, as JSON."""
    if change is None:
        text = generated_policy_text()
    else:
        policy = generated_policy()
        change(policy)
        text = json.dumps(policy)
    return resource_args(ACL, {"acl": text, "overwriteExistingContent": True}, "tailnet")


def add_grant(grant: dict[str, Any]) -> Change:
    return lambda policy: policy["grants"].append(grant)


def update(**sections: Any) -> Change:
    return lambda policy: policy.update(sections)


def ssh_from(src: str, dst: str, user: str) -> list[dict[str, Any]]:
    return [{"action": "accept", "src": [src], "dst": [dst], "users": [user]}]


def aperture_admins_and_users(policy: dict[str, Any]) -> None:
    policy["groups"]["group:admins"] = ["admin@example.com"]
    policy["grants"] += [
        {"src": ["group:admins"], "dst": ["tag:aperture"], "app": {CAP: [{"role": "admin"}]}},
        {"src": ["*"], "dst": ["tag:aperture"], "app": {CAP: [{"role": "user"}, {"models": "spark/**"}]}},
    ]


def reordered_and_extra_tests(policy: dict[str, Any]) -> None:
    policy["tests"].reverse()
    policy["tests"][0]["accept"] = [*reversed(policy["tests"][0]["accept"]), "tag:gpu:8000"]


@pytest.mark.parametrize("policy", tailnet.POLICIES, ids=lambda p: p.name)
def test_every_tailnet_policy_accepts_the_generated_policy(policy: Any) -> None:
    assert run_policy(policy, acl_args()) == []


def test_tailnet_policies_ignore_other_resource_types() -> None:
    args = resource_args("tailscale:index/tailnetKey:TailnetKey", {"acl": "{"}, "tailnet")
    assert [run_policy(policy, args) for policy in tailnet.POLICIES] == [[]] * len(tailnet.POLICIES)


def test_tailnet_policy_readable_rejects_invalid_hujson() -> None:
    text = '{"grants": [}'
    with pytest.raises(HuJSONError) as syntax:  # the parser's own wording, e.g. "line 1, column 13: ..."
        hujson.loads(text)
    assert str(syntax.value).startswith("line 1, column 13: ")
    args = resource_args(ACL, {"acl": text}, "tailnet")
    assert run_policy(tailnet.tailnet_policy_readable, args) == [
        f"{WHO} acl: cannot be read ({syntax.value}), so no guardrail can check it; fix the policy file "
        "(Tailscale would refuse it too)"
    ]


def test_tailnet_policy_readable_accepts_comments_and_trailing_commas() -> None:
    text = '// mine\n{"groups": {"group:me": ["me@example.com",],},}'
    assert run_policy(tailnet.tailnet_policy_readable, resource_args(ACL, {"acl": text}, "tailnet")) == []


# id: (policy, change to the generated policy, the message)
REJECTED = {
    "no-funnel-funnel-node-attr": (
        tailnet.tailnet_no_funnel,
        update(nodeAttrs=[{"target": ["tag:gpu"], "attr": ["funnel"]}]),
        f"{WHO} nodeAttrs[0]: grants Funnel to tag:gpu, which publishes services on the public internet; "
        'remove "funnel" from attr',
    ),
    "no-danger-all-danger-all-source": (
        tailnet.tailnet_no_danger_all,
        add_grant({"src": ["autogroup:danger-all"], "dst": ["tag:aperture"], "ip": ["tcp:443"]}),
        f"{WHO} grants[3]: src autogroup:danger-all matches every device, including devices outside your "
        "tailnet; name the users, groups or tags that need access",
    ),
    "no-danger-all-danger-all-in-ssh": (
        tailnet.tailnet_no_danger_all,
        update(ssh=ssh_from("autogroup:danger-all", "tag:nas", "me")),
        f"{WHO} ssh[0]: src autogroup:danger-all matches every device, including devices outside your "
        "tailnet; name the users, groups or tags that need access",
    ),
    "no-wide-source-star-to-gpu-servers": (
        tailnet.tailnet_no_wide_source,
        add_grant({"src": ["*"], "dst": ["tag:gpu"], "ip": ["*"]}),
        f"{WHO} grants[3]: src * reaches tag:gpu on tcp:8000, tcp:22; name the gateway (model port) or "
        "the admins (SSH) instead",
    ),
    "no-exit-node-internet-for-gpu-servers": (
        tailnet.tailnet_no_exit_node,
        add_grant({"src": ["tag:gpu"], "dst": ["autogroup:internet"], "ip": ["*"]}),
        f"{WHO} grants[3]: lets tag:gpu use exit nodes (autogroup:internet); GPU servers need no internet "
        "route through the tailnet: remove it",
    ),
    "no-exit-node-exit-node-auto-approval": (
        tailnet.tailnet_no_exit_node,
        update(autoApprovers={"exitNode": ["tag:gpu"]}),
        f"{WHO} autoApprovers.exitNode: auto-approves tag:gpu as an exit node; remove it",
    ),
    "model-port-gateway-only-model-users-bypassing-the-gateway": (
        tailnet.tailnet_model_port_gateway_only,
        add_grant({"src": ["group:ai-users"], "dst": ["tag:gpu"], "ip": ["tcp:8000"]}),
        MODEL_USERS_BYPASS,
    ),
    "model-port-gateway-only-legacy-acl": (
        tailnet.tailnet_model_port_gateway_only,
        update(acls=[{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:gpu:*"]}]),
        f"{WHO} acls[0]: lets autogroup:member reach tag:gpu on the model port tcp:8000, bypassing the "
        "gateway; only tag:aperture may reach it; remove the other sources from src: model users reach "
        "the model through the gateway",
    ),
    "ssh-admins-only-port-22-for-model-users": (
        tailnet.tailnet_ssh_admins_only,
        add_grant({"src": ["group:ai-users"], "dst": ["tag:gpu"], "ip": ["tcp:22"]}),
        f"{WHO} grants[3]: lets group:ai-users reach tag:gpu on tcp:22; only admins may; remove them from "
        "src, or list them in sovereign-ai:tailnet.admins",
    ),
    "ssh-admins-only-tailscale-ssh-for-members": (
        tailnet.tailnet_ssh_admins_only,
        update(ssh=ssh_from("autogroup:member", "tag:gpu", "ubuntu")),
        f"{WHO} ssh[0]: Tailscale SSH from autogroup:member into tag:gpu; only admins may; remove them "
        "from src, or list them in sovereign-ai:tailnet.admins",
    ),
    "gpu-tag-admins-only-members-as-tag-owners": (
        tailnet.tailnet_gpu_tag_admins_only,
        lambda p: p["tagOwners"].update({"tag:gpu": ["autogroup:member"]}),
        f'{WHO} tagOwners["tag:gpu"]: autogroup:member may tag a device tag:gpu and so receive model '
        "traffic; only admins may own it; list only the admins (sovereign-ai:tailnet.admins) as its owners",
    ),
    "generated-tests-removed-tests": (
        tailnet.tailnet_generated_tests,
        lambda p: p.update(tests=p["tests"][:1]),
        f"{WHO} tests: lacks the generated assertions alice@example.com accept tag:aperture:80, "
        "alice@example.com accept tag:aperture:443, alice@example.com deny tag:gpu:8000 and 6 more; "
        "Tailscale runs tests on every save, so without them a later hand edit can open the model port: "
        "let the program render the policy instead of removing its tests",
    ),
    "generated-tests-a-policy-that-fails-them": (
        tailnet.tailnet_generated_tests,
        add_grant({"src": ["bob@example.com"], "dst": ["tag:gpu"], "ip": ["tcp:8000"]}),
        f'{WHO} tests: the generated tests fail (bob@example.com: address "tag:gpu:8000": want: Drop, '
        "got: Accept), so the policy breaks the stack's invariant and Tailscale refuses it while those "
        "tests are in it; narrow the rules that open these paths",
    ),
    "aperture-no-wildcard-admin-star-admin-grant": (
        tailnet.tailnet_aperture_no_wildcard_admin,
        add_grant(
            {"src": ["*"], "dst": ["tag:aperture"], "ip": ["tcp:80"], "app": {CAP: [{"role": "admin"}]}}
        ),
        f"{WHO} grants[3]: gives the Aperture admin role to *, which is wider than the configured admins "
        "(admin@example.com); grant admin only to sovereign-ai:tailnet.admins and give everyone else role user",
    ),
    "aperture-no-wildcard-admin-group-wider-than-admins": (
        tailnet.tailnet_aperture_no_wildcard_admin,
        add_grant({"src": ["group:ai-users"], "dst": ["tag:aperture"], "app": {CAP: [{"role": "admin"}]}}),
        f"{WHO} grants[3]: gives the Aperture admin role to group:ai-users, which is wider than the "
        "configured admins (admin@example.com); grant admin only to sovereign-ai:tailnet.admins and give "
        "everyone else role user",
    ),
}


@pytest.mark.parametrize(("policy", "change", "expected"), REJECTED.values(), ids=REJECTED.keys())
def test_tailnet_policy_rejects(policy: ResourceValidationPolicy, change: Change, expected: str) -> None:
    assert run_policy(policy, acl_args(change)) == [expected]


# id: (policy, change to the generated policy)
ACCEPTED = {
    "no-funnel-other-node-attrs": (
        tailnet.tailnet_no_funnel,
        update(nodeAttrs=[{"target": ["tag:gpu"], "attr": ["randomize-client-port"]}]),
    ),
    "no-wide-source-star-to-other-devices": (
        tailnet.tailnet_no_wide_source,
        add_grant({"src": ["*"], "dst": ["tag:nas"], "ip": ["tcp:445"]}),
    ),
    "generated-tests-reordered-and-extra": (
        tailnet.tailnet_generated_tests,
        reordered_and_extra_tests,
    ),
    "aperture-no-wildcard-admin-admins-and-user-roles": (
        tailnet.tailnet_aperture_no_wildcard_admin,
        aperture_admins_and_users,
    ),
}


@pytest.mark.parametrize(("policy", "change"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_tailnet_policy_accepts(policy: ResourceValidationPolicy, change: Change) -> None:
    assert run_policy(policy, acl_args(change)) == []


def test_tailnet_model_port_gateway_only_rejects_unknown_acl_at_preview_with_advisory_reason() -> None:
    args = resource_args(ACL, {"acl": UNKNOWN_STRING_VALUE}, "tailnet")
    assert run_policy_with_unknowns(tailnet.tailnet_model_port_gateway_only, args) == (
        [],
        checked_later("string value at .acl", WHO),
    )


@pytest.mark.usefixtures("no_stack_config")
def test_tailnet_model_port_gateway_only_rejects_with_defaults_when_config_is_missing() -> None:
    args = acl_args(add_grant({"src": ["group:ai-users"], "dst": ["tag:gpu"], "ip": ["tcp:8000"]}))
    assert run_policy(tailnet.tailnet_model_port_gateway_only, args) == [
        f"{MODEL_USERS_BYPASS} (note: sovereign-ai:environment is not set, so production rules apply; "
        "sovereign-ai:tailnet and sovereign-ai:hosts are missing or invalid, so the defaults were checked: "
        "GPU tag tag:gpu, gateway tag:aperture, model port 8000, no admins)"
    ]
