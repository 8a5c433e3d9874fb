"""Guardrail for tensor-parallel workers (`sovereign-ai:hosts[].tensorParallel.workers`) in the
tailnet policy file (`tailscale:index/acl:Acl`).

A worker serves nothing itself: its group's head runs `vllm serve` and is the only Aperture provider
(docs/architecture.md §12), while the worker runs a Ray worker and NCCL over the QSFP link, which
answer anyone who reaches them, without authentication. So nothing on the tailnet may reach a worker
but SSH (tcp:22, which the plan opens to the admins and the deploy tag, and which
`tailnet-ssh-admins-only` guards): `tailnet-worker-ssh-only` reports every rule that lets any source,
the gateway and the admins included, reach a worker on another port (or another protocol than TCP
and ICMP). A worker is named by its tag (`tailnet.workerTag`, which it joins with), `*`,
`autogroup:tagged`, or an address form containing its tailnet address (from the stack's state:
`<worker>-state`'s `tailnet_ip` or the `<worker>_tailnet_ip` output; before its first join, an
address form covering the whole tailnet range, where it will get its address) or its LAN address
(`hosts[].address`, through a subnet router). It is a stack policy because only the stack knows the
workers' addresses; it applies when the config has workers (`PolicyPlan.worker_tag` is set).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pulumi_policy import PolicyResource, StackValidationPolicy
from pulumi_policy.proxy import UnknownValueError

from config.fleet import TensorParallelGroup, tensor_parallel_groups
from policies.common import StackCheck, stack_validator, tailnet_policies
from policies.gpu_servers import lan_addresses
from tailnet_policy.address_set import TAILSCALE_IPV6, AddressError, AddressSet
from tailnet_policy.policy_file import PolicyFile
from tailnet_policy.reachability import PortRange, Rule, network_rules
from tailnet_policy.selectors import Resolver, Selection

WORKER_TAG_KEY = "sovereign-ai:tailnet.workerTag"
HOST_STATE = "pulumi-python:dynamic/host:State"
"""The resource that records a host's `tailnet_ip` once it has joined (`<host>-state`)."""

STACK = "pulumi:pulumi:Stack"
SSH_PORT = 22
HARMLESS_PROTOCOLS = frozenset({"icmp", "ipv6-icmp"})
"""Protocols a rule may open to a worker: ping reaches no service."""


@dataclass(frozen=True)
class Worker:
    """One tensor-parallel worker, and what can name it in a policy file."""

    name: str
    head: str
    """The name of its group's head."""

    tag: str
    """`tailnet.workerTag`, the tag it joins with."""

    address: AddressSet = field(default_factory=AddressSet)
    """Its tailnet address from the stack's state; empty before its first join."""

    lan: AddressSet = field(default_factory=AddressSet)
    """Its LAN address (`hosts[].address` when it is an IP), reachable through a subnet router."""

    def named_by(self, selection: Selection, network: AddressSet) -> str | None:
        """Whether `selection` names this worker: None when it does not; `""` when it names it by a
        principal (its tag, `*`, `autogroup:tagged`); for an address form, why it counts
        (`which contains its address ...`). Before its first join an address form names it only when
        it covers the whole tailnet range (`network`), where its address will be; so does one
        covering Tailscale's whole IPv6 range."""
        if selection.everything or self.tag in selection.tags or "autogroup:tagged" in selection.autogroups:
            return ""
        chosen = selection.addresses
        if chosen.overlaps(self.address):
            return f"which contains its address {self.address}"
        if chosen.overlaps(self.lan):
            return (
                f"which contains its LAN address {self.lan} (sovereign-ai:hosts[].address), reachable "
                "through a subnet router"
            )
        if not self.address and network and chosen.covers(network):
            return (
                f"which contains the whole tailnet range {network}, where it gets its address when it joins"
            )
        if chosen.covers(TAILSCALE_IPV6):
            return "which contains Tailscale's whole IPv6 range, where every device has an address"
        return None


def workers_of(
    groups: Sequence[TensorParallelGroup], tag: str, resources: Sequence[PolicyResource]
) -> list[Worker]:
    """Every worker of `groups`, in config order, with its tailnet address from the stack's state."""
    found = []
    for group in groups:
        for worker in group.workers:
            known = worker_address(resources, worker.name)
            address = AddressSet() if known is None else AddressSet.parse(known)
            found.append(Worker(worker.name, group.head.name, tag, address, lan_addresses([worker.address])))
    return found


def worker_address(resources: Iterable[PolicyResource], name: str) -> str | None:
    """The worker's tailnet IP from the stack's state (`<name>-state`'s `tailnet_ip`, or the
    `<name>_tailnet_ip` output), or None while unknown (not joined yet, or unknown in preview)."""
    for resource in resources:
        try:
            if resource.resource_type == HOST_STATE and resource.name == f"{name}-state":
                value = resource.props.get("tailnet_ip")
            elif resource.resource_type == STACK:
                value = resource.props.get(f"{name}_tailnet_ip")
            else:
                continue
        except UnknownValueError:
            continue
        if isinstance(value, str):
            try:
                AddressSet.parse(value)
            except AddressError:
                continue
            return value
    return None


def beyond_ssh(ports: Iterable[PortRange]) -> list[PortRange]:
    """The port ranges of a rule that open more than tcp:22 (ping aside)."""
    return [
        p
        for p in ports
        if p.protocols - HARMLESS_PROTOCOLS - {"tcp"}
        or ("tcp" in p.protocols and (p.low, p.high) != (SSH_PORT, SSH_PORT))
    ]


def describe_ports(ports: Sequence[PortRange], model_ports: Iterable[int]) -> str:
    """How a message lists what a rule opens: `every port`, `tcp:6379`, `udp:53, tcp:8000`, followed
    by the model ports among them, e.g. `every port (tcp:8000: the model port of its head)`."""
    if any((p.low, p.high) == (0, 65535) and {"tcp", "udp"} <= p.protocols for p in ports):
        text = "every port"
    else:
        parts = []
        for p in ports:
            span = (
                "*"
                if (p.low, p.high) == (0, 65535)
                else f"{p.low}"
                if p.low == p.high
                else f"{p.low}-{p.high}"
            )
            parts += [f"{proto}:{span}" for proto in sorted(p.protocols - HARMLESS_PROTOCOLS)]
        text = ", ".join(dict.fromkeys(parts))
    hit = ", ".join(
        f"tcp:{port}" for port in sorted(set(model_ports)) if any(p.covers("tcp", port) for p in ports)
    )
    if hit and hit == text:
        return f"{text}, the model port of its head"
    return f"{text}, the model port {hit} of its head included" if hit else text


def worker_findings(
    policy: PolicyFile, workers: Sequence[Worker], model_ports: Iterable[int], network: str
) -> list[tuple[str, str]]:
    """(where, message) for each rule that lets any source reach a worker on more than tcp:22, in
    policy-file order (an acl with several `dst` entries once).

    :param network: the tailnet's address range (`tailnet.addressRange`).
    """
    resolver = Resolver(policy)
    tailnet = AddressSet.parse(network)
    ports = list(model_ports)
    found: dict[str, str] = {}
    for rule in network_rules(policy):
        opened = beyond_ssh(rule.ports)
        if rule.origin in found or not opened:
            continue
        selection = resolver.resolve_all(rule.dst)
        named = [
            (worker, why) for worker in workers if (why := worker.named_by(selection, tailnet)) is not None
        ]
        if named:
            chosen = str(selection.addresses)
            found[rule.origin] = _message(rule, named, describe_ports(opened, ports), chosen)
    return list(found.items())


def _message(rule: Rule, named: list[tuple[Worker, str]], ports: str, chosen: str) -> str:
    """`lets <src> reach the tensor-parallel worker <name> (of <head>) through dst <dst> on <ports>; <fix>`.

    :param chosen: the addresses the rule's `dst` denotes, named when an address form is why it counts.
    """
    who = ", ".join(f"{worker.name} (of {worker.head})" for worker, _ in named)
    tag = named[0][0].tag
    dst = ", ".join(rule.dst)
    why = next((why for _, why in named if why), "")
    if why:
        dst += f" ({why})" if dst == chosen else f" ({chosen}, {why})"
    heads = ", ".join(dict.fromkeys(worker.head for worker, _ in named))
    plural = "s" if len(named) > 1 else ""
    return (
        f"lets {', '.join(rule.src)} reach the tensor-parallel worker{plural} {who} through dst {dst} on "
        f"{ports}; a worker ({tag}, {WORKER_TAG_KEY}) serves nothing itself and its Ray and NCCL ports "
        "answer without authentication, so nothing but SSH (tcp:22, from the admins) may reach it: remove "
        f"this rule, or narrow its dst or ports until it no longer reaches {tag} (the Aperture provider "
        f"of {heads} is the only way to the group's model)"
    )


# -- tailnet-worker-ssh-only -------------------------------------------------------------------------


@stack_validator()
def tailnet_worker_ssh_only_validator(stack: StackCheck) -> None:
    """Reports each rule that lets any source reach a tensor-parallel worker on a port but tcp:22."""
    context, plan = stack.context, stack.context.plan
    config = context.config
    groups = tensor_parallel_groups(config.hosts) if config is not None else []
    tag = plan.worker_tag
    if tag is None or not groups:
        return
    workers = workers_of(groups, tag, stack.args.resources)
    for acl, policy in tailnet_policies(stack):
        for where, text in worker_findings(policy, workers, plan.model_ports, str(context.network)):
            stack.report(acl, where, text, uses_config=True)


# -- the policies: name, description, validator --------------------------------------------------

tailnet_worker_ssh_only = StackValidationPolicy(
    "tailnet-worker-ssh-only",
    (
        "Prohibits any rule of the tailnet policy file that lets any source reach a tensor-parallel "
        "worker (sovereign-ai:hosts[].tensorParallel.workers, tagged sovereign-ai:tailnet.workerTag) on "
        "a port other than tcp:22: a worker serves nothing itself, and its Ray and NCCL ports have no "
        "authentication."
    ),
    tailnet_worker_ssh_only_validator,
)


POLICIES = [tailnet_worker_ssh_only]
"""The tensor-parallel guardrails, in the order the pack lists them."""
