"""Tensor-parallel groups in the config (`hosts[i].tensorParallel`): the helpers the program uses
(`config.fleet`), every refusal with its key path and fix, and the tailnet plan with workers."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from config.fleet import (
    TensorParallelGroup,
    drain_problems,
    rolling_groups,
    serving_hosts,
    tensor_parallel_groups,
    worker_names,
)
from config.gateway import ApertureGrant
from config.model import ConfigError, StackConfig, parse_config
from config.plan import PolicyConflict, PolicyPlan, policy_for
from tailnet_policy.policy_file import Grant, PolicyTest, render
from tailnet_policy.reachability import can_reach, run_tests
from tests.unit import config_edits

LLAMA = "meta-llama/Llama-3.3-70B-Instruct"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForTests"
GROUP = {"size": 2, "workers": ["spark-2"], "linkInterface": "enp1s0f1np1"}

RAW: dict[str, Any] = {
    "environment": "production",
    "tailnet": {
        "admins": ["admin@example.com"],
        "modelUsers": ["group:ai-users"],
        "groups": {"group:ai-users": ["alice@example.com"]},
    },
    "hosts": [
        {"name": "spark", "address": "spark.lan", "hostKey": KEY, "model": LLAMA, "tensorParallel": GROUP},
        {"name": "spark-2", "address": "spark-2.lan", "hostKey": KEY},
    ],
    "secrets": {"sshPrivateKey": True},
}
"""The README's two-Spark group: `spark` the head, `spark-2` its worker."""

SINGLE: dict[str, Any] = {
    **copy.deepcopy(RAW),
    "hosts": [{"name": "spark", "address": "spark.lan", "hostKey": KEY}],
}


def changed(path: str, value: Any, raw: dict[str, Any] = RAW) -> dict[str, Any]:
    """`raw` with one value changed; `path` like `hosts.1.model` (None deletes)."""
    return config_edits.changed(raw, path, value)


def with_hosts(*hosts: dict[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(RAW), "hosts": [copy.deepcopy(h) for h in hosts]}


def host(name: str, **keys: Any) -> dict[str, Any]:
    return {"name": name, "address": f"{name}.lan", "hostKey": KEY, **keys}


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    return info.value.problems


def names(hosts: Any) -> list[str]:
    return [h.name for h in hosts]


# -- a valid group and the helpers ------------------------------------------------------------------


def test_a_two_spark_group_parses_and_the_helpers_describe_it() -> None:
    config = parse_config(RAW)
    head, worker = config.hosts
    assert head.tensor_parallel is not None
    assert (head.tensor_parallel.size, head.tensor_parallel.workers, head.tensor_parallel.link_interface) == (
        2,
        ["spark-2"],
        "enp1s0f1np1",
    )
    assert tensor_parallel_groups(config.hosts) == [TensorParallelGroup(head, (worker,), 2, "enp1s0f1np1")]
    assert worker_names(config.hosts) == frozenset({"spark-2"})
    assert serving_hosts(config.hosts) == [head]


def test_groups_keep_config_order_of_heads_and_the_listed_order_of_workers() -> None:
    raw = with_hosts(
        host("b-3"),
        host("a", model="m-a", tensorParallel={**GROUP, "size": 3, "workers": ["b-3", "b-2"]}),
        host("b-2"),
        host("solo", model="m-solo"),
        host("c", model="m-c", tensorParallel={**GROUP, "workers": ["c-2"]}),
        host("c-2"),
    )
    config = parse_config(raw)
    groups = tensor_parallel_groups(config.hosts)
    assert [(g.head.name, names(g.workers), g.size) for g in groups] == [
        ("a", ["b-3", "b-2"], 3),
        ("c", ["c-2"], 2),
    ]
    assert worker_names(config.hosts) == frozenset({"b-3", "b-2", "c-2"})
    assert names(serving_hosts(config.hosts)) == ["a", "solo", "c"]


def test_without_a_group_every_host_serves() -> None:
    config = parse_config(with_hosts(host("spark"), host("spark-2")))
    assert (tensor_parallel_groups(config.hosts), worker_names(config.hosts)) == ([], frozenset())
    assert names(serving_hosts(config.hosts)) == ["spark", "spark-2"]


def test_a_worker_may_repeat_its_heads_image_and_set_its_own_ssh_keys() -> None:
    raw = changed("hosts.0.image", "nvcr.io/nvidia/vllm:26.05-py3")
    raw["hosts"][1].update(image="nvcr.io/nvidia/vllm:26.05-py3", sshPort=2222, user="admin", hostname="w2")
    parse_config(raw)


def test_tensor_parallel_members_never_roll() -> None:
    """The worker keeps the default model, like `solo-1`/`solo-2`; only the two plain hosts roll."""
    raw = with_hosts(*RAW["hosts"], host("solo-1"), host("solo-2"), host("solo-3", rollingUpdate=False))
    config = parse_config(raw)
    assert [names(group) for group in rolling_groups(config.hosts)] == [["solo-1", "solo-2"]]


def test_a_drain_check_counts_only_serving_hosts_as_providers() -> None:
    """`solo*/**` names two providers, so draining one of them leaves the other: no problem; `spark*/**`
    names the head only (the worker is no provider), and the head never drains."""
    config = parse_config(with_hosts(*RAW["hosts"], host("solo-1"), host("solo-2")))
    grants = [
        ApertureGrant(src=["admin@example.com"], role="admin", models="solo*/**"),
        ApertureGrant(src=["admin@example.com"], role="admin", models="spark*/**"),
    ]
    assert drain_problems(config.hosts, grants) == []


# -- refusals ----------------------------------------------------------------------------------------

SIZE_3 = (
    "sovereign-ai: hosts[0].tensorParallel.size: 3 does not match the group: each DGX Spark has one GPU, "
    "so 'spark' and its 1 worker(s) have 2 GPUs; set size to 2, or list 2 worker(s) under "
    "hosts[0].tensorParallel.workers"
)


def worker_key(key: str) -> str:
    return (
        f"sovereign-ai: hosts[1].{key}: 'spark-2' is a tensor-parallel worker of 'spark' and serves nothing "
        f"itself (the head's {key} applies to the whole group); remove {key} from hosts[1], or set it on "
        "hosts[0]"
    )


REFUSED = {
    "size-not-one-per-gpu": (changed("hosts.0.tensorParallel.size", 3), [SIZE_3]),
    "size-one": (
        changed("hosts.0.tensorParallel.size", 1),
        [
            "sovereign-ai:hosts[0].tensorParallel.size: 1 is not a tensor-parallel size: a group spans at "
            "least 2 DGX Sparks (one GPU each); list the other Sparks under workers and set size to 1 + "
            "their number, or remove tensorParallel to serve the model on this host alone"
        ],
    ),
    "no-workers": (
        changed("hosts.0.tensorParallel.workers", []),
        [
            "sovereign-ai:hosts[0].tensorParallel.workers: names no worker: list the other hosts of the "
            "group by name, e.g. [spark-2], or remove tensorParallel to serve the model on this host alone"
        ],
    ),
    "link-interface-too-long": (
        changed("hosts.0.tensorParallel.linkInterface", "enp1s0f1np1-and-more"),
        [
            "sovereign-ai:hosts[0].tensorParallel.linkInterface: 'enp1s0f1np1-and-more' is not a Linux "
            "interface name (1-15 letters, digits, '_', '.' or '-'): use the QSFP interface `ibdev2netdev` "
            "shows as (Up), e.g. enp1s0f1np1"
        ],
    ),
    "link-interface-missing": (
        changed("hosts.0.tensorParallel.linkInterface", None),
        ["sovereign-ai:hosts[0].tensorParallel.linkInterface: is required"],
    ),
    "unknown-key": (
        changed("hosts.0.tensorParallel.pipeline", 2),
        [
            "sovereign-ai:hosts[0].tensorParallel.pipeline: is not a known setting: check the spelling "
            "against README.md#configuration"
        ],
    ),
    "worker-is-the-head": (
        changed("hosts.0.tensorParallel", {**GROUP, "workers": ["spark"]}),
        [
            "sovereign-ai: hosts[0].tensorParallel.workers[0]: 'spark' is the head itself, which runs the "
            "Ray head and vLLM; list only the other Sparks of the group"
        ],
    ),
    "worker-twice": (
        changed("hosts.0.tensorParallel", {**GROUP, "size": 3, "workers": ["spark-2", "spark-2"]}),
        [
            "sovereign-ai: hosts[0].tensorParallel.workers[1]: 'spark-2' is listed twice: each worker is "
            "one Spark (one GPU); list it once"
        ],
    ),
    "worker-not-a-host": (
        changed("hosts.0.tensorParallel", {**GROUP, "workers": ["spark-9"]}),
        [
            "sovereign-ai: hosts[0].tensorParallel.workers[0]: 'spark-9' is not a host (other hosts: "
            "spark-2); add it to hosts with its name and address, or remove it from workers"
        ],
    ),
    "worker-in-two-groups": (
        with_hosts(*RAW["hosts"], host("other", model="m-other", tensorParallel=GROUP)),
        [
            "sovereign-ai: hosts[2].tensorParallel.workers[0]: 'spark-2' is already a worker of 'spark': a "
            "Spark belongs to one group; remove it from one of them"
        ],
    ),
    "worker-is-a-head": (
        with_hosts(
            RAW["hosts"][0],
            host("spark-2", tensorParallel={**GROUP, "workers": ["spark-3"]}),
            host("spark-3"),
        ),
        [
            "sovereign-ai: hosts[0].tensorParallel.workers[0]: 'spark-2' is itself the head of a "
            "tensor-parallel group (hosts[1].tensorParallel): a Spark is either a head or a worker; remove "
            "one of the two"
        ],
    ),
    "worker-other-image": (
        changed("hosts.1.image", "vllm/vllm-openai:v0.27.0"),
        [
            "sovereign-ai: hosts[1].image: 'vllm/vllm-openai:v0.27.0' is not the image of its head 'spark' "
            "('vllm/vllm-openai:v0.28.0'): Ray and vLLM must be the same versions across a tensor-parallel "
            "group; remove image from hosts[1] (a worker runs its head's image)"
        ],
    ),
    "head-shares-its-model": (
        with_hosts(*RAW["hosts"], host("spark-3", model=LLAMA)),
        [
            "sovereign-ai: hosts[0].servedModelName: 'spark' serves 'meta-llama/Llama-3.3-70B-Instruct' "
            "with tensor parallelism, and so does hosts[2] ('spark-3'); rolling a tensor-parallel group with "
            "other hosts is not supported: give one of them a servedModelName of its own, or drop hosts[2]"
        ],
    ),
    "two-heads-share-a-model-reported-once": (
        with_hosts(
            *RAW["hosts"], host("b", model=LLAMA, tensorParallel={**GROUP, "workers": ["b-2"]}), host("b-2")
        ),
        [
            "sovereign-ai: hosts[0].servedModelName: 'spark' serves 'meta-llama/Llama-3.3-70B-Instruct' "
            "with tensor parallelism, and so does hosts[2] ('b'); rolling a tensor-parallel group with "
            "other hosts is not supported: give one of them a servedModelName of its own, or drop hosts[2]"
        ],
    ),
    "grant-names-a-worker": (
        {
            **RAW,
            "gateway": {
                "grants": [
                    {"src": ["admin@example.com"], "role": "admin", "models": "**"},
                    {"src": ["group:ai-users"], "role": "user", "models": "spark-2/llama"},
                ]
            },
        },
        [
            "sovereign-ai: gateway.grants[1].models 'spark-2/llama' references provider 'spark-2', which is "
            "a tensor-parallel worker of 'spark' and serves nothing itself: the group's model is served by its "
            "head's provider; use 'spark/llama'"
        ],
    ),
    "worker-tag-is-the-gpu-tag": (
        changed("tailnet.workerTag", "tag:gpu"),
        [
            "sovereign-ai:tailnet: tailnet.workerTag and tailnet.gpuTag are both tag:gpu: tensor-parallel "
            "workers serve nothing and are reached on SSH only, and the GPU servers' tag would let the "
            "gateway reach them on the model port; give them a tag of their own, e.g. tag:gpu-worker"
        ],
    ),
    "worker-tag-is-the-gateway-tag": (
        changed("tailnet.workerTag", "tag:aperture"),
        [
            "sovereign-ai:tailnet: tailnet.workerTag and tailnet.gatewayTag are both tag:aperture: "
            "tensor-parallel workers serve nothing and are reached on SSH only, and the gateway's tag would "
            "let them reach every model port; give them a tag of their own, e.g. tag:gpu-worker"
        ],
    ),
    "worker-tag-is-the-deploy-tag": (
        changed("tailnet", {**RAW["tailnet"], "deployTag": "tag:ci", "workerTag": "tag:ci"}),
        [
            "sovereign-ai:tailnet: tailnet.workerTag and tailnet.deployTag are both tag:ci: tensor-parallel "
            "workers serve nothing and are reached on SSH only, and the deploy tag would give them SSH to "
            "every GPU server; give them a tag of their own, e.g. tag:gpu-worker"
        ],
    ),
    "default-worker-tag-is-the-gpu-tag-with-workers": (
        changed("tailnet.gpuTag", "tag:gpu-worker"),
        [
            "sovereign-ai: tailnet.workerTag and tailnet.gpuTag are both tag:gpu-worker: tensor-parallel "
            "workers serve nothing and are reached on SSH only, and the GPU servers' tag would let the "
            "gateway reach them on the model port; give them a tag of their own, e.g. tag:gpu-worker"
        ],
    ),
    "worker-tag-not-a-tag": (
        changed("tailnet.workerTag", "gpu-worker"),
        [
            "sovereign-ai:tailnet.workerTag: 'gpu-worker' is not a tag: tags look like tag:name, and the name "
            "starts with a letter (for example tag:gpu)"
        ],
    ),
}


@pytest.mark.parametrize(("raw", "expected"), REFUSED.values(), ids=REFUSED.keys())
def test_a_bad_group_is_refused_naming_the_key_and_the_fix(raw: dict[str, Any], expected: list[str]) -> None:
    assert problems(raw) == expected


WORKER_KEYS = {
    "model": LLAMA,
    "servedModelName": "llama",
    "vllmArgs": ["--kv-cache-dtype", "fp8"],
    "port": 8001,
    "baseUrl": "http://spark-2:8000",
    "bindAddress": "100.64.0.9",
    "gpuMemoryUtilization": 0.7,
    "maxModelLen": 8192,
    "readinessTimeoutMinutes": 40,
}


@pytest.mark.parametrize(("key", "value"), WORKER_KEYS.items(), ids=WORKER_KEYS.keys())
def test_a_worker_takes_no_serving_key(key: str, value: Any) -> None:
    assert problems(changed(f"hosts.1.{key}", value)) == [worker_key(key)]


def test_every_problem_of_a_group_is_reported_at_once() -> None:
    raw = changed("hosts.0.tensorParallel.size", 3)
    raw["hosts"][1].update(model=LLAMA, port=9000)
    [line] = problems(raw)
    assert line.split("; hosts[") == [
        SIZE_3,
        *(worker_key(k).removeprefix("sovereign-ai: hosts[") for k in ("model", "port")),
    ]


FLAGS = {
    "--tensor-parallel-size": (
        ["--tensor-parallel-size", "2"],
        "--tensor-parallel-size is set by the program: use hosts[].tensorParallel.size (one GPU per DGX "
        "Spark, so the size of the group) instead",
    ),
    "-tp": (
        ["-tp=2"],
        "-tp is set by the program: use hosts[].tensorParallel.size (one GPU per DGX Spark, so the size of "
        "the group) instead",
    ),
    "--distributed-executor-backend": (
        ["--distributed-executor-backend=ray"],
        "--distributed-executor-backend is set by the program: use hosts[].tensorParallel (a group always "
        "runs over Ray) instead",
    ),
    "--pipeline-parallel-size": (
        ["--pipeline-parallel-size", "2"],
        "--pipeline-parallel-size: pipeline parallelism is not supported (each DGX Spark has one GPU); to "
        "spread a model over several Sparks use hosts[].tensorParallel and remove this flag",
    ),
    "-pp": (
        ["-pp", "2"],
        "-pp: pipeline parallelism is not supported (each DGX Spark has one GPU); to spread a model over "
        "several Sparks use hosts[].tensorParallel and remove this flag",
    ),
}


@pytest.mark.parametrize(("args", "expected"), FLAGS.values(), ids=FLAGS.keys())
def test_the_heads_vllm_args_leave_parallelism_to_the_group(args: list[str], expected: str) -> None:
    assert problems(changed("hosts.0.vllmArgs", args)) == [f"sovereign-ai:hosts[0].vllmArgs: {expected}"]


def test_a_single_host_config_validates_as_before() -> None:
    """The new keys change nothing without a group: the default worker tag may even equal a GPU tag
    nobody uses for workers, and the flags a host alone may set are the same."""
    config = parse_config(changed("tailnet.gpuTag", "tag:gpu-worker", SINGLE))
    assert config.hosts[0].tensor_parallel is None
    assert names(serving_hosts(config.hosts)) == ["spark"]


# -- the tailnet plan with workers -------------------------------------------------------------------


def plan(raw: dict[str, Any]) -> PolicyPlan:
    return PolicyPlan.from_config(parse_config(raw))


def test_the_plan_gives_the_worker_tag_ssh_from_the_admins_only() -> None:
    policy = policy_for(parse_config(RAW))
    assert plan(RAW).worker_tag == "tag:gpu-worker"
    assert policy.tag_owners["tag:gpu-worker"] == ("admin@example.com",)
    assert list(policy.grants) == [
        Grant(src=("group:ai-users",), dst=("tag:aperture",), ip=("tcp:80", "tcp:443")),
        Grant(src=("tag:aperture",), dst=("tag:gpu",), ip=("tcp:8000",)),
        Grant(src=("admin@example.com",), dst=("tag:gpu",), ip=("tcp:22",)),
        Grant(src=("admin@example.com",), dst=("tag:gpu-worker",), ip=("tcp:22",)),
    ]
    assert list(policy.tests) == [
        PolicyTest(src="tag:aperture", accept=("tag:gpu:8000",), deny=("tag:gpu-worker:8000",)),
        PolicyTest(
            src="alice@example.com",
            accept=("tag:aperture:80", "tag:aperture:443"),
            deny=("tag:gpu:8000", "tag:gpu-worker:8000", "tag:gpu:22", "tag:gpu-worker:22"),
        ),
        PolicyTest(src="admin@example.com", accept=("tag:gpu:22", "tag:gpu-worker:22")),
    ]
    assert run_tests(policy) == []


def test_with_a_deploy_tag_the_deploy_reaches_the_workers_on_ssh_only() -> None:
    raw = changed("tailnet.deployTag", "tag:deploy")
    policy = policy_for(parse_config(raw))
    assert list(policy.grants)[3:] == [
        Grant(src=("tag:deploy",), dst=("tag:gpu",), ip=("tcp:22",)),
        Grant(src=("tag:deploy",), dst=("tag:aperture",), ip=("tcp:80", "tcp:443")),
        Grant(src=("admin@example.com",), dst=("tag:gpu-worker",), ip=("tcp:22",)),
        Grant(src=("tag:deploy",), dst=("tag:gpu-worker",), ip=("tcp:22",)),
    ]
    assert policy.tests[-1] == PolicyTest(
        src="tag:deploy",
        accept=("tag:gpu:22", "tag:aperture:80", "tag:aperture:443", "tag:gpu-worker:22"),
        deny=("tag:gpu:8000", "tag:gpu-worker:8000"),
    )
    assert run_tests(policy) == []
    assert not can_reach(policy, "tag:aperture", "tag:gpu-worker", 8000)


def test_an_admin_who_uses_the_model_keeps_ssh_to_the_workers() -> None:
    raw = changed("tailnet.modelUsers", ["group:ai-users", "admin@example.com"])
    admin = next(t for t in policy_for(parse_config(raw)).tests if t.src == "admin@example.com" and t.deny)
    assert admin.deny == ("tag:gpu:8000", "tag:gpu-worker:8000")


def test_the_model_users_get_the_heads_models_and_the_model_ports_are_the_heads() -> None:
    raw = with_hosts(*RAW["hosts"], host("solo", port=8001))
    assert [(g.role, g.models) for g in plan(RAW).aperture_grants] == [("admin", "**"), ("user", "spark/**")]
    assert [(g.role, g.models) for g in plan(raw).aperture_grants] == [("admin", "**"), ("user", "**")]
    assert plan(raw).model_ports == (8000, 8001)


def test_a_base_policy_that_opens_a_workers_model_port_is_refused() -> None:
    base = '{"grants": [{"src": ["autogroup:member"], "dst": ["tag:gpu-worker"], "ip": ["tcp:8000"]}]}'
    with pytest.raises(PolicyConflict) as raised:
        policy_for(parse_config(RAW), base, "policy/base.hujson")
    assert (
        'address "tag:gpu-worker:8000": want: Drop, got: Accept (opened by grants[0] of policy/base.hujson)'
        in str(raised.value)
    )


NO_WORKER_CONFIGS = {
    "one-host": SINGLE,
    "two-hosts": with_hosts(host("spark"), host("spark-2", port=8001)),
    "deploy-tag": changed("tailnet.deployTag", "tag:deploy", SINGLE),
    "gateway-address": changed(
        "tailnet", {**RAW["tailnet"], "gatewayTag": None, "gatewayAddress": "100.100.1.1"}, SINGLE
    ),
    "worker-tag-set-but-no-workers": changed("tailnet.workerTag", "tag:ray", SINGLE),
}


@pytest.mark.parametrize("raw", NO_WORKER_CONFIGS.values(), ids=NO_WORKER_CONFIGS.keys())
def test_without_workers_the_policy_is_what_it_was(raw: dict[str, Any]) -> None:
    """No worker tag anywhere, and exactly the grants, tag owners and tests a stack had before."""
    config = parse_config(raw)
    the_plan = PolicyPlan.from_config(config)
    policy = policy_for(config)
    assert the_plan.worker_tag is None and the_plan.worker_grants() == []
    text = render(policy)
    assert "worker" not in text and "tag:ray" not in text
    assert list(policy.grants) == [*_old_grants(the_plan)]
    assert set(policy.tag_owners) <= {"tag:gpu", "tag:aperture", "tag:deploy"}
    assert all(
        test.deny == () for test in policy.tests if test.src in (the_plan.gateway, "admin@example.com")
    )


def _old_grants(plan: PolicyPlan) -> list[Grant]:
    """The grants `PolicyPlan.grants()` generated before tensor parallelism, written out."""
    ports = tuple(f"tcp:{p}" for p in plan.model_ports)
    grants = [
        Grant(src=plan.model_users, dst=(plan.gateway,), ip=("tcp:80", "tcp:443")),
        Grant(src=(plan.gateway,), dst=(plan.gpu_tag,), ip=ports),
        Grant(src=plan.admins, dst=(plan.gpu_tag,), ip=("tcp:22",)),
    ]
    if plan.deploy_tag is not None:
        grants += [
            Grant(src=(plan.deploy_tag,), dst=(plan.gpu_tag,), ip=("tcp:22",)),
            Grant(src=(plan.deploy_tag,), dst=(plan.gateway,), ip=("tcp:80", "tcp:443")),
        ]
    return grants


def test_the_config_stays_frozen_with_a_group() -> None:
    config: StackConfig = parse_config(RAW)
    assert config.hosts[0].tensor_parallel is not None
    with pytest.raises(Exception, match="frozen"):
        config.hosts[0].tensor_parallel.size = 3
