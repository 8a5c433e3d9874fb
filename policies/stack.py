"""Invariants over the whole stack. Stack policies run once all resources are known and see each
resource's outputs, so they can join what no single resource shows.

- `model-endpoint-gateway-only`: every model endpoint the gateway config points at (each provider
  `baseurl`) is a host that only the gateway can reach on that port, per the stack's tailnet policy.
- `tailnet-gpu-address-rules`: rules that reach a GPU server's model port or SSH only through an
  address form (IP, CIDR, range, hosts alias, ipset), judged against the addresses in the stack's
  state (`host:State.tailnet_ip`, the `<host>_tailnet_ip` outputs), else the tailnet range, and
  against the servers' LAN addresses (`hosts[].address`), which a subnet router makes reachable.
- `aperture-effective-no-wildcard-admin`: the Aperture grants read back after the deploy
  (`effectiveGrants`, or the dynamic provider's snake_case `effective_grants`), not only the
  declared ones, give no wildcard admin in production.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pulumi_policy import PolicyResource, StackValidationPolicy
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UnknownValueError

from policies.common import (
    ACL,
    APERTURE_CONFIG,
    TAILNET_KEY,
    StackCheck,
    StackContext,
    is_preview,
    stack_validator,
    strings,
    subject,
    tailnet_policies,
)
from policies.exposure import CHECKABLE, MODEL_PORT, exposures
from policies.gateway import admin_grant_text, display_url, provider_base_urls, wide_admin_grants
from policies.gpu_servers import GpuServers
from tailnet_policy.address_set import AddressError, AddressSet
from tailnet_policy.policy_file import PolicyFile

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


def model_endpoints(stack: StackCheck) -> list[Endpoint]:
    """Every provider baseurl of every Aperture config in the stack that parses as a URL."""
    found = []
    for resource in stack.of_type(APERTURE_CONFIG):
        with stack.tracker.item():
            for provider_id, baseurl in provider_base_urls(resource.props.get("providers"), stack.tracker):
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


def _gpu_tags(stack: StackCheck) -> set[str]:
    """The GPU tag, the tensor-parallel workers' tag when there are workers, and every tag an auth
    key of the stack gives."""
    plan = stack.context.plan
    keys = stack.of_type(TAILNET_KEY)
    found = stack.tracker.collect(keys, lambda key: strings(key.props.get("tags")))
    own = {plan.gpu_tag} if plan.worker_tag is None else {plan.gpu_tag, plan.worker_tag}
    return {*own, *(tag for tags in found for tag in tags)}


@stack_validator()
def model_endpoint_gateway_only_validator(stack: StackCheck) -> None:
    """Reports each rule that lets anyone but the gateway reach a model endpoint on its port."""
    context, plan = stack.context, stack.context.plan
    endpoints = model_endpoints(stack)
    policies = tailnet_policies(stack)
    tags = _gpu_tags(stack)
    for endpoint in endpoints:
        where = f"providers.{endpoint.provider_id}.baseurl"
        if not policies:
            text = (
                f"points at {endpoint.url}, but the stack declares no tailnet policy ({ACL}), so nothing "
                f"shows that only the gateway reaches port {endpoint.port}; declare the policy file in this "
                "stack"
            )
            stack.report(endpoint.resource, where, text)
        for acl, policy in policies:
            servers = endpoint_servers(endpoint, policy, tags, context)
            found = exposures(
                policy,
                endpoint.host,
                plan.gateway,
                [endpoint.port],
                plan.admins,
                servers,
                plan.gateway_address,
            )
            for exposure in found:
                if exposure.rule in (MODEL_PORT.name, CHECKABLE.name):
                    text = (
                        f"points at {endpoint.url}, but {subject(acl.resource_type, acl.name)} "
                        f"{exposure.where} {exposure.message}"
                    )
                    stack.report(endpoint.resource, where, text, uses_config=True, urn=acl.urn)


@stack_validator()
def tailnet_gpu_address_rules_validator(stack: StackCheck) -> None:
    """Reports rules that reach a GPU server's model port or SSH only through an address form.

    The tailnet resource policies cannot see the servers' addresses, so they leave these findings
    (`Exposure.by_address`) to this policy, which judges them against the addresses in the stack's
    state, or the tailnet range for a server that has not joined yet, and the servers' LAN addresses.
    """
    context = stack.context
    policies = tailnet_policies(stack)
    tags = _gpu_tags(stack)
    # Every host, tensor-parallel workers included: a worker is a machine to protect as a GPU server
    # (its address counts as one, and the range stays pending until every host has joined).
    configured = context.config.hosts if context.config is not None else []
    plan = context.plan
    servers = GpuServers.for_stack(
        plan.gpu_tag,
        tags,
        gpu_addresses(stack.args.resources),
        len(configured) or 1,
        str(context.network),
        lan=[host.address for host in configured],
    )
    for acl, policy in policies:
        found = exposures(
            policy,
            plan.gpu_tag,
            plan.gateway,
            plan.model_ports,
            plan.admins,
            servers,
            plan.gateway_address,
            plan.deploy_tag,
        )
        for exposure in found:
            if exposure.by_address:
                stack.report(acl, exposure.where, f"{exposure.message} ({exposure.rule})", uses_config=True)


def effective_grants(props: Any) -> Any:
    """The grants read back after the write: `effectiveGrants`, or the snake_case spelling."""
    if "effectiveGrants" in props:
        return props.get("effectiveGrants")
    return props.get("effective_grants")


@stack_validator(production=True)
def aperture_effective_no_wildcard_admin_validator(stack: StackCheck) -> None:
    """In production, reports wildcard admin in the grants Aperture holds after the deploy."""
    context = stack.context
    for resource in stack.of_type(APERTURE_CONFIG):
        with stack.resource(resource) as tracker:
            grants = effective_grants(resource.props)
            if grants is None and is_preview():
                raise UnknownValueError(UNKNOWN_ARRAY_VALUE, ["effectiveGrants"])
            if grants is None:
                text = (
                    "reports no effectiveGrants, so the grants in force after the deploy cannot be "
                    "checked; make the ApertureConfig provider return the grants it read back"
                )
                stack.report(resource, None, text)
                continue
            for index, wide in wide_admin_grants(grants, context.plan, tracker):
                text = admin_grant_text(wide, context, read_back=True)
                stack.report(resource, f"effectiveGrants[{index}]", text, uses_config=True)


# -- the policies: name, description, validator --------------------------------------------------

model_endpoint_gateway_only = StackValidationPolicy(
    "model-endpoint-gateway-only",
    (
        "Requires every model endpoint the gateway config points at to be a host that only the "
        "gateway can reach on that port."
    ),
    model_endpoint_gateway_only_validator,
)
tailnet_gpu_address_rules = StackValidationPolicy(
    "tailnet-gpu-address-rules",
    (
        "Prohibits rules that reach the GPU servers' model port or SSH through an IP, CIDR, range, hosts "
        "alias or ipset from anyone but the gateway or the admins, judged against the servers' tailnet "
        "addresses in the stack's state (or the tailnet address range before their first join) and their "
        "LAN addresses (sovereign-ai:hosts[].address), which a subnet router makes reachable."
    ),
    tailnet_gpu_address_rules_validator,
)
aperture_effective_no_wildcard_admin = StackValidationPolicy(
    "aperture-effective-no-wildcard-admin",
    (
        "Prohibits, in production, wildcard or over-wide admin in the Aperture grants read back after "
        "the deploy."
    ),
    aperture_effective_no_wildcard_admin_validator,
)


POLICIES = [model_endpoint_gateway_only, tailnet_gpu_address_rules, aperture_effective_no_wildcard_admin]
"""The stack guardrails, in the order the pack lists them."""
