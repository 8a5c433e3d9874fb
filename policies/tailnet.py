"""Guardrails for the tailnet policy file: `tailscale:index/acl:Acl`, whose `acl` prop is the whole
policy file as HuJSON text.

The policy file decides who reaches the model port (DESIGN.md §5.1), so most rules here are the
findings of `policies.exposure.exposures()`, one policy per finding kind, judged with the same
evaluator the program and the sandbox use. The GPU tag, the gateway selector, the model ports and
the admins come from the stack config (`PolicyPlan.from_config`).

A resource policy sees only the policy file, not the GPU servers' addresses, so findings that rest
on an address form (`Exposure.by_address`) are left to the stack policy `tailnet-gpu-address-rules`,
which judges them against the addresses in the stack's state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from policies.common import (
    ACL,
    StackContext,
    explained_unknowns,
    message,
    stack_context,
    subject,
)
from policies.exposure import CHECKABLE, Exposure, exposures
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
) -> Analysis:
    servers = GpuServers(gpu_tag, frozenset({gpu_tag}), pending=AddressSet.parse(address_range))
    try:
        policy = parse(text)
        found = tuple(exposures(policy, gpu_tag, gateway, model_ports, admins, servers, gateway_address))
    except ValueError as exc:  # HuJSON syntax, section shape or port spec errors
        return Analysis(None, str(exc), ())
    return Analysis(policy, None, found)


def analysis(args: ResourceValidationArgs, context: StackContext) -> Analysis | None:
    """The policy file in `args` judged against the stack's plan; None without an `acl` string.

    Cached per text and plan: every tailnet policy reads the same file once.
    """
    with explained_unknowns(subject(args.resource_type, args.name)):
        text = args.props.get("acl")
    if not isinstance(text, str):
        return None
    plan = context.plan
    return _analyse(
        text,
        plan.gpu_tag,
        plan.gateway,
        plan.model_ports,
        plan.admins,
        plan.gateway_address,
        str(context.network),
    )


def _readable(args: ResourceValidationArgs) -> tuple[StackContext, str, PolicyFile, Analysis] | None:
    if args.resource_type != ACL:
        return None
    context = stack_context()
    result = analysis(args, context)
    if result is None or result.policy is None:
        return None
    return context, subject(args.resource_type, args.name), result.policy, result


def _report_exposures(args: ResourceValidationArgs, report_violation: ReportViolation, rule: str) -> None:
    found = _readable(args)
    if found is None:
        return
    context, who, _, result = found
    for exposure in result.findings:
        if exposure.rule != rule or exposure.by_address:
            continue  # by_address: `tailnet-gpu-address-rules` judges it with the servers' addresses
        report_violation(message(who, exposure.where, exposure.message, context, uses_config=True), None)


# -- tailnet-policy-readable -----------------------------------------------------------------------


def tailnet_policy_readable_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Reports a policy file that does not parse (no other tailnet rule can judge it)."""
    if args.resource_type != ACL:
        return
    context = stack_context()
    result = analysis(args, context)
    if result is None or result.error is None:
        return
    text = (
        f"cannot be read ({result.error}), so no guardrail can check it; fix the policy file "
        "(Tailscale would refuse it too)"
    )
    report_violation(message(subject(args.resource_type, args.name), "acl", text, context), None)


tailnet_policy_readable = ResourceValidationPolicy(
    name="tailnet-policy-readable",
    description="Requires the tailnet policy file to parse, so that the other tailnet guardrails can check it.",
    validate=tailnet_policy_readable_validator,
)


# -- the findings of exposures() ---------------------------------------------------------------------


def tailnet_no_funnel_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Reports each nodeAttrs entry that grants Funnel."""
    _report_exposures(args, report_violation, "tailnet-no-funnel")


tailnet_no_funnel = ResourceValidationPolicy(
    name="tailnet-no-funnel",
    description=(
        'Prohibits Funnel (nodeAttrs "funnel") in the tailnet policy file: it publishes tailnet '
        "services on the internet."
    ),
    validate=tailnet_no_funnel_validator,
)


def tailnet_no_wide_source_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Reports each rule whose source `*` or `autogroup:danger-all` reaches a GPU server's model or SSH port."""
    _report_exposures(args, report_violation, "tailnet-no-wide-source")


tailnet_no_wide_source = ResourceValidationPolicy(
    name="tailnet-no-wide-source",
    description=(
        "Prohibits * and autogroup:danger-all as sources that reach the GPU servers' model or SSH port."
    ),
    validate=tailnet_no_wide_source_validator,
)


def tailnet_no_exit_node_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Reports each rule that lets the GPU servers use exit nodes, and exit-node auto-approval."""
    _report_exposures(args, report_violation, "tailnet-no-exit-node")


tailnet_no_exit_node = ResourceValidationPolicy(
    name="tailnet-no-exit-node",
    description="Prohibits exit-node and internet (autogroup:internet) access for the GPU servers.",
    validate=tailnet_no_exit_node_validator,
)


def tailnet_model_port_gateway_only_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Reports each rule that lets anyone but the gateway reach a model port."""
    _report_exposures(args, report_violation, "tailnet-model-port-gateway-only")


tailnet_model_port_gateway_only = ResourceValidationPolicy(
    name="tailnet-model-port-gateway-only",
    description="Prohibits any source but the gateway from reaching the model port of the GPU servers.",
    validate=tailnet_model_port_gateway_only_validator,
)


def tailnet_ssh_admins_only_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Reports each rule or Tailscale SSH rule that lets a non-admin reach SSH on a GPU server."""
    _report_exposures(args, report_violation, "tailnet-ssh-admins-only")


tailnet_ssh_admins_only = ResourceValidationPolicy(
    name="tailnet-ssh-admins-only",
    description=(
        "Prohibits anyone but the admins from reaching SSH (tcp:22 or Tailscale SSH) on the GPU servers."
    ),
    validate=tailnet_ssh_admins_only_validator,
)


def tailnet_gpu_tag_admins_only_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Reports a GPU tag that non-admins may apply (and so receive model traffic)."""
    _report_exposures(args, report_violation, "tailnet-gpu-tag-admins-only")


tailnet_gpu_tag_admins_only = ResourceValidationPolicy(
    name="tailnet-gpu-tag-admins-only",
    description="Prohibits anyone but the admins from owning the GPU servers' tag (tagOwners).",
    validate=tailnet_gpu_tag_admins_only_validator,
)


def tailnet_policy_checkable_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Reports each rule that opens a model port or tcp:22 through a selector the guardrails cannot
    resolve (so they cannot tell whether it reaches a GPU server, or from whom)."""
    _report_exposures(args, report_violation, CHECKABLE)


tailnet_policy_checkable = ResourceValidationPolicy(
    name="tailnet-policy-checkable",
    description=(
        "Requires every rule that opens the model port or SSH to use selectors the guardrails can resolve "
        "(defined groups, hosts and ipsets; no Tailscale Services or unmodelled autogroups), so that it "
        "can be checked."
    ),
    validate=tailnet_policy_checkable_validator,
)


# -- tailnet-no-danger-all ---------------------------------------------------------------------------


def tailnet_no_danger_all_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Reports every grant, acl or ssh rule with `autogroup:danger-all` as a source."""
    found = _readable(args)
    if found is None:
        return
    context, who, policy, _ = found
    sections: tuple[tuple[str, Sequence[Grant | Acl | SshRule]], ...] = (
        ("grants", policy.grants),
        ("acls", policy.acls),
        ("ssh", policy.ssh),
    )
    for section, entries in sections:
        for index, entry in enumerate(entries):
            if DANGER_ALL in entry.src:
                text = (
                    f"src {DANGER_ALL} matches every device, including devices outside your tailnet; "
                    "name the users, groups or tags that need access"
                )
                report_violation(message(who, f"{section}[{index}]", text, context), None)


tailnet_no_danger_all = ResourceValidationPolicy(
    name="tailnet-no-danger-all",
    description=(
        "Prohibits autogroup:danger-all (which includes devices outside the tailnet) as a source "
        "in the tailnet policy file."
    ),
    validate=tailnet_no_danger_all_validator,
)


# -- tailnet-generated-tests ---------------------------------------------------------------------------


def tailnet_generated_tests_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Reports generated test assertions missing from `tests`, and generated tests that fail."""
    found = _readable(args)
    if found is None:
        return
    context, who, policy, _ = found
    groups = {**context.plan.groups, **policy.groups}
    expected = context.plan.tests(groups)
    missing = []
    for test in expected:
        for kind, destinations in (("accept", test.accept), ("deny", test.deny)):
            for destination in destinations:
                if not any(
                    have.src == test.src and destination in getattr(have, kind) for have in policy.tests
                ):
                    missing.append(f"{test.src} {kind} {destination}")
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        text = (
            f"lacks the generated assertions {shown}; Tailscale runs tests on every save, so without "
            "them a later hand edit can open the model port: let the program render the policy "
            "instead of removing its tests"
        )
        report_violation(message(who, "tests", text, context, uses_config=True), None)
    failures = [f"{failure.src}: {failure.message}" for failure in run_tests(policy, expected)]
    if failures:
        shown = "; ".join(failures[:3]) + (f"; and {len(failures) - 3} more" if len(failures) > 3 else "")
        text = (
            f"the generated tests fail ({shown}), so the policy breaks the stack's invariant and "
            "Tailscale refuses it while those tests are in it; narrow the rules that open these paths"
        )
        report_violation(message(who, "tests", text, context, uses_config=True), None)


tailnet_generated_tests = ResourceValidationPolicy(
    name="tailnet-generated-tests",
    description=(
        "Requires the generated policy tests (the gateway reaches the model port, model users do not, "
        "only admins reach SSH) to be present in the tailnet policy file and to pass."
    ),
    validate=tailnet_generated_tests_validator,
)


# -- tailnet-aperture-no-wildcard-admin ------------------------------------------------------------


def tailnet_aperture_no_wildcard_admin_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Reports policy-file grants that give the Aperture admin role beyond the configured admins."""
    found = _readable(args)
    if found is None:
        return
    context, who, policy, _ = found
    groups = {**context.plan.groups, **policy.groups}
    for index, grant in enumerate(policy.grants):
        if not gives_admin(grant.app):
            continue
        wide = too_wide_for_admin(grant.src, context.plan.admins, groups)
        if wide:
            report_violation(
                message(who, f"grants[{index}]", admin_grant_text(wide, context), context, uses_config=True),
                None,
            )


tailnet_aperture_no_wildcard_admin = ResourceValidationPolicy(
    name="tailnet-aperture-no-wildcard-admin",
    description=(
        "Prohibits tailnet policy grants of the Aperture admin role (tailscale.com/cap/aperture) to *, "
        "autogroup:member or any group wider than the configured admins."
    ),
    validate=tailnet_aperture_no_wildcard_admin_validator,
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
