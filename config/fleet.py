"""More than one Spark: which hosts roll together, which serve one model together with tensor
parallelism, and the config checks that keep both safe.

Pure module (no Pulumi). Hosts that serve the same model id (`servedModelName`, else `model`) form
a group; a group of two or more with `rollingUpdate` on is updated one host at a time (the program's
side is `components/host/rollout.py`, docs/architecture.md §11). A host alone, or with
`rollingUpdate: false`, is replaced at once, as before.

A tensor-parallel group (`hosts[i].tensorParallel`, on its head) is one model split over several
DGX Sparks, one GPU each, over Ray: the head runs the Ray head and `vllm serve`, each worker a Ray
worker joined over the QSFP link. Only the head serves (it is the group's Aperture provider); a
worker serves nothing and joins the tailnet with `tailnet.workerTag`. `serving_hosts` are the hosts
that serve (every host but the workers); a group never rolls.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic.alias_generators import to_camel

from config.gateway import ApertureGrant
from config.model import HostConfig

WORKER_UNUSED_FIELDS = (
    "model",
    "served_model_name",
    "vllm_args",
    "port",
    "base_url",
    "bind_address",
    "gpu_memory_utilization",
    "max_model_len",
    "readiness_timeout_minutes",
)
"""`HostConfig` fields only a serving host uses: the head's apply to its whole group, so a worker
that sets one would have it silently ignored."""


@dataclass(frozen=True)
class TensorParallelGroup:
    """One model served by several DGX Sparks: the head (which serves) and its workers."""

    head: HostConfig
    """The host with `tensorParallel`: the Ray head, `vllm serve` and the group's Aperture provider."""

    workers: tuple[HostConfig, ...]
    """The hosts named in `tensorParallel.workers`, in that order."""

    size: int
    """`tensorParallel.size`: GPUs the model is split over (1 + the number of workers)."""

    link_interface: str
    """`tensorParallel.linkInterface`: the QSFP interface Ray and NCCL use on every host of the group."""


def tensor_parallel_groups(hosts: Sequence[HostConfig]) -> list[TensorParallelGroup]:
    """The tensor-parallel groups, heads in config order, each group's workers in the order listed.

    For a validated config; a worker name that is not a host is left out.
    """
    by_name = {host.name: host for host in hosts}
    groups = []
    for head in hosts:
        parallel = head.tensor_parallel
        if parallel is None:
            continue
        workers = tuple(by_name[name] for name in parallel.workers if name in by_name)
        groups.append(TensorParallelGroup(head, workers, parallel.size, parallel.link_interface))
    return groups


def worker_names(hosts: Sequence[HostConfig]) -> frozenset[str]:
    """The names every head lists as its tensor-parallel workers (empty without a group)."""
    return frozenset(name for host in hosts if host.tensor_parallel for name in host.tensor_parallel.workers)


def serving_hosts(hosts: Sequence[HostConfig]) -> list[HostConfig]:
    """Every host that serves a model (each is an Aperture provider): all but the workers, in config order."""
    workers = worker_names(hosts)
    return [host for host in hosts if host.name not in workers]


def tensor_parallel_problems(hosts: Sequence[HostConfig]) -> list[str]:
    """What is wrong with the tensor-parallel groups, each as `<key>: <problem and fix>`.

    Each DGX Spark has one GPU, so a group's size is its head plus its workers; each worker is another
    host of `hosts`, in one group only and not a head itself; a worker takes no key only a serving host
    uses, and runs the head's image (Ray and vLLM must be the same versions across the group); the
    head's model id is served by no other host (a group does not roll with other hosts).
    """
    index_of = {host.name: index for index, host in enumerate(hosts)}
    heads = {host.name: index for index, host in enumerate(hosts) if host.tensor_parallel is not None}
    problems: list[str] = []
    claimed: dict[str, str] = {}
    for head_index, head in enumerate(hosts):
        parallel = head.tensor_parallel
        if parallel is None:
            continue
        key = f"hosts[{head_index}].tensorParallel"
        gpus = 1 + len(parallel.workers)
        if parallel.size != gpus:
            problems.append(
                f"{key}.size: {parallel.size} does not match the group: each DGX Spark has one GPU, so "
                f"{head.name!r} and its {len(parallel.workers)} worker(s) have {gpus} GPUs; set size to "
                f"{gpus}, or list {parallel.size - 1} worker(s) under {key}.workers"
            )
        listed: set[str] = set()
        for worker_index, name in enumerate(parallel.workers):
            where = f"{key}.workers[{worker_index}]"
            problem = _worker_problem(name, head.name, listed, claimed, index_of, heads)
            listed.add(name)
            if problem is not None:
                problems.append(f"{where}: {problem}")
                continue
            claimed[name] = head.name
            problems += _worker_key_problems(hosts[index_of[name]], index_of[name], head, head_index)
        problems += _shared_model_problems(hosts, head, head_index)
    return problems


def _worker_problem(
    name: str,
    head: str,
    listed: set[str],
    claimed: dict[str, str],
    index_of: dict[str, int],
    heads: dict[str, int],
) -> str | None:
    """Why `name` cannot be a worker of `head`, or None."""
    if name == head:
        return (
            f"{name!r} is the head itself, which runs the Ray head and vLLM; list only the other "
            "Sparks of the group"
        )
    if name in listed:
        return f"{name!r} is listed twice: each worker is one Spark (one GPU); list it once"
    if name not in index_of:
        known = ", ".join(sorted(n for n in index_of if n != head)) or "none"
        return (
            f"{name!r} is not a host (other hosts: {known}); add it to hosts with its name and "
            "address, or remove it from workers"
        )
    if name in claimed:
        return (
            f"{name!r} is already a worker of {claimed[name]!r}: a Spark belongs to one group; remove it "
            "from one of them"
        )
    if name in heads:
        return (
            f"{name!r} is itself the head of a tensor-parallel group (hosts[{heads[name]}].tensorParallel): "
            "a Spark is either a head or a worker; remove one of the two"
        )
    return None


def _worker_key_problems(worker: HostConfig, index: int, head: HostConfig, head_index: int) -> list[str]:
    """Keys a worker sets that only a serving host uses, and an image other than its head's."""
    problems = [
        f"hosts[{index}].{to_camel(field)}: {worker.name!r} is a tensor-parallel worker of {head.name!r} "
        f"and serves nothing itself (the head's {to_camel(field)} applies to the whole group); remove "
        f"{to_camel(field)} from hosts[{index}], or set it on hosts[{head_index}]"
        for field in WORKER_UNUSED_FIELDS
        if field in worker.model_fields_set
    ]
    if "image" in worker.model_fields_set and worker.image != head.image:
        problems.append(
            f"hosts[{index}].image: {worker.image!r} is not the image of its head {head.name!r} "
            f"({head.image!r}): Ray and vLLM must be the same versions across a tensor-parallel group; "
            f"remove image from hosts[{index}] (a worker runs its head's image)"
        )
    return problems


def _shared_model_problems(hosts: Sequence[HostConfig], head: HostConfig, head_index: int) -> list[str]:
    """Other serving hosts with the head's model id: a group and a host would roll together."""
    workers = worker_names(hosts)
    return [
        f"hosts[{head_index}].servedModelName: {head.name!r} serves {head.model_id!r} with tensor "
        f"parallelism, and so does hosts[{index}] ({other.name!r}); rolling a tensor-parallel group "
        f"with other hosts is not supported: give one of them a servedModelName of its own, or drop "
        f"hosts[{index}]"
        for index, other in enumerate(hosts)
        if other is not head
        and other.name not in workers
        and other.model_id == head.model_id
        and not (other.tensor_parallel is not None and index < head_index)  # reported from there
    ]


def rolling_groups(hosts: Sequence[HostConfig]) -> list[tuple[HostConfig, ...]]:
    """The groups that roll, in config order: hosts with `rollingUpdate` on that serve one model id,
    two or more of them. Each group keeps the order of `hosts`, which is the order of the roll.
    Tensor-parallel heads and workers never roll."""
    by_model: dict[str, list[HostConfig]] = {}
    for host in serving_hosts(hosts):
        if host.rolling_update and host.tensor_parallel is None:
            by_model.setdefault(host.model_id, []).append(host)
    return [tuple(group) for group in by_model.values() if len(group) > 1]


def rolling_host_names(hosts: Sequence[HostConfig]) -> frozenset[str]:
    """The names of every host that takes part in a roll."""
    return frozenset(host.name for group in rolling_groups(hosts) for host in group)


def drain_problems(hosts: Sequence[HostConfig], grants: Sequence[ApertureGrant] | None) -> list[str]:
    """Grants a drain would make invalid, each as `<key>: <problem and fix>`.

    A drain takes the host's provider out of Aperture's config while its container restarts.
    Aperture refuses a config whose grant `models` pattern names no declared provider, so a grant
    whose provider part matches only a rolling host would make that host's drain fail.
    """
    rolling = rolling_host_names(hosts)
    names = [host.name for host in serving_hosts(hosts)]
    problems = []
    for index, grant in enumerate(grants or ()):
        if not grant.models or grant.models == "**":
            continue
        head = grant.models.split("/", 1)[0]
        matching = [name for name in names if fnmatch.fnmatchcase(name, head)]
        if len(matching) == 1 and matching[0] in rolling:
            drained = matching[0]
            problems.append(
                f"gateway.grants[{index}].models: {grant.models!r} names only provider {drained!r}, "
                f"which a rolling update takes out of the gateway while its container restarts, and "
                "Aperture refuses a grant that names no provider; use a pattern that covers its "
                f"group (e.g. '**' or '{drained.rstrip('0123456789-')}*/**'), or set "
                f"rollingUpdate: false on host {drained!r}"
            )
    return problems
