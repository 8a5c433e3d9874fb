"""Deploy tag guardrails (`policies/deploy.py`): the happy-path stack with `tailnet.deployTag:
tag:deploy`, its generated policy (as the program renders it), one change per case, exact messages."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, ResourceValidationArgs, ResourceValidationPolicy
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from config.model import ConfigError, parse_config
from policies import deploy, enforcement, tailnet
from policies.common import ACL, stack_context
from testing.policies import (
    CONFIG,
    SECRETS,
    all_policies,
    checked_later,
    config_with,
    generated_policy,
    generated_policy_text,
    not_applicable_reason,
    replaced,
    resource_args,
    run_policy,
    run_policy_with_unknowns,
    set_stack_config,
)

WHO = 'tailnet policy "tailnet"'
TAILNET = {**CONFIG["tailnet"], "deployTag": "tag:deploy"}
DEPLOY_CONFIG = config_with(tailnet=TAILNET)
"""The happy-path production stack, deploying as `tag:deploy`."""

OWNERS_FIX = (
    "may tag a device tag:deploy (sovereign-ai:tailnet.deployTag) and so give it SSH to the GPU servers "
    "and the Aperture admin role; list only the admins (sovereign-ai:tailnet.admins) as its owners"
)
MODEL_PORT_FIX = (
    "bypassing the gateway; the deploy needs only tcp:22 on the GPU servers and the gateway on "
    "tcp:80/443, so narrow this rule's src or ports until tag:deploy no longer matches the model port"
)

Change = Callable[[dict[str, Any]], None]


@pytest.fixture(autouse=True)
def deploying_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    set_stack_config(monkeypatch, DEPLOY_CONFIG, SECRETS)


def acl_args(change: Change | None = None) -> ResourceValidationArgs:
    """The generated policy with the deploy tag, or a copy with one change, as the `Acl`'s props."""
    if change is None:
        text = generated_policy_text(DEPLOY_CONFIG)
    else:
        policy = generated_policy(DEPLOY_CONFIG)
        change(policy)
        text = json.dumps(policy)
    return resource_args(ACL, {"acl": text, "overwriteExistingContent": True}, "tailnet")


def owners(*entries: str) -> Change:
    return lambda policy: policy["tagOwners"].update({"tag:deploy": list(entries)})


def add_grant(grant: dict[str, Any]) -> Change:
    return lambda policy: policy["grants"].append(grant)


def deploy_ssh_ports(*ports: str) -> Change:
    """Replace the ports of the generated deploy -> GPU servers grant (grants[3])."""
    return lambda policy: policy["grants"][3].update(ip=list(ports))


# -- the plan and the program's policy -------------------------------------------------------------


def test_the_generated_policy_gives_the_deploy_tag_ssh_the_gateway_and_admin_owners_only() -> None:
    policy = generated_policy(DEPLOY_CONFIG)
    assert policy["tagOwners"]["tag:deploy"] == ["admin@example.com"]
    assert policy["grants"][3:] == [
        {"src": ["tag:deploy"], "dst": ["tag:gpu"], "ip": ["tcp:22"]},
        {"src": ["tag:deploy"], "dst": ["tag:aperture"], "ip": ["tcp:80", "tcp:443"]},
    ]
    assert policy["tests"][-1] == {
        "src": "tag:deploy",
        "accept": ["tag:gpu:22", "tag:aperture:80", "tag:aperture:443"],
        "deny": ["tag:gpu:8000"],
    }


def test_the_deploy_tag_gets_the_aperture_admin_role_and_no_model() -> None:
    grants = stack_context().plan.aperture_grants
    assert [(g.src, g.role, g.models) for g in grants] == [
        (["admin@example.com"], "admin", "**"),
        (["alice@example.com", "bob@example.com"], "user", "spark/**"),
        (["tag:deploy"], "admin", None),
    ]


@pytest.mark.parametrize(
    ("tailnet_changes", "expected"),
    [
        (
            {"deployTag": "tag:gpu"},
            "sovereign-ai:tailnet: tailnet.deployTag and tailnet.gpuTag are both tag:gpu: the deploying "
            "machines need SSH and the gateway only, and the GPU servers' tag would make them receive "
            "model traffic; give them a tag of their own, e.g. tag:deploy",
        ),
        (
            {"deployTag": "tag:aperture"},
            "sovereign-ai:tailnet: tailnet.deployTag and tailnet.gatewayTag are both tag:aperture: the "
            "deploying machines need SSH and the gateway only, and the gateway's tag would let them reach "
            "the model port; give them a tag of their own, e.g. tag:deploy",
        ),
        (
            {"deployTag": "deploy"},
            "sovereign-ai:tailnet.deployTag: 'deploy' is not a tag: tags look like tag:name, and the name "
            "starts with a letter (for example tag:gpu)",
        ),
    ],
    ids=["gpu-tag", "gateway-tag", "not-a-tag"],
)
def test_the_config_refuses_a_deploy_tag_that_is_not_a_tag_of_its_own(
    tailnet_changes: dict[str, str], expected: str
) -> None:
    raw = config_with(tailnet={**TAILNET, **tailnet_changes}, secrets={"sshPrivateKey": True})
    with pytest.raises(ConfigError) as raised:
        parse_config(raw)
    assert raised.value.problems == [expected]


# -- the guardrails ---------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", [*deploy.POLICIES, *tailnet.POLICIES], ids=lambda p: p.name)
def test_every_tailnet_policy_accepts_the_generated_policy_with_a_deploy_tag(policy: Any) -> None:
    assert run_policy(policy, acl_args()) == []


def test_deploy_policies_ignore_other_resource_types() -> None:
    args = resource_args("tailscale:index/tailnetKey:TailnetKey", {"acl": "{"}, "tailnet")
    assert [run_policy(policy, args) for policy in deploy.POLICIES] == [[], []]


# id: (policy, change to the generated policy, the message)
REJECTED = {
    "owned-by-admins-model-users-as-owners": (
        deploy.tailnet_deploy_tag_owned_by_admins,
        owners("admin@example.com", "group:ai-users"),
        f'{WHO} tagOwners["tag:deploy"]: group:ai-users {OWNERS_FIX}',
    ),
    "owned-by-admins-another-tag-and-a-login": (
        deploy.tailnet_deploy_tag_owned_by_admins,
        owners("tag:ci", "alice@example.com"),
        f'{WHO} tagOwners["tag:deploy"]: tag:ci, alice@example.com {OWNERS_FIX}',
    ),
    "owned-by-admins-every-member": (
        deploy.tailnet_deploy_tag_owned_by_admins,
        owners("autogroup:member"),
        f'{WHO} tagOwners["tag:deploy"]: autogroup:member {OWNERS_FIX}',
    ),
    "no-model-port-deploy-grant-widened": (
        deploy.tailnet_deploy_tag_no_model_port,
        deploy_ssh_ports("tcp:22", "tcp:8000"),
        f"{WHO} grants[3]: lets tag:deploy (sovereign-ai:tailnet.deployTag) reach tag:gpu on the model port "
        f"tcp:8000, {MODEL_PORT_FIX}",
    ),
    "no-model-port-every-port": (
        deploy.tailnet_deploy_tag_no_model_port,
        deploy_ssh_ports("*"),
        f"{WHO} grants[3]: lets tag:deploy (sovereign-ai:tailnet.deployTag) reach tag:gpu on the model port "
        f"tcp:8000, {MODEL_PORT_FIX}",
    ),
    "no-model-port-every-tagged-device-by-acl": (
        deploy.tailnet_deploy_tag_no_model_port,
        lambda p: p.update(acls=[{"action": "accept", "src": ["autogroup:tagged"], "dst": ["tag:gpu:8000"]}]),
        f"{WHO} acls[0]: lets tag:deploy (sovereign-ai:tailnet.deployTag) reach tag:gpu on the model port "
        f"tcp:8000, {MODEL_PORT_FIX}",
    ),
    "no-model-port-star-source": (
        deploy.tailnet_deploy_tag_no_model_port,
        add_grant({"src": ["*"], "dst": ["tag:gpu"], "ip": ["tcp:8000-8001"]}),
        f"{WHO} grants[5]: lets tag:deploy (sovereign-ai:tailnet.deployTag) reach tag:gpu on the model port "
        f"tcp:8000, {MODEL_PORT_FIX}",
    ),
}


@pytest.mark.parametrize(("policy", "change", "expected"), REJECTED.values(), ids=REJECTED.keys())
def test_deploy_policy_rejects(policy: ResourceValidationPolicy, change: Change, expected: str) -> None:
    assert run_policy(policy, acl_args(change)) == [expected]


# id: (policy, change to the generated policy)
ACCEPTED = {
    "owned-by-admins-and-the-admin-role": (
        deploy.tailnet_deploy_tag_owned_by_admins,
        owners("admin@example.com", "autogroup:admin"),
    ),
    "no-model-port-other-devices-on-8000": (
        deploy.tailnet_deploy_tag_no_model_port,
        add_grant({"src": ["tag:deploy"], "dst": ["tag:nas"], "ip": ["tcp:8000"]}),
    ),
    "no-model-port-ssh-twice": (
        deploy.tailnet_deploy_tag_no_model_port,
        add_grant({"src": ["tag:deploy", "admin@example.com"], "dst": ["tag:gpu"], "ip": ["tcp:22"]}),
    ),
}


@pytest.mark.parametrize(("policy", "change"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_deploy_policy_accepts(policy: ResourceValidationPolicy, change: Change) -> None:
    assert run_policy(policy, acl_args(change)) == []


def test_ssh_admins_only_still_refuses_tailscale_ssh_for_the_deploy_tag() -> None:
    """The deploy tag may reach tcp:22 (plain SSH, what the deploy uses), not Tailscale SSH."""
    change: Change = lambda p: p.update(  # noqa: E731
        ssh=[{"action": "accept", "src": ["tag:deploy"], "dst": ["tag:gpu"], "users": ["ubuntu"]}]
    )
    assert run_policy(tailnet.tailnet_ssh_admins_only, acl_args(change)) == [
        f"{WHO} ssh[0]: Tailscale SSH from tag:deploy into tag:gpu; only admins may; remove them from src, "
        "or list them in sovereign-ai:tailnet.admins"
    ]


@pytest.mark.parametrize("policy", deploy.POLICIES, ids=lambda p: p.name)
def test_without_a_deploy_tag_there_is_nothing_to_check(
    policy: ResourceValidationPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_stack_config(monkeypatch, CONFIG, SECRETS)
    args = acl_args(lambda p: p.update(acls=[{"action": "accept", "src": ["*"], "dst": ["tag:gpu:*"]}]))
    assert run_policy(policy, args) == []


def analyzed(args: ResourceValidationArgs) -> list[tuple[str, str]]:
    """(policy, level) of each finding the pack's analyzer reports for the `Acl`, as the engine gets them."""
    servicer = enforcement.EnvironmentLockedAnalyzer(
        "sovereign-ai", "0.1.0", all_policies(), EnforcementLevel.MANDATORY
    )
    properties = struct_pb2.Struct()
    properties.update({"acl": args.props["acl"]})
    request = proto.AnalyzeRequest(urn=args.urn, type=ACL, name=args.name, properties=properties)
    response = servicer.Analyze(request, None)
    return [(d.policyName, proto.EnforcementLevel.Name(d.enforcementLevel)) for d in response.diagnostics]


@pytest.mark.parametrize(("environment", "level"), [("production", "MANDATORY"), ("development", "ADVISORY")])
def test_a_preview_of_a_deploy_tag_owned_by_someone_else_is_refused_in_production_only(
    environment: str, level: str, preview: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pack's own analyzer, as `make preview` runs it: mandatory (the preview fails) in production,
    advisory in development, like every other rule."""
    set_stack_config(monkeypatch, replaced(DEPLOY_CONFIG, environment=environment), SECRETS)
    for policy in deploy.POLICIES:
        assert not_applicable_reason(policy, acl_args()) is None
    assert analyzed(acl_args(owners("alice@example.com"))) == [("tailnet-deploy-tag-owned-by-admins", level)]


@pytest.mark.parametrize("policy", deploy.POLICIES, ids=lambda p: p.name)
def test_deploy_policies_defer_an_unknown_acl_to_up(policy: ResourceValidationPolicy, preview: None) -> None:
    args = resource_args(ACL, {"acl": UNKNOWN_STRING_VALUE}, "tailnet")
    assert run_policy_with_unknowns(policy, args) == ([], checked_later("string value at .acl", WHO))
