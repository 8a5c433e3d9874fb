"""Findings that mean public or over-broad exposure of the GPU servers in a policy file.

Pure module; the policy pack reports these. Each `Exposure` names a kebab-case `rule`, `where` in
the policy file it is (`grants[2]`, `nodeAttrs[0]`, `tagOwners["tag:gpu"]`) and a message that says
what to change. Rules are read by `tailnet_policy.reachability` and their selectors resolved by
`tailnet_policy.selectors`, as for `can_reach`; `policies.gpu_servers` says which selections can name
a GPU server (by tag, `*`, `autogroup:tagged`, or an address form containing its address) and which
sources are only the gateway or only the admins (by name, group membership or address).

Each kind of finding is one row of `EXPOSURE_RULES`: the tailnet guardrail that reports it (its
name, description and what its validator reports) and the fix every finding of that kind ends with.
`policies.tailnet` turns each row into a policy.

What cannot be decided is a finding too (`tailnet-policy-checkable`), never "no match": a rule that
opens a model port or tcp:22 to a destination with an unknown selector (`svc:`, an undefined group,
host or ipset, an unmodelled autogroup), or that names a GPU server for a source that cannot be
resolved; and, anywhere in the file, a key the evaluator does not know or one written twice in
different letter cases (`tailnet_policy.keys`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from policies.gpu_servers import Allowed, GpuServers, Naming
from tailnet_policy.policy_file import PolicyFile
from tailnet_policy.reachability import Evaluator, Rule
from tailnet_policy.selectors import INTERNET, WILDCARDS, Selection

SSH_PORT = 22


@dataclass(frozen=True)
class ExposureRule:
    """One kind of finding, and the tailnet guardrail that reports it: a row of `EXPOSURE_RULES`."""

    name: str
    """The guardrail's name, and the `Exposure.rule` of each finding of this kind."""

    description: str
    """The guardrail's description."""

    reports: str
    """What the guardrail's validator reports (its docstring)."""

    fix: str
    """How to fix a finding of this kind; its message ends with it."""

    def finding(self, where: str, problem: str, by_address: bool = False) -> Exposure:
        """A finding of this kind at `where`: `<problem>; <fix>`."""
        return Exposure(self.name, where, f"{problem}; {self.fix}", by_address)


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


# The table: name, description, what the validator reports, fix.

CHECKABLE = ExposureRule(
    "tailnet-policy-checkable",
    (
        "Requires every rule that opens the model port or SSH to use selectors the guardrails can resolve "
        "(defined groups, hosts and ipsets; no Tailscale Services or unmodelled autogroups), and every "
        "key of the policy file to be one they know, written once in any letter case, so that it can be "
        "checked."
    ),
    (
        "Reports each rule that opens a model port or tcp:22 through a selector the guardrails cannot "
        "resolve (so they cannot tell whether it reaches a GPU server, or from whom), and each key they "
        "do not know."
    ),
    (
        "name destinations by tag, hosts alias, IP, CIDR or range, define every group, host and ipset "
        "the rule uses, and avoid the constructs listed, so that the guardrails can check it"
    ),
)
FUNNEL = ExposureRule(
    "tailnet-no-funnel",
    (
        'Prohibits Funnel (nodeAttrs "funnel") in the tailnet policy file: it publishes tailnet '
        "services on the internet."
    ),
    "Reports each nodeAttrs entry that grants Funnel.",
    'remove "funnel" from attr',
)
WIDE_SOURCE = ExposureRule(
    "tailnet-no-wide-source",
    "Prohibits * and autogroup:danger-all as sources that reach the GPU servers' model or SSH port.",
    "Reports each rule whose source `*` or `autogroup:danger-all` reaches a GPU server's model or SSH port.",
    "name the gateway (model port) or the admins (SSH) instead",
)
EXIT_NODE = ExposureRule(
    "tailnet-no-exit-node",
    "Prohibits exit-node and internet (autogroup:internet) access for the GPU servers.",
    "Reports each rule that lets the GPU servers use exit nodes, and exit-node auto-approval.",
    "remove it",
)
MODEL_PORT = ExposureRule(
    "tailnet-model-port-gateway-only",
    "Prohibits any source but the gateway from reaching the model port of the GPU servers.",
    "Reports each rule that lets anyone but the gateway reach a model port.",
    "remove the other sources from src: model users reach the model through the gateway",
)
SSH_ADMINS = ExposureRule(
    "tailnet-ssh-admins-only",
    (
        "Prohibits anyone but the admins from reaching SSH (tcp:22 or Tailscale SSH) on the GPU servers "
        "(the deploy tag, sovereign-ai:tailnet.deployTag, may reach tcp:22)."
    ),
    "Reports each rule or Tailscale SSH rule that lets a non-admin reach SSH on a GPU server.",
    "remove them from src, or list them in sovereign-ai:tailnet.admins",
)
GPU_TAG_OWNERS = ExposureRule(
    "tailnet-gpu-tag-admins-only",
    "Prohibits anyone but the admins from owning the GPU servers' tag (tagOwners).",
    "Reports a GPU tag that non-admins may apply (and so receive model traffic).",
    "list only the admins (sovereign-ai:tailnet.admins) as its owners",
)

EXPOSURE_RULES = (CHECKABLE, FUNNEL, WIDE_SOURCE, EXIT_NODE, MODEL_PORT, SSH_ADMINS, GPU_TAG_OWNERS)
"""Every kind of finding, in the order the pack lists their guardrails."""


def exposures(
    policy: PolicyFile,
    gpu_tag: str,
    gateway: str,
    model_ports: Iterable[int],
    admins: Iterable[str],
    servers: GpuServers | None = None,
    gateway_address: str | None = None,
    deploy_tag: str | None = None,
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
    :param deploy_tag: the deploying machines' tag, allowed on tcp:22 besides the admins (not
        Tailscale SSH, not the GPU tag's owners).
    """
    ports = sorted(set(model_ports))
    admin_list = list(admins)
    admin_set = set(admin_list) | {"autogroup:admin"}
    servers = servers or GpuServers(gpu_tag, frozenset({gpu_tag}))
    # One evaluator (and one pass over the rules' parsing) serves every kind of finding.
    evaluator = Evaluator(policy)
    judge = _Judge(evaluator, servers, _gateway(evaluator, gateway, gateway_address))
    admitted = _admins(evaluator, admin_list)
    ssh_sources = admitted if deploy_tag is None else replace(admitted, tags=admitted.tags | {deploy_tag})

    def model_port(hit: list[int]) -> str:
        return f"the model port {_tcp(hit)}, bypassing the gateway; only {gateway} may reach it"

    found: list[Exposure] = []
    found += _funnel(policy)
    found += judge.wide_sources(ports)
    found += judge.sources(ports, gateway, judge.gateway, MODEL_PORT, model_port)
    found += judge.sources([SSH_PORT], None, ssh_sources, SSH_ADMINS, lambda hit: "tcp:22; only admins may")
    found += judge.tailscale_ssh(admitted)
    found += judge.checkable(ports)
    found += _unknown_keys(policy)
    found += judge.internet()
    found += _tag_owners(policy, gpu_tag, admin_set)
    # An acl with several `dst` entries is several rules with one origin: report it once per kind.
    first: dict[tuple[str, str], Exposure] = {}
    for finding in found:
        first.setdefault((finding.rule, finding.where), finding)
    return list(first.values())


def _tcp(ports: list[int]) -> str:
    """`tcp:8000, tcp:22`: how messages list ports."""
    return ", ".join(f"tcp:{port}" for port in ports)


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

    def others(self, src: Iterable[str], allowed: Allowed, gateway: str | None = None) -> str:
        """The sources `allowed` does not admit (nor the gateway's own selector), as a message lists them."""
        resolve = self.evaluator.resolver.resolve
        return ", ".join(s for s in src if s != gateway and not allowed.admits(resolve(s)))

    def wide_sources(self, ports: list[int]) -> list[Exposure]:
        found = []
        for rule in self.evaluator.rules:
            wide = [s for s in rule.src if s in WILDCARDS]
            naming, hit = self.hits(rule, [*ports, SSH_PORT]) if wide else (None, [])
            if naming is not None:
                problem = f"src {', '.join(wide)} reaches {self.target(naming)} on {_tcp(hit)}"
                found.append(WIDE_SOURCE.finding(rule.origin, problem, naming.by_address))
        return found

    def sources(
        self,
        ports: list[int],
        gateway: str | None,
        allowed: Allowed,
        kind: ExposureRule,
        reach: Callable[[list[int]], str],
    ) -> list[Exposure]:
        """Rules that let a source `allowed` does not admit reach a GPU server on one of `ports`.

        :param reach: what is reached, worded for the ports hit (`the model port tcp:8000, ...`).
        """
        found = []
        for rule in self.evaluator.rules:
            naming, hit = self.hits(rule, ports)
            if naming is None:
                continue
            others = self.others(rule.src, allowed, gateway)
            if others:
                problem = f"lets {others} reach {self.target(naming)} on {reach(hit)}"
                found.append(kind.finding(rule.origin, problem, naming.by_address))
        return found

    def tailscale_ssh(self, allowed: Allowed) -> list[Exposure]:
        found = []
        for index, ssh in enumerate(self.evaluator.policy.ssh):
            naming = self.naming(ssh.dst)
            others = self.others(ssh.src, allowed)
            if naming is not None and others:
                problem = f"Tailscale SSH from {others} into {self.target(naming)}; only admins may"
                found.append(SSH_ADMINS.finding(f"ssh[{index}]", problem, naming.by_address))
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
                problem = (
                    f"cannot be checked ({'; '.join(reasons)}), so the guardrails cannot tell who it lets "
                    f"reach {self.servers.name} on {_tcp(hit)}"
                )
                found.append(CHECKABLE.finding(origin, problem, naming is not None and naming.by_address))
        return found

    def internet(self) -> list[Exposure]:
        name = self.servers.name
        found = [
            Exposure(
                EXIT_NODE.name,
                rule.origin,
                f"lets {name} use exit nodes (autogroup:internet); GPU servers need no internet route "
                f"through the tailnet: {EXIT_NODE.fix}",
            )
            for rule in self.evaluator.rules
            if INTERNET in rule.dst and self.naming(rule.src) is not None
        ]
        approvers = self.evaluator.policy.extra.get("autoApprovers")
        if isinstance(approvers, dict) and self.servers.tags & set(approvers.get("exitNode") or []):
            found.append(EXIT_NODE.finding("autoApprovers.exitNode", f"auto-approves {name} as an exit node"))
        return found


def _unknown_keys(policy: PolicyFile) -> list[Exposure]:
    """Keys Tailscale may read but the evaluator does not know (`PolicyFile.key_problems`): what they
    open cannot be told, so each is undecidable, named with its key; one finding per place."""
    found: dict[str, list[str]] = {}
    for problem in policy.key_problems:
        found.setdefault(problem.where, []).append(f'key "{problem.key}" {problem.why}')
    return [
        Exposure(
            CHECKABLE.name,
            where,
            f"{'; '.join(keys)}, so the guardrails cannot tell what Tailscale makes of it (it matches keys "
            "in any letter case); write the documented key once, or remove it",
        )
        for where, keys in found.items()
    ]


def _funnel(policy: PolicyFile) -> list[Exposure]:
    return [
        FUNNEL.finding(
            f"nodeAttrs[{index}]",
            f"grants Funnel to {', '.join(attr.target)}, which publishes services on the public internet",
        )
        for index, attr in enumerate(policy.node_attrs)
        if "funnel" in attr.attr
    ]


def _tag_owners(policy: PolicyFile, gpu_tag: str, admins: set[str]) -> list[Exposure]:
    wider = [o for o in policy.tag_owners.get(gpu_tag, ()) if o not in admins]
    if not wider:
        return []
    problem = (
        f"{', '.join(wider)} may tag a device {gpu_tag} and so receive model traffic; only admins may own it"
    )
    return [GPU_TAG_OWNERS.finding(f'tagOwners["{gpu_tag}"]', problem)]
