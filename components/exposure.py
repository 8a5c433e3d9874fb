"""Findings that mean public or over-broad exposure of the GPU servers in a policy file.

Pure module; the policy pack reports these. Each `Exposure` names a kebab-case `rule`, `where` in
the policy file it is (`grants[2]`, `nodeAttrs[0]`, `tagOwners["tag:gpu"]`) and a message that says
what to change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from components.policy_file import PolicyFile
from components.reachability import INTERNET, Evaluator, Rule

SSH_PORT = 22
FIX_MODEL_PORT = "remove the other sources from src: model users reach the model through the gateway"
FIX_SSH = "remove them from src, or list them in sovereign-ai:tailnet.admins"
FIX_TAG_OWNERS = "list only the admins (sovereign-ai:tailnet.admins) as its owners"


@dataclass(frozen=True)
class Exposure:
    """One finding: which rule of the guardrails, where in the policy file, and what to do."""

    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def exposures(
    policy: PolicyFile,
    gpu_tag: str,
    gateway: str,
    model_ports: Iterable[int],
    admins: Iterable[str],
) -> list[Exposure]:
    """Every finding, in policy-file order within each kind.

    :param gpu_tag: the tag the GPU servers carry, e.g. `tag:gpu`.
    :param gateway: the gateway's selector (its tag or hosts alias): the only allowed source of
        traffic to a model port.
    :param model_ports: the vLLM ports.
    :param admins: the logins and groups allowed to own the GPU tag and reach SSH.
    """
    ports = sorted(set(model_ports))
    admin_set = set(admins) | {"autogroup:admin"}
    found: list[Exposure] = []
    found += _funnel(policy)
    # One evaluator (and one pass over the rules' parsing) serves every kind of finding.
    evaluator = Evaluator(policy)
    found += _wide_sources(evaluator, gpu_tag, ports)
    found += _model_port(evaluator, gpu_tag, gateway, ports)
    found += _ssh(evaluator, gpu_tag, admin_set)
    found += _internet(evaluator, gpu_tag)
    found += _tag_owners(policy, gpu_tag, admin_set)
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


def _reaches(evaluator: Evaluator, rule: Rule, gpu_tag: str, port: int) -> bool:
    return any(p.covers("tcp", port) for p in rule.ports) and any(
        evaluator.matches_dst(d, gpu_tag, "") for d in rule.dst
    )


def _wide_sources(evaluator: Evaluator, gpu_tag: str, ports: list[int]) -> list[Exposure]:
    found = []
    for rule in evaluator.rules:
        wide = [s for s in rule.src if s in ("*", "autogroup:danger-all")]
        if not wide:
            continue
        hit = [p for p in [*ports, SSH_PORT] if _reaches(evaluator, rule, gpu_tag, p)]
        if hit:
            found.append(
                Exposure(
                    "tailnet-no-wide-source",
                    rule.origin,
                    f"src {', '.join(wide)} reaches {gpu_tag} on tcp:{', tcp:'.join(map(str, hit))}; "
                    "name the gateway (model port) or the admins (SSH) instead",
                )
            )
    return found


def _model_port(evaluator: Evaluator, gpu_tag: str, gateway: str, ports: list[int]) -> list[Exposure]:
    found = []
    for rule in evaluator.rules:
        others = [s for s in rule.src if s != gateway]
        hit = [p for p in ports if _reaches(evaluator, rule, gpu_tag, p)]
        if others and hit:
            found.append(
                Exposure(
                    "tailnet-model-port-gateway-only",
                    rule.origin,
                    f"lets {', '.join(others)} reach {gpu_tag} on the model port "
                    f"tcp:{', tcp:'.join(map(str, hit))}, bypassing the gateway; "
                    f"only {gateway} may reach it; {FIX_MODEL_PORT}",
                )
            )
    return found


def _ssh(evaluator: Evaluator, gpu_tag: str, admins: set[str]) -> list[Exposure]:
    found = []
    for rule in evaluator.rules:
        others = [s for s in rule.src if s not in admins]
        if others and _reaches(evaluator, rule, gpu_tag, SSH_PORT):
            found.append(
                Exposure(
                    "tailnet-ssh-admins-only",
                    rule.origin,
                    f"lets {', '.join(others)} reach {gpu_tag} on tcp:22; only admins may; {FIX_SSH}",
                )
            )
    for index, ssh in enumerate(evaluator.policy.ssh):
        others = [s for s in ssh.src if s not in admins]
        if others and any(evaluator.matches_dst(d, gpu_tag, "") for d in ssh.dst):
            found.append(
                Exposure(
                    "tailnet-ssh-admins-only",
                    f"ssh[{index}]",
                    f"Tailscale SSH from {', '.join(others)} into {gpu_tag}; only admins may; {FIX_SSH}",
                )
            )
    return found


def _internet(evaluator: Evaluator, gpu_tag: str) -> list[Exposure]:
    found = []
    for rule in evaluator.rules:
        if INTERNET in rule.dst and any(evaluator.matches_src(s, gpu_tag) for s in rule.src):
            found.append(
                Exposure(
                    "tailnet-no-exit-node",
                    rule.origin,
                    f"lets {gpu_tag} use exit nodes (autogroup:internet); GPU servers need no "
                    "internet route through the tailnet: remove it",
                )
            )
    approvers = evaluator.policy.extra.get("autoApprovers")
    if isinstance(approvers, dict) and gpu_tag in (approvers.get("exitNode") or []):
        found.append(
            Exposure(
                "tailnet-no-exit-node",
                "autoApprovers.exitNode",
                f"auto-approves {gpu_tag} as an exit node; remove it",
            )
        )
    return found


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
