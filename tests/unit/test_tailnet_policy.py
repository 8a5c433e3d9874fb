"""policy_for: the generated rules and tests, merged into the user's base policy."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from config.model import StackConfig, parse_config
from config.plan import GATEWAY_ALIAS, PolicyConflict, PolicyPlan, policy_for, takeover_problem
from policies.exposure import exposures
from tailnet_policy.policy_file import GENERATED_HEADER, Grant, NodeAttr, PolicyTest, parse, render
from tailnet_policy.reachability import run_tests

RAW: dict[str, Any] = {
    "tailnet": {
        "admins": ["admin@example.com"],
        "modelUsers": ["group:ai-users", "carol@example.com"],
        "groups": {"group:ai-users": ["alice@example.com", "bob@example.com"]},
    },
    "hosts": [{"name": "spark", "address": "192.168.1.50"}, {"name": "spark2", "address": "x", "port": 8001}],
    "secrets": {"sshPrivateKey": True},
}

BASE = """// the owner's own rules
{
  "groups": {"group:family": ["me@example.com"]},
  "tagOwners": {"tag:nas": ["me@example.com"]},
  "grants": [{"src": ["group:family"], "dst": ["tag:nas"], "ip": ["tcp:445"]}],
  "tests": [{"src": "me@example.com", "accept": ["tag:nas:445"]}],
  "postures": {"posture:ok": ["node:os == 'linux'"]},
}
"""


def config(gateway: dict[str, Any] | None = None, **tailnet: Any) -> StackConfig:
    raw = copy.deepcopy(RAW)
    raw["tailnet"].update(tailnet)
    if gateway is not None:
        raw["gateway"] = gateway
    return parse_config(raw)


def test_generated_policy_grants_exactly_the_three_paths() -> None:
    policy = policy_for(config())
    assert list(policy.grants) == [
        Grant(src=("group:ai-users", "carol@example.com"), dst=("tag:aperture",), ip=("tcp:80", "tcp:443")),
        Grant(src=("tag:aperture",), dst=("tag:gpu",), ip=("tcp:8000", "tcp:8001")),
        Grant(src=("admin@example.com",), dst=("tag:gpu",), ip=("tcp:22",)),
    ]


def test_generated_tests_pin_the_invariant() -> None:
    tests = policy_for(config()).tests
    assert tests[0] == PolicyTest(src="tag:aperture", accept=("tag:gpu:8000", "tag:gpu:8001"))
    assert tests[1] == PolicyTest(
        src="alice@example.com",
        accept=("tag:aperture:80", "tag:aperture:443"),
        deny=("tag:gpu:8000", "tag:gpu:8001", "tag:gpu:22"),
    )
    assert [t.src for t in tests] == [
        "tag:aperture",
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "admin@example.com",
    ]


def test_generated_tests_pass_on_the_generated_policy() -> None:
    policy = policy_for(config())
    assert run_tests(policy) == []


def test_generated_tests_fail_on_a_bypass_naming_the_test() -> None:
    policy = policy_for(config())
    bypass = policy.with_changes(
        grants=(*policy.grants, Grant(src=("autogroup:member",), dst=("tag:gpu",), ip=("tcp:8000",)))
    )
    assert [str(f) for f in run_tests(bypass)] == [
        f'tests[{i}] (src {user}): address "tag:gpu:8000": want: Drop, got: Accept'
        for i, user in enumerate(["alice@example.com", "bob@example.com", "carol@example.com"], start=1)
    ]


def test_merge_keeps_the_users_content_first_and_in_order() -> None:
    base = parse(BASE)
    merged = policy_for(config(), BASE, "policy/base.hujson")
    assert merged.grants[: len(base.grants)] == base.grants
    assert merged.tests[: len(base.tests)] == base.tests
    assert next(iter(merged.groups)) == "group:family"
    assert merged.extra == base.extra
    assert run_tests(merged) == []


def test_merge_is_idempotent() -> None:
    once = policy_for(config(), BASE)
    twice = policy_for(config(), render(once))
    assert twice == once


def test_merge_refuses_a_group_defined_differently_naming_both_places() -> None:
    base = '{"groups": {"group:ai-users": ["mallory@example.com"]}}'
    with pytest.raises(PolicyConflict) as info:
        policy_for(config(), base, "policy/base.hujson")
    assert str(info.value) == (
        "groups['group:ai-users'] is ['mallory@example.com'] in policy/base.hujson but "
        "['alice@example.com', 'bob@example.com'] from sovereign-ai:tailnet.groups: make them the same, "
        "or remove it from policy/base.hujson"
    )


def test_merge_refuses_a_tag_owned_differently() -> None:
    base = '{"tagOwners": {"tag:gpu": ["autogroup:member"]}}'
    with pytest.raises(PolicyConflict, match=r"tagOwners\['tag:gpu'\] is \['autogroup:member'\]"):
        policy_for(config(), base, "policy/base.hujson")


def test_merge_refuses_a_base_that_opens_the_model_port_naming_the_rule() -> None:
    base = '{"grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"]}]}'
    with pytest.raises(PolicyConflict) as info:
        policy_for(config(), base, "policy/base.hujson")
    assert (
        '  - generated test for alice@example.com: address "tag:gpu:8000": want: Drop, got: Accept '
        "(opened by grants[0] of policy/base.hujson)"
    ) in str(info.value).splitlines()


def test_gateway_by_address_gets_a_hosts_alias() -> None:
    policy = policy_for(config(gatewayTag=None, gatewayAddress="100.100.7.7"))
    assert policy.hosts == {GATEWAY_ALIAS: "100.100.7.7/32"}
    assert policy.grants[1].src == (GATEWAY_ALIAS,)
    assert "tag:aperture" not in policy.tag_owners
    assert run_tests(policy) == []


def visible_groups(target: str, groups: list[str]) -> NodeAttr:
    return NodeAttr(target=(target,), app={"tailscale.com/visible-groups": [{"groups": groups}]})


def test_expanded_grants_need_no_node_attribute() -> None:
    assert policy_for(config()).node_attrs == ()
    assert "nodeAttrs" not in render(policy_for(config()))


def test_visible_groups_give_the_gateway_exactly_the_grants_groups_sorted() -> None:
    grants = [
        {"src": ["group:ops", "admin@example.com"], "role": "admin"},
        {"src": ["group:ai-users", "carol@example.com", "group:ops"], "role": "user", "models": "**"},
    ]
    cfg = config(
        {"visibleGroups": True, "grants": grants}, groups={**RAW["tailnet"]["groups"], "group:ops": []}
    )
    policy = policy_for(cfg)
    assert policy.node_attrs == (visible_groups("tag:aperture", ["group:ai-users", "group:ops"]),)
    assert parse(render(policy)).node_attrs == policy.node_attrs
    assert run_tests(policy) == []


def test_visible_groups_target_the_gateways_hosts_alias_when_it_has_no_tag() -> None:
    cfg = config({"visibleGroups": True}, gatewayTag=None, gatewayAddress="100.100.7.7")
    assert policy_for(cfg).node_attrs == (visible_groups(GATEWAY_ALIAS, ["group:ai-users"]),)


def test_visible_groups_merge_after_the_base_node_attributes_once() -> None:
    base = '{"nodeAttrs": [{"target": ["autogroup:member"], "attr": ["funnel"]}]}'
    cfg = config({"visibleGroups": True})
    once = policy_for(cfg, base)
    assert once.node_attrs == (
        NodeAttr(target=("autogroup:member",), attr=("funnel",)),
        visible_groups("tag:aperture", ["group:ai-users"]),
    )
    assert policy_for(cfg, render(once)) == once


def test_generated_policy_has_no_exposures() -> None:
    cfg = config()
    plan = PolicyPlan.from_config(cfg)
    assert exposures(policy_for(cfg), plan.gpu_tag, plan.gateway, plan.model_ports, plan.admins) == []


@pytest.mark.parametrize(
    ("live", "overwrite", "safe"),
    [
        pytest.param("// Example/default ACLs for unrestricted connections.\n{}", False, True, id="default"),
        pytest.param("", False, True, id="empty"),
        pytest.param("// " + GENERATED_HEADER.splitlines()[0] + "\n{}", False, True, id="ours"),
        pytest.param('{"grants": []}', False, False, id="someone-elses"),
        pytest.param('{"grants": []}', True, True, id="someone-elses-with-overwrite"),
    ],
)
def test_takeover_problem(live: str, overwrite: bool, safe: bool) -> None:
    assert (takeover_problem(live, overwrite) is None) is safe
