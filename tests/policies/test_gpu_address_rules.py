"""`tailnet-gpu-address-rules`: address rules judged against the GPU server's address in the stack's
state, else the tailnet range; the resource policies leave those findings to it."""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs

from policies import stack, tailnet
from policies.common import ACL
from testing.policies import generated_policy_with, resource_args, run_policy, stack_args, stack_resource

HOST_STATE = "pulumi-python:dynamic/host:State"
RULE = {"src": ["group:ai-users"], "dst": ["100.101.1.3"], "ip": ["tcp:8000"]}


def acl_with(grant: dict[str, Any]) -> PolicyResource:
    return stack_resource(ACL, {"acl": generated_policy_with(grant)}, "tailnet")


def test_tailnet_gpu_address_rules_accepts_another_device_once_the_address_is_known() -> None:
    state = stack_resource(HOST_STATE, {"tailnet_ip": "100.101.1.2"}, "spark-state")
    assert run_policy(stack.tailnet_gpu_address_rules, stack_args(acl_with(RULE), state)) == []


def test_tailnet_gpu_address_rules_rejects_the_known_address() -> None:
    state = stack_resource(HOST_STATE, {"tailnet_ip": "100.101.1.3"}, "spark-state")
    assert run_policy(stack.tailnet_gpu_address_rules, stack_args(acl_with(RULE), state)) == [
        'tailnet policy "tailnet" grants[3]: lets group:ai-users reach tag:gpu (dst 100.101.1.3, which '
        "contains the server address 100.101.1.3) on the model port tcp:8000, bypassing the gateway; only "
        "tag:aperture may reach it; remove the other sources from src: model users reach the model through "
        "the gateway (tailnet-model-port-gateway-only)"
    ]


def test_tailnet_gpu_address_rules_rejects_a_tailnet_address_before_the_first_join() -> None:
    [found] = run_policy(stack.tailnet_gpu_address_rules, stack_args(acl_with(RULE)))
    assert "which may contain a GPU server's address (not known before its first join; the tailnet " in found


def test_tailnet_gpu_address_rules_rejects_the_lan_address_and_accepts_its_neighbour() -> None:
    """`hosts[].address` (192.168.1.50 in the happy config) is reachable through a subnet router."""
    state = stack_resource(HOST_STATE, {"tailnet_ip": "100.101.1.2"}, "spark-state")
    lan = {"src": ["group:ai-users"], "dst": ["192.168.1.0/24"], "ip": ["tcp:22"]}
    assert run_policy(stack.tailnet_gpu_address_rules, stack_args(acl_with(lan), state)) == [
        'tailnet policy "tailnet" grants[3]: lets group:ai-users reach tag:gpu (dst 192.168.1.0/24, which '
        "contains a GPU server's LAN address (192.168.1.50, sovereign-ai:hosts[].address), reachable through "
        "a subnet router) on tcp:22; only admins may; remove them from src, or list them in "
        "sovereign-ai:tailnet.admins (tailnet-ssh-admins-only)"
    ]
    neighbour = {**lan, "dst": ["192.168.1.51"]}
    assert run_policy(stack.tailnet_gpu_address_rules, stack_args(acl_with(neighbour), state)) == []


def test_tailnet_gpu_address_rules_reads_the_stack_output() -> None:
    outputs = stack_resource("pulumi:pulumi:Stack", {"spark_tailnet_ip": "100.101.1.2"}, "sovereign-ai-prod")
    assert run_policy(stack.tailnet_gpu_address_rules, stack_args(acl_with(RULE), outputs)) == []


def test_tailnet_model_port_gateway_only_leaves_address_rules_to_the_stack_policy() -> None:
    args = tailnet_args(RULE)
    assert run_policy(tailnet.tailnet_model_port_gateway_only, args) == []


def test_tailnet_policy_checkable_rejects_a_service_destination_on_the_model_port() -> None:
    [found] = run_policy(
        tailnet.tailnet_policy_checkable,
        tailnet_args({"src": ["group:ai-users"], "dst": ["svc:llm"], "ip": ["8000"]}),
    )
    assert found.startswith(
        'tailnet policy "tailnet" grants[3]: cannot be checked (svc:llm: Tailscale Services'
    )


def tailnet_args(grant: dict[str, Any]) -> ResourceValidationArgs:
    return resource_args(ACL, {"acl": generated_policy_with(grant)}, "tailnet")
