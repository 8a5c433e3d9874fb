"""Guardrails for the deploy tag (`sovereign-ai:tailnet.deployTag`), the tag CI runners join the
tailnet with, in the tailnet policy file (`tailscale:index/acl:Acl`).

The plan (`config.plan.PolicyPlan`) lets the deploy tag reach the GPU servers on tcp:22 and the
gateway on tcp:80/443, and gives it the Aperture admin role (docs/architecture.md §5). Whoever may
apply the tag gets all of that, so only the admins may own it; and it is never a way around the
gateway, so it must not reach the model port. Both rules apply when the stack sets a deploy tag; they
read the policy file with the evaluator the program and the sandbox use
(`tailnet_policy/reachability.py`). A rule that reaches the model port only by a server's address
is not one the evaluator can tie to the GPU tag; `tailnet-model-port-gateway-only` and
`tailnet-gpu-address-rules` report such rules for every source but the gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from pulumi_policy import ResourceValidation, ResourceValidationPolicy

from config.plan import PolicyPlan
from policies.common import ACL, ResourceCheck, resource_validator
from policies.tailnet import readable_policy
from tailnet_policy.policy_file import PolicyFile
from tailnet_policy.reachability import Evaluator

DEPLOY_TAG_KEY = "sovereign-ai:tailnet.deployTag"
ADMIN_OWNERS = "autogroup:admin"
"""The tailnet's Admin role may own the deploy tag too, as for the GPU tag: it can edit the policy anyway."""


def deploy_tag_validator(check: Callable[[ResourceCheck, str, PolicyFile], None]) -> ResourceValidation:
    """Make `check(acl, deploy_tag, policy)` a validator of the tailnet policy file that runs when the
    stack sets a deploy tag and the file parses (`tailnet-policy-readable` reports it otherwise)."""

    @resource_validator(ACL)
    @wraps(check)
    def validate(acl: ResourceCheck) -> None:
        tag = acl.context.plan.deploy_tag
        policy = readable_policy(acl)
        if tag is not None and policy is not None:
            check(acl, tag, policy)

    return validate


# -- tailnet-deploy-tag-owned-by-admins -------------------------------------------------------------


@deploy_tag_validator
def tailnet_deploy_tag_owned_by_admins_validator(acl: ResourceCheck, tag: str, policy: PolicyFile) -> None:
    """Reports a deploy tag whose `tagOwners` entry lists anyone or anything but the admins."""
    admins = {*acl.context.plan.admins, ADMIN_OWNERS}
    others = [owner for owner in policy.tag_owners.get(tag, ()) if owner not in admins]
    if others:
        text = (
            f"{', '.join(others)} may tag a device {tag} ({DEPLOY_TAG_KEY}) and so give it SSH to the GPU "
            "servers and the Aperture admin role; list only the admins (sovereign-ai:tailnet.admins) as "
            "its owners"
        )
        acl.report(f'tagOwners["{tag}"]', text, uses_config=True)


# -- tailnet-deploy-tag-no-model-port -----------------------------------------------------------------


def model_port_rules(policy: PolicyFile, plan: PolicyPlan, tag: str) -> dict[str, list[int]]:
    """Where (`grants[3]`, `acls[0]`) a rule lets `tag` reach the GPU tag on a model port, with the
    ports it opens, in policy-file order."""
    evaluator = Evaluator(policy)
    allowing = {port: evaluator.rules_allowing(tag, plan.gpu_tag, port) for port in plan.model_ports}
    found: dict[str, list[int]] = {}
    for rule in evaluator.rules:
        ports = found.setdefault(rule.origin, [])
        ports += [port for port, rules in allowing.items() if rule in rules and port not in ports]
    return {origin: ports for origin, ports in found.items() if ports}


@deploy_tag_validator
def tailnet_deploy_tag_no_model_port_validator(acl: ResourceCheck, tag: str, policy: PolicyFile) -> None:
    """Reports each rule that lets the deploy tag reach a model port of the GPU servers."""
    plan = acl.context.plan
    for origin, ports in model_port_rules(policy, plan, tag).items():
        opened = ", ".join(f"tcp:{port}" for port in ports)
        text = (
            f"lets {tag} ({DEPLOY_TAG_KEY}) reach {plan.gpu_tag} on the model port {opened}, bypassing the "
            f"gateway; the deploy needs only tcp:22 on the GPU servers and the gateway on tcp:80/443, so "
            f"narrow this rule's src or ports until {tag} no longer matches the model port"
        )
        acl.report(origin, text, uses_config=True)


# -- the policies: name, description, validator --------------------------------------------------

tailnet_deploy_tag_owned_by_admins = ResourceValidationPolicy(
    "tailnet-deploy-tag-owned-by-admins",
    (
        "Requires the deploy tag (sovereign-ai:tailnet.deployTag) to be owned by the admins only in the "
        "tailnet policy file's tagOwners: whoever may apply it gets SSH to the GPU servers and the Aperture "
        "admin role."
    ),
    tailnet_deploy_tag_owned_by_admins_validator,
)
tailnet_deploy_tag_no_model_port = ResourceValidationPolicy(
    "tailnet-deploy-tag-no-model-port",
    (
        "Prohibits any rule of the tailnet policy file that lets the deploy tag "
        "(sovereign-ai:tailnet.deployTag) reach the model port of the GPU servers."
    ),
    tailnet_deploy_tag_no_model_port_validator,
)


POLICIES = [tailnet_deploy_tag_owned_by_admins, tailnet_deploy_tag_no_model_port]
"""The deploy tag guardrails, in the order the pack lists them."""
