"""What each identity gets, on the tailnet and in Aperture, decided in one place; the policy file.

Pure module. `PolicyPlan.from_config(config)` is the plan: the tailnet grants and tests below, and
the Aperture grants (the configured ones, or the default: admins get the admin role on every model,
model users the user role on the hosts' models). Aperture matches a `group:` source only where the
gateway may see groups (config/grant_groups.py), so the grants name each group's members from
`tailnet.groups`; with `gateway.visibleGroups: true` they keep the groups, and the policy gives the
gateway a `tailscale.com/visible-groups` node attribute listing exactly those groups.
Each grant's budget (the quota bucket it is charged against) is `PolicyPlan.buckets()`
(`config.quota_buckets`), and the identities that deploy, who must keep the Aperture admin role,
are `PolicyPlan.deployers()`.
`policy_for(config, base_text)` returns the policy the program writes with `tailscale.Acl`: the
user's base policy (kept whole, in its order) plus the generated groups, tagOwners, hosts alias,
grants, node attribute and tests. Access granted, nothing more (docs/architecture.md §4):
- model users -> gateway on tcp:80 and tcp:443;
- the gateway -> GPU servers on each model port;
- admins -> GPU servers on tcp:22;
- the deploy tag (`tailnet.deployTag`, owned by the admins) -> GPU servers on tcp:22 and the gateway
  on tcp:80 and tcp:443, with the Aperture admin role and no model;
- with tensor-parallel workers (`hosts[].tensorParallel.workers`, tagged `tailnet.workerTag`, owned
  by the admins): admins, and the deploy tag, -> workers on tcp:22, and nothing else (a worker serves
  nothing; its group's head is the Aperture provider). Without workers none of this is generated.
The generated `tests` pin the invariant; Tailscale runs them on every save, so a later hand edit
that opens a bypass is refused by Tailscale itself. `policy_for` runs them too, before deploying,
and refuses a base policy that already breaks them, naming the rule that does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from config.fleet import serving_hosts, worker_names
from config.gateway import ApertureGrant, Budget
from config.grant_groups import expand_groups, group_sources
from config.model import StackConfig
from config.quota_buckets import Bucket, grant_buckets
from tailnet_policy.policy_file import (
    GENERATED_HEADER,
    VISIBLE_GROUPS,
    Grant,
    NodeAttr,
    PolicyFile,
    PolicyTest,
    parse,
)
from tailnet_policy.reachability import Directory, Evaluator, run_tests, split_destination

GATEWAY_ALIAS = "sovereign-gateway"
"""`hosts` alias for the gateway when it is identified by address rather than by tag."""

GATEWAY_PORTS = (80, 443)
SSH_PORT = 22


class PolicyConflict(ValueError):
    """The base policy and the generated rules disagree; the message names both places."""


@dataclass(frozen=True)
class PolicyPlan:
    """What the policy must guarantee, derived from the config; shared by generator and guardrails."""

    gpu_tag: str
    gateway: str
    """The gateway's selector: its tag, or the hosts alias of its address."""

    gateway_address: str | None
    admins: tuple[str, ...]
    model_users: tuple[str, ...]
    groups: Mapping[str, tuple[str, ...]]
    model_ports: tuple[int, ...]
    aperture_grants: tuple[ApertureGrant, ...] = ()
    """The whole Aperture grants list the gateway gets: `gateway.grants`, else the default; each
    `group:` written as its members unless `visible_groups`."""

    visible_groups: bool = False
    """`gateway.visibleGroups`: the grants keep their groups, and the gateway gets the node attribute."""

    deploy_tag: str | None = None
    """`tailnet.deployTag`: the deploying machines' tag (SSH to the GPU servers, the gateway, Aperture admin)."""

    budget: Budget | None = None
    """`gateway.quotas`: the budget of every Aperture grant that gives models and has none of its own."""

    worker_tag: str | None = None
    """`tailnet.workerTag` when the hosts have tensor-parallel workers (each joins the tailnet with it),
    else None: the tag reaches nothing and is reached on tcp:22 only, by the admins and the deploy tag."""

    @classmethod
    def from_config(cls, config: StackConfig) -> PolicyPlan:
        tailnet = config.tailnet
        gateway = tailnet.gateway_tag or GATEWAY_ALIAS
        serving = serving_hosts(config.hosts)
        return cls(
            gpu_tag=tailnet.gpu_tag,
            gateway=gateway,
            gateway_address=tailnet.gateway_address,
            admins=tuple(tailnet.admins),
            model_users=tuple(tailnet.model_users),
            groups=MappingProxyType({k: tuple(v) for k, v in tailnet.groups.items()}),
            model_ports=tuple(sorted({h.port for h in serving})),
            aperture_grants=tuple(_aperture_grants(config)),
            visible_groups=config.gateway.visible_groups,
            deploy_tag=tailnet.deploy_tag,
            budget=config.gateway.quotas,
            worker_tag=tailnet.worker_tag if worker_names(config.hosts) else None,
        )

    def logins(self, entries: Iterable[str], groups: Mapping[str, tuple[str, ...]]) -> list[str]:
        """Concrete logins behind logins and groups (autogroups have no fixed members)."""
        found: list[str] = []
        for entry in entries:
            members = groups.get(entry, ()) if entry.startswith("group:") else (entry,)
            for member in members:
                if "@" in member and member not in found:
                    found.append(member)
        return found

    def grants(self) -> list[Grant]:
        ports = tuple(f"tcp:{p}" for p in self.model_ports)
        return [
            Grant(
                src=self.model_users,
                dst=(self.gateway,),
                ip=tuple(f"tcp:{p}" for p in GATEWAY_PORTS),
            ),
            Grant(src=(self.gateway,), dst=(self.gpu_tag,), ip=ports),
            Grant(src=self.admins, dst=(self.gpu_tag,), ip=(f"tcp:{SSH_PORT}",)),
            *self.deploy_grants(),
            *self.worker_grants(),
        ]

    def deploy_grants(self) -> list[Grant]:
        """The deploy tag -> GPU servers on tcp:22 and the gateway on tcp:80/443 (none without one)."""
        if self.deploy_tag is None:
            return []
        return [
            Grant(src=(self.deploy_tag,), dst=(self.gpu_tag,), ip=(f"tcp:{SSH_PORT}",)),
            Grant(src=(self.deploy_tag,), dst=(self.gateway,), ip=tuple(f"tcp:{p}" for p in GATEWAY_PORTS)),
        ]

    def worker_grants(self) -> list[Grant]:
        """Admins, and the deploy tag, -> the tensor-parallel workers on tcp:22 (none without workers):
        never a model port, since a worker serves nothing."""
        if self.worker_tag is None:
            return []
        ssh = (f"tcp:{SSH_PORT}",)
        grants = [Grant(src=self.admins, dst=(self.worker_tag,), ip=ssh)]
        if self.deploy_tag is not None:
            grants.append(Grant(src=(self.deploy_tag,), dst=(self.worker_tag,), ip=ssh))
        return grants

    def tests(self, groups: Mapping[str, tuple[str, ...]]) -> list[PolicyTest]:
        """accept gateway -> model ports; each model user: deny model ports, accept the gateway;
        each admin: accept SSH; each model user who is not an admin: deny SSH; the deploy tag:
        accept SSH and the gateway, deny model ports. With tensor-parallel workers, the same
        questions about the worker tag: the gateway and every model user are denied its model ports,
        admins and the deploy tag accept its SSH, model users who are not admins are denied it."""
        gpu = [f"{self.gpu_tag}:{p}" for p in self.model_ports]
        worker = [] if self.worker_tag is None else [f"{self.worker_tag}:{p}" for p in self.model_ports]
        worker_ssh = [] if self.worker_tag is None else [f"{self.worker_tag}:{SSH_PORT}"]
        tests = [PolicyTest(src=self.gateway_identity, accept=tuple(gpu), deny=tuple(worker))]
        admins = self.logins(self.admins, groups)
        for user in self.logins(self.model_users, groups):
            deny = [*gpu, *worker]
            if user not in admins:
                deny += [f"{self.gpu_tag}:{SSH_PORT}", *worker_ssh]
            accept = tuple(f"{self.gateway}:{p}" for p in GATEWAY_PORTS)
            tests.append(PolicyTest(src=user, accept=accept, deny=tuple(deny)))
        for admin in admins:
            tests.append(PolicyTest(src=admin, accept=(f"{self.gpu_tag}:{SSH_PORT}", *worker_ssh)))
        if self.deploy_tag is not None:
            accept = (
                f"{self.gpu_tag}:{SSH_PORT}",
                *(f"{self.gateway}:{p}" for p in GATEWAY_PORTS),
                *worker_ssh,
            )
            tests.append(PolicyTest(src=self.deploy_tag, accept=accept, deny=(*gpu, *worker)))
        return tests

    def buckets(self) -> list[Bucket | None]:
        """For each of `aperture_grants`, the quota bucket it is charged against (`config.quota_buckets`)."""
        return grant_buckets(self.aperture_grants, self.budget)

    def deployers(self) -> list[str]:
        """The identities that deploy, as Aperture sees them: each admin login (groups expanded) and
        the deploy tag. Each must keep the Aperture admin role, or the next deploy gets 403."""
        found = self.logins(self.admins, self.groups)
        tag = getattr(self, "deploy_tag", None)
        return [*found, tag] if tag else found

    def node_attrs(self) -> list[NodeAttr]:
        """The gateway's `tailscale.com/visible-groups` node attribute, listing the groups the
        Aperture grants use (sorted); none when the grants name no group (they are expanded)."""
        groups = group_sources(src for grant in self.aperture_grants for src in grant.src)
        if not self.visible_groups or not groups:
            return []
        app = MappingProxyType({VISIBLE_GROUPS: [{"groups": sorted(groups)}]})
        return [NodeAttr(target=(self.gateway,), app=app)]

    @property
    def gateway_identity(self) -> str:
        """The identity tests use as the gateway (a test `src` is one identity, not a group)."""
        return self.gateway


def _aperture_grants(config: StackConfig) -> list[ApertureGrant]:
    """The grants Aperture gets: groups kept where it sees them, else written as their members.

    A grant whose groups have no members matches nobody either way, so it is left out.
    """
    grants = _configured_grants(config) + _deploy_grant(config)
    if config.gateway.visible_groups:
        return grants
    groups = config.tailnet.groups
    expanded = [grant.model_copy(update={"src": expand_groups(grant.src, groups)}) for grant in grants]
    return [grant for grant in expanded if grant.src]


def _deploy_grant(config: StackConfig) -> list[ApertureGrant]:
    """The deploy tag's Aperture grant: the admin role, to write the config, and no model (the
    deploy calls none); none without a deploy tag, or when `gateway.grants` already holds it."""
    tag = config.tailnet.deploy_tag
    if tag is None:
        return []
    grant = ApertureGrant(src=[tag], role="admin")
    return [] if grant in (config.gateway.grants or ()) else [grant]


def _configured_grants(config: StackConfig) -> list[ApertureGrant]:
    """The configured Aperture grants, or the safe default: admins admin, users their models."""
    if config.gateway.grants is not None:
        return list(config.gateway.grants)
    serving = serving_hosts(config.hosts)
    models = "**" if len(serving) > 1 else f"{serving[0].name}/**"
    admins, users = config.tailnet.admins, config.tailnet.model_users
    return [
        ApertureGrant(src=list(admins), role="admin", models="**"),
        ApertureGrant(src=list(users), role="user", models=models),
    ]


def policy_for(
    config: StackConfig, base_text: str | None = None, base_name: str = "the base policy"
) -> PolicyFile:
    """The policy the stack declares: `base_text` (HuJSON) with the generated rules merged in.

    Raises PolicyConflict when the base defines a group, tag owner or hosts alias differently, or
    when the merged policy fails the generated tests (e.g. the base lets everyone reach the model).
    """
    plan = PolicyPlan.from_config(config)
    base = parse(base_text) if base_text and base_text.strip() else PolicyFile()
    groups = _merge_map(base.groups, plan.groups, base_name, "sovereign-ai:tailnet.groups", "groups")
    owners = {plan.gpu_tag: plan.admins}
    if plan.gateway.startswith("tag:"):
        owners[plan.gateway] = plan.admins
    if plan.deploy_tag is not None:
        owners[plan.deploy_tag] = plan.admins
    if plan.worker_tag is not None:
        owners[plan.worker_tag] = plan.admins
    tag_owners = _merge_map(base.tag_owners, owners, base_name, "sovereign-ai:tailnet.admins", "tagOwners")
    hosts: Mapping[str, str] = base.hosts
    if plan.gateway_address is not None:
        hosts = _merge_map(
            base.hosts,
            {GATEWAY_ALIAS: f"{plan.gateway_address}/32"},
            base_name,
            "sovereign-ai:tailnet.gatewayAddress",
            "hosts",
        )
    generated_tests = plan.tests(groups)
    grants = _append_new(base.grants, plan.grants())
    tests = _append_new(base.tests, generated_tests)
    changes: dict[str, Any] = {"tag_owners": tag_owners, "grants": grants, "tests": tests}
    if groups:
        changes["groups"] = groups
    if hosts:
        changes["hosts"] = hosts
    node_attrs = plan.node_attrs()
    if node_attrs:
        changes["node_attrs"] = _append_new(base.node_attrs, node_attrs)
    merged = base.with_changes(**changes)
    _check_tests(merged, generated_tests, base_name)
    return merged


def _merge_map(
    base: Mapping[str, Any],
    generated: Mapping[str, Any],
    base_name: str,
    config_name: str,
    section: str,
) -> Mapping[str, Any]:
    merged = dict(base)
    for key, value in generated.items():
        if key in merged and _normal(merged[key]) != _normal(value):
            raise PolicyConflict(
                f"{section}[{key!r}] is {_show(merged[key])} in {base_name} but {_show(value)} "
                f"from {config_name}: make them the same, or remove it from {base_name}"
            )
        merged[key] = merged.get(key, value)
    return MappingProxyType(merged)


def _normal(value: Any) -> Any:
    return tuple(sorted(value)) if isinstance(value, (list, tuple)) else value


def _show(value: Any) -> str:
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def _append_new(existing: tuple[Any, ...], generated: list[Any]) -> tuple[Any, ...]:
    """The user's entries first, untouched; generated ones after, once (merging is idempotent)."""
    return existing + tuple(entry for entry in generated if entry not in existing)


def _check_tests(policy: PolicyFile, tests: list[PolicyTest], base_name: str) -> None:
    failures = run_tests(policy, tests)
    if not failures:
        return
    evaluator = Evaluator(policy, Directory())
    lines = []
    for failure in failures:
        test = tests[failure.index]
        reason = failure.message
        for destination in test.deny:
            host, port = split_destination(destination)
            rules = evaluator.rules_allowing(test.src, host, port)
            if rules and destination in failure.message:
                reason += f" (opened by {', '.join(r.origin for r in rules)} of {base_name})"
        lines.append(f"  - generated test for {failure.src}: {reason}")
    raise PolicyConflict(
        "the merged tailnet policy breaks the stack's invariant (only the gateway reaches the "
        "model port; model users reach the gateway; only admins reach SSH):\n"
        + "\n".join(lines)
        + f"\nnarrow or remove those rules in {base_name}"
    )


TAILSCALE_DEFAULT_HEADER = "// Example/default ACLs for unrestricted connections."
"""First line of the policy file a new tailnet starts with."""


def takeover_problem(live_text: str, overwrite_existing: bool) -> str | None:
    """Why writing the policy would replace someone's policy file, or None when it is safe.

    Safe: the switch allows it, the tailnet still has Tailscale's default policy, or the live file
    is one this project wrote (it carries the generated header). Otherwise Tailscale would refuse
    the first write (412), or a later write would replace rules nobody merged into the base file.
    """
    if overwrite_existing:
        return None
    stripped = live_text.lstrip()
    if not stripped or stripped.startswith(TAILSCALE_DEFAULT_HEADER):
        return None
    if GENERATED_HEADER.splitlines()[0] in live_text:
        return None
    return (
        "the tailnet already has a policy file that is neither Tailscale's default nor one this "
        "project wrote, and sovereign-ai:tailnet.overwriteExistingPolicy is false, so the stack will "
        "not replace it (Tailscale would answer 412 Overwrite Protected). Save the current file into "
        "the repository (for example `policy/base.hujson`), point sovereign-ai:tailnet.basePolicy at "
        "it so your rules are kept, then set sovereign-ai:tailnet.overwriteExistingPolicy to true"
    )
