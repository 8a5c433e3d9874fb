"""`tailnet-worker-ssh-only` (`policies/fleet.py`): the happy-path production stack made a two-Spark
tensor-parallel group (`spark` the head, `spark-2` its worker), its generated policy (as the program
renders it), one change per case, exact messages; and the level the pack reports it at."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, Policy, PolicyResource, StackValidationArgs
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies import deploy, enforcement, fleet, tailnet
from policies.common import ACL, stack_context
from testing.policies import (
    CONFIG,
    SECRETS,
    all_policies,
    checked_later,
    config_with,
    generated_policy,
    replaced,
    resource_args,
    run_policy,
    run_policy_with_unknowns,
    set_stack_config,
    stack_args,
    stack_resource,
)

WHO = 'tailnet policy "tailnet"'
WORKER = {
    "name": "spark-2",
    "address": "192.168.1.51",
    "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfSpark2",
}
HEAD = {
    **CONFIG["hosts"][0],
    "model": "meta-llama/Llama-3.3-70B-Instruct",
    "tensorParallel": {"size": 2, "workers": ["spark-2"], "linkInterface": "enp1s0f1np1"},
}
TP_CONFIG = config_with(hosts=[HEAD, WORKER])
"""The happy-path production stack as a tensor-parallel group of two Sparks."""

FIX = (
    "a worker (tag:gpu-worker, sovereign-ai:tailnet.workerTag) serves nothing itself and its Ray and NCCL "
    "ports answer without authentication, so nothing but SSH (tcp:22, from the admins) may reach it: remove "
    "this rule, or narrow its dst or ports until it no longer reaches tag:gpu-worker (the Aperture provider "
    "of spark is the only way to the group's model)"
)
STATE = "pulumi-python:dynamic/host:State"


@pytest.fixture(autouse=True)
def tensor_parallel_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    set_stack_config(monkeypatch, TP_CONFIG, SECRETS)


def acl(*grants: dict[str, Any], config: dict[str, Any] = TP_CONFIG, **sections: Any) -> PolicyResource:
    """The generated policy of `config` with `grants` appended (the first is grants[4]) and sections set."""
    policy = generated_policy(config)
    policy["grants"].extend(grants)
    policy.update(sections)
    return stack_resource(ACL, {"acl": json.dumps(policy)}, "tailnet")


def check(*resources: PolicyResource) -> list[str]:
    return run_policy(fleet.tailnet_worker_ssh_only, stack_args(*resources))


# -- the plan and the generated policy -------------------------------------------------------------


def test_the_plan_knows_the_worker_tag_and_only_the_heads_port() -> None:
    plan = stack_context().plan
    assert (plan.worker_tag, plan.model_ports) == ("tag:gpu-worker", (8000,))


def test_the_generated_policy_passes() -> None:
    assert check(acl()) == []


@pytest.mark.parametrize("policy", [*tailnet.POLICIES, *deploy.POLICIES], ids=lambda p: p.name)
def test_every_tailnet_policy_accepts_the_generated_policy_of_a_group(
    policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = replaced(TP_CONFIG, tailnet={**CONFIG["tailnet"], "deployTag": "tag:deploy"})
    set_stack_config(monkeypatch, config, SECRETS)
    text = json.dumps(generated_policy(config))
    assert run_policy(policy, resource_args(ACL, {"acl": text}, "tailnet")) == []


# -- tailnet-worker-ssh-only ------------------------------------------------------------------------

# id: (the acl, the messages)
REJECTED = {
    "members-on-the-model-port": (
        acl({"src": ["autogroup:member"], "dst": ["tag:gpu-worker"], "ip": ["tcp:8000"]}),
        [
            f"{WHO} grants[4]: lets autogroup:member reach the tensor-parallel worker spark-2 (of spark) "
            f"through dst tag:gpu-worker on tcp:8000, the model port of its head; {FIX}"
        ],
    ),
    "members-on-every-port": (
        acl({"src": ["autogroup:member"], "dst": ["tag:gpu-worker"], "ip": ["*"]}),
        [
            f"{WHO} grants[4]: lets autogroup:member reach the tensor-parallel worker spark-2 (of spark) "
            f"through dst tag:gpu-worker on every port, the model port tcp:8000 of its head included; {FIX}"
        ],
    ),
    "the-gateway-on-the-model-port": (
        acl({"src": ["tag:aperture"], "dst": ["tag:gpu", "tag:gpu-worker"], "ip": ["tcp:8000"]}),
        [
            f"{WHO} grants[4]: lets tag:aperture reach the tensor-parallel worker spark-2 (of spark) through "
            f"dst tag:gpu, tag:gpu-worker on tcp:8000, the model port of its head; {FIX}"
        ],
    ),
    "admins-on-the-ray-port": (
        acl({"src": ["admin@example.com"], "dst": ["autogroup:tagged"], "ip": ["tcp:22", "tcp:6379"]}),
        [
            f"{WHO} grants[4]: lets admin@example.com reach the tensor-parallel worker spark-2 (of spark) "
            f"through dst autogroup:tagged on tcp:6379; {FIX}"
        ],
    ),
    "udp-to-everything-by-acl": (
        acl(acls=[{"action": "accept", "src": ["*"], "dst": ["*:53"], "proto": "udp"}]),
        [
            f"{WHO} acls[0]: lets * reach the tensor-parallel worker spark-2 (of spark) through dst * on "
            f"udp:53; {FIX}"
        ],
    ),
    "the-whole-tailnet-range-before-the-join": (
        acl({"src": ["group:ai-users"], "dst": ["100.64.0.0/10"], "ip": ["tcp:8265"]}),
        [
            f"{WHO} grants[4]: lets group:ai-users reach the tensor-parallel worker spark-2 (of spark) through "
            "dst 100.64.0.0/10 (which contains the whole tailnet range 100.64.0.0/10, where it gets its "
            f"address when it joins) on tcp:8265; {FIX}"
        ],
    ),
    "its-lan-address": (
        acl({"src": ["group:ai-users"], "dst": ["192.168.1.51"], "ip": ["tcp:8000-8100"]}),
        [
            f"{WHO} grants[4]: lets group:ai-users reach the tensor-parallel worker spark-2 (of spark) through "
            "dst 192.168.1.51 (which contains its LAN address 192.168.1.51 (sovereign-ai:hosts[].address), "
            f"reachable through a subnet router) on tcp:8000-8100, the model port tcp:8000 of its head "
            f"included; {FIX}"
        ],
    ),
}


@pytest.mark.parametrize(("resource", "expected"), REJECTED.values(), ids=REJECTED.keys())
def test_tailnet_worker_ssh_only_rejects(resource: PolicyResource, expected: list[str]) -> None:
    assert check(resource) == expected


# id: the acl
ACCEPTED = {
    "admins-on-ssh": acl({"src": ["admin@example.com"], "dst": ["tag:gpu-worker"], "ip": ["tcp:22"]}),
    "ping": acl({"src": ["autogroup:member"], "dst": ["tag:gpu-worker"], "ip": ["icmp:*"]}),
    "the-head-only": acl({"src": ["autogroup:member"], "dst": ["tag:gpu"], "ip": ["tcp:9100"]}),
    "another-tailnet-address-before-the-join": acl(
        {"src": ["group:ai-users"], "dst": ["100.101.1.0/24"], "ip": ["tcp:445"]}
    ),
    "the-heads-lan-address": acl({"src": ["admin@example.com"], "dst": ["192.168.1.50"], "ip": ["tcp:9100"]}),
}


@pytest.mark.parametrize("resource", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_tailnet_worker_ssh_only_accepts(resource: PolicyResource) -> None:
    assert check(resource) == []


RULE = {"src": ["group:ai-users"], "dst": ["100.101.1.0/24"], "ip": ["tcp:6379"]}


@pytest.mark.parametrize(
    "known",
    [
        stack_resource(STATE, {"tailnet_ip": "100.101.1.7"}, "spark-2-state"),
        stack_resource("pulumi:pulumi:Stack", {"spark-2_tailnet_ip": "100.101.1.7"}, "sovereign-ai-prod"),
    ],
    ids=["host-state", "stack-output"],
)
def test_once_the_worker_has_joined_its_address_names_it(known: PolicyResource) -> None:
    assert check(acl(RULE), known) == [
        f"{WHO} grants[4]: lets group:ai-users reach the tensor-parallel worker spark-2 (of spark) through dst "
        f"100.101.1.0/24 (which contains its address 100.101.1.7) on tcp:6379; {FIX}"
    ]
    elsewhere = stack_resource(STATE, {"tailnet_ip": "100.101.2.7"}, "spark-2-state")
    assert check(acl(RULE), elsewhere) == []


def test_the_heads_address_is_not_the_workers() -> None:
    head = stack_resource(STATE, {"tailnet_ip": "100.101.1.7"}, "spark-state")
    whole = {**RULE, "dst": ["100.64.0.0/10"]}
    assert check(acl(RULE), head) == []
    assert len(check(acl(whole), head)) == 1, "the worker has not joined: the whole range still names it"


def test_without_workers_there_is_nothing_to_check(monkeypatch: pytest.MonkeyPatch) -> None:
    set_stack_config(monkeypatch, CONFIG, SECRETS)
    everything = {"src": ["*"], "dst": ["*"], "ip": ["*"]}
    assert check(acl(everything, config=CONFIG)) == []


def test_an_unknown_policy_is_checked_again_at_up(preview: None) -> None:
    args = stack_args(stack_resource(ACL, {"acl": UNKNOWN_STRING_VALUE}, "tailnet"))
    assert run_policy_with_unknowns(fleet.tailnet_worker_ssh_only, args) == (
        [],
        checked_later("string value at .acl", "the stack"),
    )


# -- the level the pack reports it at ------------------------------------------------------------


def analyzed(args: StackValidationArgs) -> list[tuple[str, str]]:
    """(policy, level) of each stack finding the pack's analyzer reports, as the engine gets them."""
    policies = all_policies()
    policies += [p for p in fleet.POLICIES if p not in policies]
    servicer = enforcement.EnvironmentLockedAnalyzer(
        "sovereign-ai", "0.1.0", policies, EnforcementLevel.MANDATORY
    )
    resources = []
    for resource in args.resources:
        properties = struct_pb2.Struct()
        properties.update({"acl": resource.props["acl"]})
        resources.append(
            proto.AnalyzerResource(
                urn=resource.urn, type=resource.resource_type, name=resource.name, properties=properties
            )
        )
    response = servicer.AnalyzeStack(proto.AnalyzeStackRequest(resources=resources), None)
    return [(d.policyName, proto.EnforcementLevel.Name(d.enforcementLevel)) for d in response.diagnostics]


@pytest.mark.parametrize(("environment", "level"), [("production", "MANDATORY"), ("development", "ADVISORY")])
def test_an_open_worker_is_refused_in_production_only(
    environment: str, level: str, preview: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_stack_config(monkeypatch, replaced(TP_CONFIG, environment=environment), SECRETS)
    open_worker = acl({"src": ["autogroup:member"], "dst": ["tag:gpu-worker"], "ip": ["tcp:8000"]})
    assert analyzed(stack_args(acl())) == []
    assert analyzed(stack_args(open_worker)) == [("tailnet-worker-ssh-only", level)]


def test_a_workers_ssh_is_for_the_admins_as_a_gpu_servers_is() -> None:
    """The tailnet rules judge the worker tag as a GPU server's: tcp:22 from a model user is refused
    by `tailnet-ssh-admins-only`, which `tailnet-worker-ssh-only` leaves to it."""
    ssh = {"src": ["group:ai-users"], "dst": ["tag:gpu-worker"], "ip": ["tcp:22"]}
    text = json.dumps(generated_policy(TP_CONFIG) | {"grants": [*generated_policy(TP_CONFIG)["grants"], ssh]})
    assert run_policy(tailnet.tailnet_ssh_admins_only, resource_args(ACL, {"acl": text}, "tailnet")) == [
        f"{WHO} grants[4]: lets group:ai-users reach tag:gpu-worker on tcp:22; only admins may; remove them "
        "from src, or list them in sovereign-ai:tailnet.admins"
    ]
    assert check(acl(ssh)) == []
