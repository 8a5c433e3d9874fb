"""Tailnet policy file guardrails (`tailscale:index/acl:Acl`): one happy-path policy (the one the
program generates for the happy-path config), one change per case, exact messages."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import ResourceValidationArgs
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

import hujson
from hujson import HuJSONError
from policies import tailnet
from policies.common import ACL
from testing.policies import generated_policy, generated_policy_text, resource_args, run_policy

WHO = 'tailnet policy "tailnet"'
CAP = "tailscale.com/cap/aperture"


def acl_args(change: Callable[[dict[str, Any]], None] | None = None) -> ResourceValidationArgs:
    """The generated policy (as the program renders it), or a copy with one change, as JSON."""
    if change is None:
        text = generated_policy_text()
    else:
        policy = generated_policy()
        change(policy)
        text = json.dumps(policy)
    return resource_args(ACL, {"acl": text, "overwriteExistingContent": True}, "tailnet")


def add_grant(grant: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda policy: policy["grants"].append(grant)


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


def test_tailnet_no_funnel_rejects_funnel_node_attr() -> None:
    args = acl_args(lambda p: p.update(nodeAttrs=[{"target": ["tag:gpu"], "attr": ["funnel"]}]))
    assert run_policy(tailnet.tailnet_no_funnel, args) == [
        f"{WHO} nodeAttrs[0]: grants Funnel to tag:gpu, which publishes services on the public internet; "
        'remove "funnel" from attr'
    ]


def test_tailnet_no_funnel_accepts_other_node_attrs() -> None:
    args = acl_args(
        lambda p: p.update(nodeAttrs=[{"target": ["tag:gpu"], "attr": ["randomize-client-port"]}])
    )
    assert run_policy(tailnet.tailnet_no_funnel, args) == []


def test_tailnet_no_danger_all_rejects_danger_all_source() -> None:
    args = acl_args(add_grant({"src": ["autogroup:danger-all"], "dst": ["tag:aperture"], "ip": ["tcp:443"]}))
    assert run_policy(tailnet.tailnet_no_danger_all, args) == [
        f"{WHO} grants[3]: src autogroup:danger-all matches every device, including devices outside your "
        "tailnet; name the users, groups or tags that need access"
    ]


def test_tailnet_no_danger_all_rejects_danger_all_in_ssh() -> None:
    ssh = [{"action": "accept", "src": ["autogroup:danger-all"], "dst": ["tag:nas"], "users": ["me"]}]
    args = acl_args(lambda p: p.update(ssh=ssh))
    assert run_policy(tailnet.tailnet_no_danger_all, args) == [
        f"{WHO} ssh[0]: src autogroup:danger-all matches every device, including devices outside your "
        "tailnet; name the users, groups or tags that need access"
    ]


def test_tailnet_no_wide_source_rejects_star_to_gpu_servers() -> None:
    args = acl_args(add_grant({"src": ["*"], "dst": ["tag:gpu"], "ip": ["*"]}))
    assert run_policy(tailnet.tailnet_no_wide_source, args) == [
        f"{WHO} grants[3]: src * reaches tag:gpu on tcp:8000, tcp:22; name the gateway (model port) or "
        "the admins (SSH) instead"
    ]


def test_tailnet_no_wide_source_accepts_star_to_other_devices() -> None:
    args = acl_args(add_grant({"src": ["*"], "dst": ["tag:nas"], "ip": ["tcp:445"]}))
    assert run_policy(tailnet.tailnet_no_wide_source, args) == []


def test_tailnet_no_exit_node_rejects_internet_for_gpu_servers() -> None:
    args = acl_args(add_grant({"src": ["tag:gpu"], "dst": ["autogroup:internet"], "ip": ["*"]}))
    assert run_policy(tailnet.tailnet_no_exit_node, args) == [
        f"{WHO} grants[3]: lets tag:gpu use exit nodes (autogroup:internet); GPU servers need no internet "
        "route through the tailnet: remove it"
    ]


def test_tailnet_no_exit_node_rejects_exit_node_auto_approval() -> None:
    args = acl_args(lambda p: p.update(autoApprovers={"exitNode": ["tag:gpu"]}))
    assert run_policy(tailnet.tailnet_no_exit_node, args) == [
        f"{WHO} autoApprovers.exitNode: auto-approves tag:gpu as an exit node; remove it"
    ]


def test_tailnet_model_port_gateway_only_rejects_model_users_bypassing_the_gateway() -> None:
    args = acl_args(add_grant({"src": ["group:ai-users"], "dst": ["tag:gpu"], "ip": ["tcp:8000"]}))
    assert run_policy(tailnet.tailnet_model_port_gateway_only, args) == [
        f"{WHO} grants[3]: lets group:ai-users reach tag:gpu on the model port tcp:8000, bypassing the "
        "gateway; only tag:aperture may reach it; remove the other sources from src: model users reach "
        "the model through the gateway"
    ]


def test_tailnet_model_port_gateway_only_rejects_legacy_acl() -> None:
    args = acl_args(
        lambda p: p.update(acls=[{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:gpu:*"]}])
    )
    assert run_policy(tailnet.tailnet_model_port_gateway_only, args) == [
        f"{WHO} acls[0]: lets autogroup:member reach tag:gpu on the model port tcp:8000, bypassing the "
        "gateway; only tag:aperture may reach it; remove the other sources from src: model users reach "
        "the model through the gateway"
    ]


def test_tailnet_ssh_admins_only_rejects_tailscale_ssh_for_members() -> None:
    ssh = [{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:gpu"], "users": ["ubuntu"]}]
    args = acl_args(lambda p: p.update(ssh=ssh))
    assert run_policy(tailnet.tailnet_ssh_admins_only, args) == [
        f"{WHO} ssh[0]: Tailscale SSH from autogroup:member into tag:gpu; only admins may; remove them "
        "from src, or list them in sovereign-ai:tailnet.admins"
    ]


def test_tailnet_ssh_admins_only_rejects_port_22_for_model_users() -> None:
    args = acl_args(add_grant({"src": ["group:ai-users"], "dst": ["tag:gpu"], "ip": ["tcp:22"]}))
    assert run_policy(tailnet.tailnet_ssh_admins_only, args) == [
        f"{WHO} grants[3]: lets group:ai-users reach tag:gpu on tcp:22; only admins may; remove them from "
        "src, or list them in sovereign-ai:tailnet.admins"
    ]


def test_tailnet_gpu_tag_admins_only_rejects_members_as_tag_owners() -> None:
    args = acl_args(lambda p: p["tagOwners"].update({"tag:gpu": ["autogroup:member"]}))
    assert run_policy(tailnet.tailnet_gpu_tag_admins_only, args) == [
        f'{WHO} tagOwners["tag:gpu"]: autogroup:member may tag a device tag:gpu and so receive model '
        "traffic; only admins may own it; list only the admins (sovereign-ai:tailnet.admins) as its owners"
    ]


def test_tailnet_generated_tests_rejects_removed_tests() -> None:
    args = acl_args(lambda p: p.update(tests=p["tests"][:1]))
    assert run_policy(tailnet.tailnet_generated_tests, args) == [
        f"{WHO} tests: lacks the generated assertions alice@example.com accept tag:aperture:80, "
        "alice@example.com accept tag:aperture:443, alice@example.com deny tag:gpu:8000 and 6 more; "
        "Tailscale runs tests on every save, so without them a later hand edit can open the model port: "
        "let the program render the policy instead of removing its tests"
    ]


def test_tailnet_generated_tests_rejects_a_policy_that_fails_them() -> None:
    args = acl_args(add_grant({"src": ["bob@example.com"], "dst": ["tag:gpu"], "ip": ["tcp:8000"]}))
    assert run_policy(tailnet.tailnet_generated_tests, args) == [
        f'{WHO} tests: the generated tests fail (bob@example.com: address "tag:gpu:8000": want: Drop, '
        "got: Accept), so the policy breaks the stack's invariant and Tailscale refuses it while those "
        "tests are in it; narrow the rules that open these paths"
    ]


def test_tailnet_generated_tests_accepts_reordered_and_extra_assertions() -> None:
    def change(policy: dict[str, Any]) -> None:
        policy["tests"].reverse()
        policy["tests"][0]["accept"] = [*reversed(policy["tests"][0]["accept"]), "tag:gpu:8000"]

    assert run_policy(tailnet.tailnet_generated_tests, acl_args(change)) == []


def test_tailnet_aperture_no_wildcard_admin_rejects_star_admin_grant() -> None:
    grant = {"src": ["*"], "dst": ["tag:aperture"], "ip": ["tcp:80"], "app": {CAP: [{"role": "admin"}]}}
    assert run_policy(tailnet.tailnet_aperture_no_wildcard_admin, acl_args(add_grant(grant))) == [
        f"{WHO} grants[3]: gives the Aperture admin role to *, which is wider than the configured admins "
        "(admin@example.com); grant admin only to sovereign-ai:tailnet.admins and give everyone else role user"
    ]


def test_tailnet_aperture_no_wildcard_admin_rejects_group_wider_than_admins() -> None:
    grant = {"src": ["group:ai-users"], "dst": ["tag:aperture"], "app": {CAP: [{"role": "admin"}]}}
    assert run_policy(tailnet.tailnet_aperture_no_wildcard_admin, acl_args(add_grant(grant))) == [
        f"{WHO} grants[3]: gives the Aperture admin role to group:ai-users, which is wider than the "
        "configured admins (admin@example.com); grant admin only to sovereign-ai:tailnet.admins and give "
        "everyone else role user"
    ]


def test_tailnet_aperture_no_wildcard_admin_accepts_admins_and_user_roles() -> None:
    def change(policy: dict[str, Any]) -> None:
        policy["groups"]["group:admins"] = ["admin@example.com"]
        policy["grants"] += [
            {"src": ["group:admins"], "dst": ["tag:aperture"], "app": {CAP: [{"role": "admin"}]}},
            {"src": ["*"], "dst": ["tag:aperture"], "app": {CAP: [{"role": "user"}, {"models": "spark/**"}]}},
        ]

    assert run_policy(tailnet.tailnet_aperture_no_wildcard_admin, acl_args(change)) == []


def test_tailnet_model_port_gateway_only_rejects_unknown_acl_at_preview_with_advisory_reason() -> None:
    args = resource_args(ACL, {"acl": UNKNOWN_STRING_VALUE}, "tailnet")
    with pytest.raises(UnknownValueError) as raised:
        run_policy(tailnet.tailnet_model_port_gateway_only, args)
    assert raised.value.message == (
        f"string value at .acl can't be known during preview; {WHO} is checked again during `pulumi up`, "
        "once the value is known"
    )


@pytest.mark.usefixtures("no_stack_config")
def test_tailnet_model_port_gateway_only_rejects_with_defaults_when_config_is_missing() -> None:
    args = acl_args(add_grant({"src": ["group:ai-users"], "dst": ["tag:gpu"], "ip": ["tcp:8000"]}))
    assert run_policy(tailnet.tailnet_model_port_gateway_only, args) == [
        f"{WHO} grants[3]: lets group:ai-users reach tag:gpu on the model port tcp:8000, bypassing the "
        "gateway; only tag:aperture may reach it; remove the other sources from src: model users reach "
        "the model through the gateway (note: sovereign-ai:environment is not set, so production rules "
        "apply; sovereign-ai:tailnet and sovereign-ai:hosts are missing or invalid, so the defaults were "
        "checked: GPU tag tag:gpu, gateway tag:aperture, model port 8000, no admins)"
    ]
