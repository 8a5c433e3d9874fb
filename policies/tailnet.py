"""Guardrails for the tailnet policy file: `tailscale:index/acl:Acl`, whose `acl` prop is the whole
policy file as HuJSON text.

The policy file decides who reaches the model port (docs/architecture.md §5.1), so most rules here
are the findings of `policies.exposure.exposures()`: one policy per row of `EXPOSURE_RULES`, built
by `exposure_policy` and judged with the same evaluator the program and the sandbox use. The GPU
tag, the gateway selector, the model ports and the admins come from the stack config
(`PolicyPlan.from_config`).

A resource policy sees only the policy file, not the GPU servers' addresses, so findings that rest
on an address form (`Exposure.by_address`) are left to the stack policy `tailnet-gpu-address-rules`,
which judges them against the addresses in the stack's state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from pulumi_policy import ResourceValidationPolicy

from policies.common import ACL, ResourceCheck, resource_validator
from policies.exposure import (
    CHECKABLE,
    EXIT_NODE,
    FUNNEL,
    GPU_TAG_OWNERS,
    MODEL_PORT,
    SSH_ADMINS,
    WIDE_SOURCE,
    Exposure,
    ExposureRule,
    exposures,
)
from policies.gateway import admin_grant_text, gives_admin, too_wide_for_admin
from policies.gpu_servers import GpuServers
from tailnet_policy.address_set import AddressSet
from tailnet_policy.policy_file import Acl, Grant, PolicyFile, SshRule, parse
from tailnet_policy.reachability import run_tests

DANGER_ALL = "autogroup:danger-all"


@dataclass(frozen=True)
class Analysis:
    """One policy file read and judged: the model and its findings, or why it could not be read."""

    policy: PolicyFile | None
    error: str | None
    findings: tuple[Exposure, ...]


@lru_cache(maxsize=32)
def _analyse(
    text: str,
    gpu_tag: str,
    gateway: str,
    model_ports: tuple[int, ...],
    admins: tuple[str, ...],
    gateway_address: str | None,
    address_range: str,
    deploy_tag: str | None = None,
    worker_tag: str | None = None,
) -> Analysis:
    # Tensor-parallel workers are judged as GPU servers too (SSH admins only, no wide source, ...);
    # `tailnet-worker-ssh-only` (policies/fleet.py) adds that nothing else reaches them.
    tags = frozenset({gpu_tag} if worker_tag is None else {gpu_tag, worker_tag})
    servers = GpuServers(gpu_tag, tags, pending=AddressSet.parse(address_range))
    try:
        policy = parse(text)
        found = tuple(
            exposures(policy, gpu_tag, gateway, model_ports, admins, servers, gateway_address, deploy_tag)
        )
    except ValueError as exc:  # HuJSON syntax, section shape or port spec errors
        return Analysis(None, str(exc), ())
    return Analysis(policy, None, found)


def analysis(acl: ResourceCheck) -> Analysis | None:
    """The policy file of `acl` judged against the stack's plan; None without an `acl` string.

    Cached per text and plan: every tailnet policy reads the same file once.
    """
    text = acl.props.get("acl")
    if not isinstance(text, str):
        return None
    plan = acl.context.plan
    return _analyse(
        text,
        plan.gpu_tag,
        plan.gateway,
        plan.model_ports,
        plan.admins,
        plan.gateway_address,
        str(acl.context.network),
        plan.deploy_tag,
        plan.worker_tag,
    )


def readable_policy(acl: ResourceCheck) -> PolicyFile | None:
    """The policy file of `acl` when it parses (`tailnet-policy-readable` reports it otherwise)."""
    found = analysis(acl)
    return None if found is None else found.policy


# -- tailnet-policy-readable -----------------------------------------------------------------------


@resource_validator(ACL)
def tailnet_policy_readable_validator(acl: ResourceCheck) -> None:
    """Reports a policy file that does not parse (no other tailnet rule can judge it)."""
    found = analysis(acl)
    if found is not None and found.error is not None:
        text = (
            f"cannot be read ({found.error}), so no guardrail can check it; fix the policy file "
            "(Tailscale would refuse it too)"
        )
        acl.report("acl", text)


# -- the findings of exposures() ---------------------------------------------------------------------


def exposure_policy(rule: ExposureRule) -> ResourceValidationPolicy:
    """The guardrail that reports each finding of `rule`'s kind in the tailnet policy file.

    Findings that rest on an address form are left to `tailnet-gpu-address-rules`, which knows the
    GPU servers' addresses.
    """

    @resource_validator(ACL)
    def validator(acl: ResourceCheck) -> None:
        found = analysis(acl)
        if found is None:
            return
        for exposure in found.findings:
            if exposure.rule == rule.name and not exposure.by_address:
                acl.report(exposure.where, exposure.message, uses_config=True)

    validator.__name__ = validator.__qualname__ = f"{rule.name.replace('-', '_')}_validator"
    validator.__doc__ = rule.reports
    return ResourceValidationPolicy(name=rule.name, description=rule.description, validate=validator)


# -- tailnet-no-danger-all ---------------------------------------------------------------------------


@resource_validator(ACL)
def tailnet_no_danger_all_validator(acl: ResourceCheck) -> None:
    """Reports every grant, acl or ssh rule with `autogroup:danger-all` as a source."""
    policy = readable_policy(acl)
    if policy is None:
        return
    sections: tuple[tuple[str, Sequence[Grant | Acl | SshRule]], ...] = (
        ("grants", policy.grants),
        ("acls", policy.acls),
        ("ssh", policy.ssh),
    )
    text = (
        f"src {DANGER_ALL} matches every device, including devices outside your tailnet; "
        "name the users, groups or tags that need access"
    )
    for section, entries in sections:
        for index, entry in enumerate(entries):
            if DANGER_ALL in entry.src:
                acl.report(f"{section}[{index}]", text)


# -- tailnet-generated-tests ---------------------------------------------------------------------------


def _first_three(items: list[str], separator: str, more: str) -> str:
    """The first three items, then `<more> N more` when there are others."""
    return separator.join(items[:3]) + (f"{more} {len(items) - 3} more" if len(items) > 3 else "")


@resource_validator(ACL)
def tailnet_generated_tests_validator(acl: ResourceCheck) -> None:
    """Reports generated test assertions missing from `tests`, and generated tests that fail."""
    policy = readable_policy(acl)
    if policy is None:
        return
    expected = acl.context.plan.tests({**acl.context.plan.groups, **policy.groups})
    missing = [
        f"{test.src} {kind} {destination}"
        for test in expected
        for kind, destinations in (("accept", test.accept), ("deny", test.deny))
        for destination in destinations
        if not any(have.src == test.src and destination in getattr(have, kind) for have in policy.tests)
    ]
    if missing:
        shown = _first_three(missing, ", ", " and")
        text = (
            f"lacks the generated assertions {shown}; Tailscale runs tests on every save, so without "
            "them a later hand edit can open the model port: let the program render the policy "
            "instead of removing its tests"
        )
        acl.report("tests", text, uses_config=True)
    failures = [f"{failure.src}: {failure.message}" for failure in run_tests(policy, expected)]
    if failures:
        shown = _first_three(failures, "; ", "; and")
        text = (
            f"the generated tests fail ({shown}), so the policy breaks the stack's invariant and "
            "Tailscale refuses it while those tests are in it; narrow the rules that open these paths"
        )
        acl.report("tests", text, uses_config=True)


# -- tailnet-aperture-no-wildcard-admin ------------------------------------------------------------


@resource_validator(ACL)
def tailnet_aperture_no_wildcard_admin_validator(acl: ResourceCheck) -> None:
    """Reports policy-file grants that give the Aperture admin role beyond the configured admins."""
    policy = readable_policy(acl)
    if policy is None:
        return
    groups = {**acl.context.plan.groups, **policy.groups}
    for index, grant in enumerate(policy.grants):
        wide = (
            too_wide_for_admin(grant.src, acl.context.plan.admins, groups) if gives_admin(grant.app) else []
        )
        if wide:
            acl.report(f"grants[{index}]", admin_grant_text(wide, acl.context), uses_config=True)


# -- the policies: one per row of EXPOSURE_RULES, then name, description, validator ------------

tailnet_policy_checkable = exposure_policy(CHECKABLE)
tailnet_no_funnel = exposure_policy(FUNNEL)
tailnet_no_wide_source = exposure_policy(WIDE_SOURCE)
tailnet_no_exit_node = exposure_policy(EXIT_NODE)
tailnet_model_port_gateway_only = exposure_policy(MODEL_PORT)
tailnet_ssh_admins_only = exposure_policy(SSH_ADMINS)
tailnet_gpu_tag_admins_only = exposure_policy(GPU_TAG_OWNERS)
tailnet_policy_readable = ResourceValidationPolicy(
    "tailnet-policy-readable",
    "Requires the tailnet policy file to parse, so that the other tailnet guardrails can check it.",
    tailnet_policy_readable_validator,
)
tailnet_no_danger_all = ResourceValidationPolicy(
    "tailnet-no-danger-all",
    (
        "Prohibits autogroup:danger-all (which includes devices outside the tailnet) as a source "
        "in the tailnet policy file."
    ),
    tailnet_no_danger_all_validator,
)
tailnet_generated_tests = ResourceValidationPolicy(
    "tailnet-generated-tests",
    (
        "Requires the generated policy tests (the gateway reaches the model port, model users do not, "
        "only admins reach SSH) to be present in the tailnet policy file and to pass."
    ),
    tailnet_generated_tests_validator,
)
tailnet_aperture_no_wildcard_admin = ResourceValidationPolicy(
    "tailnet-aperture-no-wildcard-admin",
    (
        "Prohibits tailnet policy grants of the Aperture admin role (tailscale.com/cap/aperture) to *, "
        "autogroup:member or any group wider than the configured admins."
    ),
    tailnet_aperture_no_wildcard_admin_validator,
)


POLICIES = [
    tailnet_policy_readable,
    tailnet_policy_checkable,
    tailnet_no_funnel,
    tailnet_no_danger_all,
    tailnet_no_wide_source,
    tailnet_no_exit_node,
    tailnet_model_port_gateway_only,
    tailnet_ssh_admins_only,
    tailnet_gpu_tag_admins_only,
    tailnet_generated_tests,
    tailnet_aperture_no_wildcard_admin,
]
"""The tailnet guardrails, in the order the pack lists them."""
