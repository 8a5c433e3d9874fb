"""Invariants over the whole stack. Stack policies run once all resources are known and see each
resource's outputs, so they can join what no single resource shows.

- `model-endpoint-gateway-only`: every model endpoint the gateway config points at (each provider
  `baseurl`) is a host that only the gateway can reach on that port, per the stack's tailnet policy.
- `tailnet-gpu-address-rules`: rules that reach a GPU server's model port or SSH only through an
  address form (IP, CIDR, range, hosts alias, ipset), judged against the addresses in the stack's
  state (`host:State.tailnet_ip`, the `<host>_tailnet_ip` outputs), else the tailnet range.
- `aperture-effective-no-wildcard-admin`: the Aperture grants read back after the deploy
  (`effectiveGrants`, or the dynamic provider's snake_case `effective_grants`), not only the
  declared ones, give no wildcard admin in production.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UnknownValueError

from policies.common import (
    ACL,
    APERTURE_CONFIG,
    TAILNET_KEY,
    StackContext,
    UnknownTracker,
    is_preview,
    message,
    production_only,
    stack_context,
    strings,
    subject,
)
from policies.exposure import CHECKABLE, exposures
from policies.gateway import admin_grant_text, display_url, provider_base_urls, wide_admin_grants
from policies.gpu_servers import GpuServers
from tailnet_policy.address_set import AddressError, AddressSet
from tailnet_policy.policy_file import PolicyFile, parse

MODEL_PORT_RULE = "tailnet-model-port-gateway-only"
HOST_STATE = "pulumi-python:dynamic/host:State"
"""The resource that records a GPU server's `tailnet_ip` once it has joined."""

STACK = "pulumi:pulumi:Stack"
"""The stack itself; its outputs include `<host>_tailnet_ip`."""


@dataclass(frozen=True)
class Endpoint:
    """One model endpoint the gateway config points at."""

    resource: PolicyResource
    """The Aperture config resource that declares it."""

    provider_id: str
    url: str
    """The baseurl as printed (no user info, query or fragment)."""

    host: str
    port: int


def model_endpoints(resources: Iterable[PolicyResource], tracker: UnknownTracker) -> list[Endpoint]:
    """Every provider baseurl of every Aperture config in the stack that parses as a URL."""
    found = []
    for resource in resources:
        if resource.resource_type != APERTURE_CONFIG:
            continue
        with tracker.item():
            for provider_id, baseurl in provider_base_urls(resource.props.get("providers"), tracker):
                shown = display_url(baseurl)
                if shown is None:
                    continue  # aperture-provider-private-baseurl reports it
                parts = urlsplit(shown)
                if not parts.hostname:
                    continue
                port = parts.port or (443 if parts.scheme == "https" else 80)
                found.append(Endpoint(resource, provider_id, shown, parts.hostname, port))
    return found


def endpoint_servers(
    endpoint: Endpoint, policy: PolicyFile, tags: Iterable[str], context: StackContext
) -> GpuServers:
    """The GPU server behind an endpoint: its tags, and its address (the URL's IP, or the `hosts`
    alias of its MagicDNS short name); a name with no known address may be anywhere in the range."""
    address = endpoint.host
    short = endpoint.host.split(".", 1)[0]
    if short != endpoint.host and short in policy.hosts:
        address = policy.hosts[short].split("/")[0]
    try:
        known = AddressSet.parse(address)
        pending = AddressSet()
    except AddressError:
        known, pending = AddressSet(), AddressSet.parse(str(context.network))
    return GpuServers(endpoint.host, frozenset({context.plan.gpu_tag, *tags}), known, pending)


def gpu_addresses(resources: Iterable[PolicyResource]) -> list[str]:
    """The GPU servers' tailnet IPs the stack's state knows: each `host:State` resource's
    `tailnet_ip` and each `<host>_tailnet_ip` stack output. A value unknown in preview is skipped."""
    found: list[str] = []
    for resource in resources:
        try:
            if resource.resource_type == HOST_STATE:
                values = [resource.props.get("tailnet_ip")]
            elif resource.resource_type == STACK:
                values = [v for k, v in resource.props.items() if str(k).endswith("_tailnet_ip")]
            else:
                continue
        except UnknownValueError:
            continue
        for value in values:
            if isinstance(value, str) and value not in found:
                try:
                    AddressSet.parse(value)
                except AddressError:
                    continue
                found.append(value)
    return found


def _gpu_tags(
    resources: Iterable[PolicyResource], context: StackContext, tracker: UnknownTracker
) -> set[str]:
    tags = {context.plan.gpu_tag}
    for resource in resources:
        if resource.resource_type == TAILNET_KEY:
            with tracker.item():
                tags.update(strings(resource.props.get("tags")))
    return tags


def _policies(
    resources: Iterable[PolicyResource], tracker: UnknownTracker
) -> list[tuple[PolicyResource, PolicyFile]]:
    found = []
    for resource in resources:
        if resource.resource_type != ACL:
            continue
        with tracker.item():
            text = resource.props.get("acl")
            if not isinstance(text, str):
                continue
            try:
                found.append((resource, parse(text)))
            except ValueError:
                continue  # tailnet-policy-readable reports it
    return found


def model_endpoint_gateway_only_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """Reports each rule that lets anyone but the gateway reach a model endpoint on its port."""
    context = stack_context()
    tracker = UnknownTracker("the stack")
    endpoints = model_endpoints(args.resources, tracker)
    policies = _policies(args.resources, tracker)
    tags = _gpu_tags(args.resources, context, tracker)
    gateway = context.plan.gateway
    for endpoint in endpoints:
        who = subject(endpoint.resource.resource_type, endpoint.resource.name)
        where = f"providers.{endpoint.provider_id}.baseurl"
        if not policies:
            text = (
                f"points at {endpoint.url}, but the stack declares no tailnet policy ({ACL}), so nothing "
                f"shows that only the gateway reaches port {endpoint.port}; declare the policy file in this "
                "stack"
            )
            report_violation(message(who, where, text, context), endpoint.resource.urn)
            continue
        for acl, policy in policies:
            servers = endpoint_servers(endpoint, policy, tags, context)
            found = exposures(
                policy,
                endpoint.host,
                gateway,
                [endpoint.port],
                context.plan.admins,
                servers,
                context.plan.gateway_address,
            )
            for exposure in found:
                if exposure.rule not in (MODEL_PORT_RULE, CHECKABLE):
                    continue
                text = (
                    f"points at {endpoint.url}, but {subject(acl.resource_type, acl.name)} "
                    f"{exposure.where} {exposure.message}"
                )
                report_violation(message(who, where, text, context, uses_config=True), acl.urn)
    tracker.finish()


model_endpoint_gateway_only = StackValidationPolicy(
    name="model-endpoint-gateway-only",
    description=(
        "Requires every model endpoint the gateway config points at to be a host that only the "
        "gateway can reach on that port."
    ),
    validate=model_endpoint_gateway_only_validator,
)


def tailnet_gpu_address_rules_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Reports rules that reach a GPU server's model port or SSH only through an address form.

    The tailnet resource policies cannot see the servers' addresses, so they leave these findings
    (`Exposure.by_address`) to this policy, which judges them against the addresses in the stack's
    state, or the tailnet range for a server that has not joined yet.
    """
    context = stack_context()
    tracker = UnknownTracker("the stack")
    policies = _policies(args.resources, tracker)
    tags = _gpu_tags(args.resources, context, tracker)
    hosts = len(context.config.hosts) if context.config is not None else 1
    plan = context.plan
    servers = GpuServers.for_stack(
        plan.gpu_tag, tags, gpu_addresses(args.resources), hosts, str(context.network)
    )
    for acl, policy in policies:
        who = subject(acl.resource_type, acl.name)
        found = exposures(
            policy, plan.gpu_tag, plan.gateway, plan.model_ports, plan.admins, servers, plan.gateway_address
        )
        for exposure in found:
            if exposure.by_address:
                text = f"{exposure.message} ({exposure.rule})"
                report_violation(message(who, exposure.where, text, context, uses_config=True), acl.urn)
    tracker.finish()


tailnet_gpu_address_rules = StackValidationPolicy(
    name="tailnet-gpu-address-rules",
    description=(
        "Prohibits rules that reach the GPU servers' model port or SSH through an IP, CIDR, range, hosts "
        "alias or ipset from anyone but the gateway or the admins, judged against the servers' tailnet "
        "addresses in the stack's state, or the tailnet address range before their first join."
    ),
    validate=tailnet_gpu_address_rules_validator,
)


def effective_grants(props: Any) -> Any:
    """The grants read back after the write: `effectiveGrants`, or the snake_case spelling."""
    if "effectiveGrants" in props:
        return props.get("effectiveGrants")
    return props.get("effective_grants")


def aperture_effective_no_wildcard_admin_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """In production, reports wildcard admin in the grants Aperture holds after the deploy."""
    context = stack_context()
    production_only(args, context)
    trackers = []
    for resource in args.resources:
        if resource.resource_type != APERTURE_CONFIG:
            continue
        who = subject(resource.resource_type, resource.name)
        tracker = UnknownTracker(who)
        trackers.append(tracker)
        with tracker.item():
            grants = effective_grants(resource.props)
            if grants is None and is_preview():
                raise UnknownValueError(UNKNOWN_ARRAY_VALUE, ["effectiveGrants"])
            if grants is None:
                text = (
                    "reports no effectiveGrants, so the grants in force after the deploy cannot be "
                    "checked; make the ApertureConfig provider return the grants it read back"
                )
                report_violation(message(who, None, text, context), resource.urn)
                continue
            for index, wide in wide_admin_grants(grants, context, tracker, context.plan.groups):
                text = admin_grant_text(wide, context, read_back=True)
                report_violation(
                    message(who, f"effectiveGrants[{index}]", text, context, uses_config=True), resource.urn
                )
    for tracker in trackers:
        tracker.finish()


aperture_effective_no_wildcard_admin = StackValidationPolicy(
    name="aperture-effective-no-wildcard-admin",
    description=(
        "Prohibits, in production, wildcard or over-wide admin in the Aperture grants read back after "
        "the deploy."
    ),
    validate=aperture_effective_no_wildcard_admin_validator,
)


POLICIES = [model_endpoint_gateway_only, tailnet_gpu_address_rules, aperture_effective_no_wildcard_admin]
"""The stack guardrails, in the order the pack lists them."""
