"""Findings that mean public or over-broad exposure of the GPU servers in a policy file.

Pure module; the policy pack reports these. Each `Exposure` names a kebab-case `rule`, `where` in
the policy file it is (`grants[2]`, `nodeAttrs[0]`, `tagOwners["tag:gpu"]`) and a message that says
what to change. Rules are read by `tailnet_policy.reachability` and their selectors resolved by
`tailnet_policy.selectors`, as for `can_reach`; `policies.gpu_servers` says which selections can name
a GPU server (by tag, `*`, `autogroup:tagged`, or an address form containing its address) and which
sources are only the gateway or only the admins (by name, group membership or address).

What cannot be decided is a finding too (`tailnet-policy-checkable`), never "no match": a rule that
opens a model port or tcp:22 to a destination with an unknown selector (`svc:`, an undefined group,
host or ipset, an unmodelled autogroup), or that names a GPU server for a source that cannot be
resolved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from policies.gpu_servers import Allowed, GpuServers, Naming
from tailnet_policy.policy_file import PolicyFile
from tailnet_policy.reachability import Evaluator, Rule
from tailnet_policy.selectors import INTERNET, WILDCARDS, Selection

SSH_PORT = 22
FIX_MODEL_PORT = "remove the other sources from src: model users reach the model through the gateway"
FIX_SSH = "remove them from src, or list them in sovereign-ai:tailnet.admins"
FIX_TAG_OWNERS = "list only the admins (sovereign-ai:tailnet.admins) as its owners"
FIX_CHECKABLE = (
    "name destinations by tag, hosts alias, IP, CIDR or range, define every group, host and ipset "
    "the rule uses, and avoid the constructs listed, so that the guardrails can check it"
)
CHECKABLE = "tailnet-policy-checkable"


@dataclass(frozen=True)
class Exposure:
    """One finding: which rule of the guardrails, where in the policy file, and what to do."""

    rule: str
    where: str
    message: str
    by_address: bool = False
    """True when the finding depends on the GPU servers' addresses (only an address form names one)."""

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def exposures(
    policy: PolicyFile,
    gpu_tag: str,
    gateway: str,
    model_ports: Iterable[int],
    admins: Iterable[str],
    servers: GpuServers | None = None,
    gateway_address: str | None = None,
) -> list[Exposure]:
    """Every finding, in policy-file order within each kind.

    :param gpu_tag: the tag the GPU servers carry, e.g. `tag:gpu` (messages name the servers so).
    :param gateway: the gateway's selector (its tag or hosts alias): the only allowed source of
        traffic to a model port.
    :param model_ports: the vLLM ports.
    :param admins: the logins and groups allowed to own the GPU tag and reach SSH.
    :param servers: the GPU servers' tags and addresses; default: tagged `gpu_tag`, address unknown
        anywhere in Tailscale's default range.
    :param gateway_address: the gateway's tailnet address, when the config gives it.
    """
    ports = sorted(set(model_ports))
    admin_list = list(admins)
    admin_set = set(admin_list) | {"autogroup:admin"}
    servers = servers or GpuServers(gpu_tag, frozenset({gpu_tag}))
    # One evaluator (and one pass over the rules' parsing) serves every kind of finding.
    evaluator = Evaluator(policy)
    judge = _Judge(evaluator, servers, _gateway(evaluator, gateway, gateway_address))
    admitted = _admins(evaluator, admin_list)
    found: list[Exposure] = []
    found += _funnel(policy)
    found += judge.wide_sources(ports)
    found += judge.sources(ports, gateway, judge.gateway, "tailnet-model-port-gateway-only", _model_text)
    found += judge.sources([SSH_PORT], None, admitted, "tailnet-ssh-admins-only", _ssh_text)
    found += judge.tailscale_ssh(admitted)
    found += judge.checkable(ports)
    found += judge.internet()
    found += _tag_owners(policy, gpu_tag, admin_set)
    # An acl with several `dst` entries is several rules with one origin: report it once per kind.
    first: dict[tuple[str, str], Exposure] = {}
    for finding in found:
        first.setdefault((finding.rule, finding.where), finding)
    return list(first.values())


def _gateway(evaluator: Evaluator, gateway: str, address: str | None) -> Allowed:
    selection = evaluator.resolver.resolve(gateway)
    extra = Selection() if address is None else evaluator.resolver.resolve(address)
    return Allowed(tags=selection.tags, addresses=selection.addresses | extra.addresses)


def _admins(evaluator: Evaluator, admins: list[str]) -> Allowed:
    selection = evaluator.selection(
        a for a in admins if not a.startswith("group:") or a in evaluator.policy.groups
    )
    return Allowed(
        logins=selection.logins,
        tags=selection.tags,
        autogroups=selection.autogroups | {"autogroup:admin"},
        addresses=selection.addresses,
    )


def _model_text(others: str, name: str, hit: list[int], gateway: str | None) -> str:
    return (
        f"lets {others} reach {name} on the model port tcp:{', tcp:'.join(map(str, hit))}, bypassing "
        f"the gateway; only {gateway} may reach it; {FIX_MODEL_PORT}"
    )


def _ssh_text(others: str, name: str, hit: list[int], gateway: str | None) -> str:
    del hit, gateway
    return f"lets {others} reach {name} on tcp:22; only admins may; {FIX_SSH}"


class _Judge:
    """The rule-by-rule questions, over one evaluator and one description of the GPU servers."""

    def __init__(self, evaluator: Evaluator, servers: GpuServers, gateway: Allowed) -> None:
        self.evaluator = evaluator
        self.servers = servers
        self.gateway = gateway

    def naming(self, selectors: Iterable[str]) -> Naming | None:
        return self.servers.named_by(self.evaluator.selection(selectors))

    def hits(self, rule: Rule, ports: list[int]) -> tuple[Naming | None, list[int]]:
        hit = [p for p in ports if any(r.covers("tcp", p) for r in rule.ports)]
        return (self.naming(rule.dst) if hit else None), hit

    def target(self, naming: Naming) -> str:
        if naming.detail:
            return f"{self.servers.name} (dst {naming.detail})"
        return naming.how if naming.how.startswith("tag:") else self.servers.name

    def wide_sources(self, ports: list[int]) -> list[Exposure]:
        found = []
        for rule in self.evaluator.rules:
            wide = [s for s in rule.src if s in WILDCARDS]
            naming, hit = self.hits(rule, [*ports, SSH_PORT]) if wide else (None, [])
            if naming is not None:
                found.append(
                    Exposure(
                        "tailnet-no-wide-source",
                        rule.origin,
                        f"src {', '.join(wide)} reaches {self.target(naming)} on "
                        f"tcp:{', tcp:'.join(map(str, hit))}; name the gateway (model port) or the admins "
                        "(SSH) instead",
                        naming.by_address,
                    )
                )
        return found

    def sources(
        self, ports: list[int], gateway: str | None, allowed: Allowed, kind: str, text: Any
    ) -> list[Exposure]:
        found = []
        for rule in self.evaluator.rules:
            naming, hit = self.hits(rule, ports)
            if naming is None:
                continue
            others = [
                s for s in rule.src if s != gateway and not allowed.admits(self.evaluator.resolver.resolve(s))
            ]
            if others:
                message = text(", ".join(others), self.target(naming), hit, gateway)
                found.append(Exposure(kind, rule.origin, message, naming.by_address))
        return found

    def tailscale_ssh(self, allowed: Allowed) -> list[Exposure]:
        found = []
        for index, ssh in enumerate(self.evaluator.policy.ssh):
            naming = self.naming(ssh.dst)
            others = [s for s in ssh.src if not allowed.admits(self.evaluator.resolver.resolve(s))]
            if naming is not None and others:
                found.append(
                    Exposure(
                        "tailnet-ssh-admins-only",
                        f"ssh[{index}]",
                        f"Tailscale SSH from {', '.join(others)} into {self.target(naming)}; only admins "
                        f"may; {FIX_SSH}",
                        naming.by_address,
                    )
                )
        return found

    def checkable(self, ports: list[int]) -> list[Exposure]:
        entries = [
            (
                rule.origin,
                rule.src,
                rule.dst,
                [p for p in [*ports, SSH_PORT] if any(r.covers("tcp", p) for r in rule.ports)],
            )
            for rule in self.evaluator.rules
        ]
        entries += [
            (f"ssh[{i}]", ssh.src, ssh.dst, [SSH_PORT]) for i, ssh in enumerate(self.evaluator.policy.ssh)
        ]
        found = []
        for origin, src, dst, hit in entries:
            if not hit:
                continue
            destination = self.evaluator.selection(dst)
            naming = self.servers.named_by(destination)
            reasons = list(destination.unknown)
            if naming is not None:
                reasons += [u for u in self.evaluator.selection(src).unknown if u not in reasons]
            if reasons:
                found.append(
                    Exposure(
                        CHECKABLE,
                        origin,
                        f"cannot be checked ({'; '.join(reasons)}), so the guardrails cannot tell who "
                        f"it lets reach {self.servers.name} on tcp:{', tcp:'.join(map(str, hit))}; "
                        f"{FIX_CHECKABLE}",
                        naming is not None and naming.by_address,
                    )
                )
        return found

    def internet(self) -> list[Exposure]:
        found = []
        for rule in self.evaluator.rules:
            if INTERNET in rule.dst and self.naming(rule.src) is not None:
                found.append(
                    Exposure(
                        "tailnet-no-exit-node",
                        rule.origin,
                        f"lets {self.servers.name} use exit nodes (autogroup:internet); GPU servers need "
                        "no internet route through the tailnet: remove it",
                    )
                )
        approvers = self.evaluator.policy.extra.get("autoApprovers")
        if isinstance(approvers, dict) and self.servers.tags & set(approvers.get("exitNode") or []):
            found.append(
                Exposure(
                    "tailnet-no-exit-node",
                    "autoApprovers.exitNode",
                    f"auto-approves {self.servers.name} as an exit node; remove it",
                )
            )
        return found


def _funnel(policy: PolicyFile) -> list[Exposure]:
    return [
        Exposure(
            "tailnet-no-funnel",
            f"nodeAttrs[{index}]",
            f"grants Funnel to {', '.join(attr.target)}, which publishes services on the public "
            'internet; remove "funnel" from attr',
        )
        for index, attr in enumerate(policy.node_attrs)
        if "funnel" in attr.attr
    ]


def _tag_owners(policy: PolicyFile, gpu_tag: str, admins: set[str]) -> list[Exposure]:
    owners = policy.tag_owners.get(gpu_tag)
    if owners is None:
        return []
    wider = [o for o in owners if o not in admins]
    if not wider:
        return []
    return [
        Exposure(
            "tailnet-gpu-tag-admins-only",
            f'tagOwners["{gpu_tag}"]',
            f"{', '.join(wider)} may tag a device {gpu_tag} and so receive model traffic; "
            f"only admins may own it; {FIX_TAG_OWNERS}",
        )
    ]
