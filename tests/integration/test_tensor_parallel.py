"""Two Sparks serving one model over Ray, through the real engine (docs/architecture.md §12).

One sandbox with two emulated hosts, declared as one tensor-parallel group: `spark` the head,
`spark-2` its worker, joined over the emulated QSFP link `enp1s0f1np1`. Tests run in file order: the
deploy (Ray head and worker containers, `ray status` seeing both GPUs, `vllm serve` with tensor
parallel size 2 in the head's container), a completion through the gateway from the head, the
tailnet's view of the worker (its own tag, SSH only), a model user's completion through
`scripts/verify.py`, and a production preview that exposes the worker's model port, which the pack
refuses.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import hujson
from components.host.tensor_parallel import SERVE_HEADER
from tailnet_policy.policy_file import parse
from testing.sandbox_stack import SandboxStack
from tests.integration.faults import up

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parents[2]
LINK = "enp1s0f1np1"
WORKER_TAG = "tag:gpu-worker"
MODEL_USER = "alice@example.com"
GROUP = {"size": 2, "workers": ["spark-2"], "linkInterface": LINK}
API_KEY = "tp-vllm-key-7d1c"
"""The vLLM API key: it reaches both Ray containers through their env file, never a command line."""
SERVING_KEYS = ("model", "maxModelLen", "readinessTimeoutMinutes")
"""Keys of the sandbox's host entry that only a serving host takes (a worker refuses them)."""


def declare_group(stack: SandboxStack, stack_file: str = "Pulumi.sandbox.yaml") -> None:
    """Both emulated hosts in the stack file: the first the head of the group, the second its worker."""
    stack.use_hosts()
    path = stack.project / stack_file
    document = yaml.safe_load(path.read_text())
    head, worker = document["config"]["sovereign-ai:hosts"]
    head["tensorParallel"] = GROUP
    for key in SERVING_KEYS:
        worker.pop(key, None)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxStack]:
    """Two emulated Sparks as one tensor-parallel group, deployed once by `scripts/stack.sh up sandbox`."""
    stack = SandboxStack.start(tmp_path_factory.mktemp("tensor-parallel"), hosts=2, vllm_startup_seconds=1.0)
    try:
        declare_group(stack)
        stack.init()
        stack.set_secret("sovereign-ai:vllmApiKey", API_KEY)
        result = stack.stack_sh("up")
        assert result.returncode == 0, result.stdout + result.stderr
        yield stack
    finally:
        stack.stop()


def in_container(
    stack: SandboxStack, host: int, container: str, command: str
) -> subprocess.CompletedProcess[str]:
    """`sudo docker exec <container> <command>` on an emulated host, over SSH as a person would."""
    return stack.ssh(f"sudo docker exec {container} {command}", host_index=host)


def test_ray_runs_on_both_sparks_and_vllm_serve_on_the_head(group: SandboxStack) -> None:
    head, worker = group.containers(0), group.containers(1)
    assert list(head) == ["ray-spark"] and list(worker) == ["ray-spark-2"], (head, worker)
    assert head["ray-spark"]["options"]["--entrypoint"] == ["/bin/bash"]
    environment = dict(entry.split("=", 1) for entry in worker["ray-spark-2"]["env"])
    link = group.endpoints["hosts"]
    assert environment["NCCL_SOCKET_IFNAME"] == LINK
    assert environment["RAY_memory_monitor_refresh_ms"] == "0"
    assert environment["VLLM_HOST_IP"] == link[1]["link"]["address"].split("/")[0]
    assert environment["MASTER_ADDR"] == link[0]["link"]["address"].split("/")[0]
    status = in_container(group, 0, "ray-spark", "ray status")
    assert status.returncode == 0, status.stderr
    assert "/2.0 GPU" in status.stdout, status.stdout
    serving = in_container(group, 0, "ray-spark", "pgrep -f 'vllm serve'")
    assert serving.returncode == 0, "vllm serve is not running in the head's container"
    assert in_container(group, 1, "ray-spark-2", "pgrep -f 'vllm serve'").returncode == 1


def steps(lines: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The group's steps as the audit log shows them (each line written when its command ends)."""
    found = []
    for line in lines:
        if line["service"] == "host":
            step = next((name for name, head in STEP_HEADS.items() if head in line["command"]), "other")
            found.append((line["host"], step))
    return found


STEP_HEADS = {
    "ray": "# (Re)start a tensor-parallel group's Ray node",
    "ray-ready": "# Wait until the Ray cluster of a tensor-parallel group sees every GPU",
    "serve": SERVE_HEADER,
}


def test_ray_sees_both_gpus_before_vllm_serve_starts(group: SandboxStack) -> None:
    order = [event for event in steps(group.audit()) if event[1] != "other"]
    assert order == [
        ("spark", "ray"),
        ("spark-2", "ray"),
        ("spark", "ray-ready"),
        ("spark", "serve"),
    ], order


def test_the_api_key_reaches_vllm_serve_through_the_env_file_only(group: SandboxStack) -> None:
    ray = group.containers(0)["ray-spark"]
    assert f"VLLM_API_KEY={API_KEY}" in ray["env"], "the key did not reach the head's container"
    assert API_KEY not in json.dumps([ray["args"], ray["options"]]), "the key is on a command line"
    assert API_KEY not in in_container(group, 0, "ray-spark", "pgrep -a -f 'vllm serve'").stdout
    head = group.outputs()["spark_model_base_url"]
    unauthorized = group.ssh(f"curl -s -o /dev/null -w '%{{http_code}}' {head}/v1/models")
    assert unauthorized.stdout == "401", "vllm serve answers without the key"


def test_a_second_up_changes_nothing(group: SandboxStack) -> None:
    check = group.pulumi("preview", "--expect-no-changes")
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_gateway_has_one_provider_at_the_head_and_answers_a_completion(group: SandboxStack) -> None:
    providers = hujson.loads(group.aperture_config()[0])["providers"]
    outputs = group.outputs()
    assert [pid for pid in providers if pid.startswith("spark")] == ["spark"], providers
    assert providers["spark"]["baseurl"] == outputs["spark_model_base_url"]
    assert "spark-2_model_base_url" not in outputs
    body = {"model": outputs["client_model_ids"][0], "messages": [{"role": "user", "content": "hi there"}]}
    status, answer = group.gateway("/v1/chat/completions", MODEL_USER, body)
    assert status == 200, answer
    assert answer["choices"][0]["message"]["content"] == "echo: hi there"


def test_verify_gets_a_completion_through_the_gateway(group: SandboxStack) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "verify.py"), "--stack", "sandbox", "--identity", MODEL_USER],
        cwd=group.project, env=group.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_worker_joins_with_its_own_tag_and_the_tailnet_reaches_it_on_ssh_only(
    group: SandboxStack,
) -> None:
    devices = group.api("GET", "/api/v2/tailnet/-/devices")["devices"]
    tags = {device["hostname"]: device.get("tags") for device in devices}
    assert tags["spark"] == ["tag:gpu"] and tags["spark-2"] == [WORKER_TAG], tags
    policy = parse(group.policy_text())
    assert policy.tag_owners[WORKER_TAG] == ("admin@example.com",)
    to_worker = [grant for grant in policy.grants if WORKER_TAG in grant.dst]
    assert to_worker and all(grant.ip == ("tcp:22",) for grant in to_worker), to_worker
    denied = {destination for test in policy.tests for destination in test.deny}
    assert f"{WORKER_TAG}:8000" in denied, policy.tests


def test_a_production_preview_that_exposes_the_worker_model_port_is_refused(group: SandboxStack) -> None:
    document: dict[str, Any] = yaml.safe_load((group.project / "Pulumi.sandbox.yaml").read_text())
    document.pop("encryptionsalt", None)  # a new stack gets a salt of its own
    config = document["config"]
    config["sovereign-ai:environment"] = "production"
    config.pop("sovereign-ai:vllmApiKey")  # encrypted with the sandbox stack's salt, not this stack's
    config["sovereign-ai:tailnet"]["basePolicy"] = "exposed-worker.hujson"
    (group.project / "exposed-worker.hujson").write_text(
        json.dumps(
            {
                "tagOwners": {"tag:ci": ["admin@example.com"]},
                "grants": [{"src": ["tag:ci"], "dst": [WORKER_TAG], "ip": ["tcp:8000"]}],
            }
        )
    )
    (group.project / "Pulumi.prod-tp.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    result = group.stack_sh("preview", "prod-tp")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "production guardrails: policies/config/production.json" in output
    assert "tailnet-worker-ssh-only" in output, output
    assert "spark-2" in output and WORKER_TAG in output and "tcp:8000" in output, output
    assert "Traceback" not in output


def test_a_flag_change_restarts_only_vllm_serve_on_the_head(group: SandboxStack) -> None:
    ray_ids = [group.containers(host)[name]["id"] for host, name in ((0, "ray-spark"), (1, "ray-spark-2"))]
    group.set_host(0, maxModelLen=4096)
    group.mark()
    result = group.stack_sh("up")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [event for event in steps(group.since_mark()) if event[1] != "other"] == [("spark", "serve")]
    assert [
        group.containers(host)[name]["id"] for host, name in ((0, "ray-spark"), (1, "ray-spark-2"))
    ] == ray_ids
    models = in_container(group, 0, "ray-spark", "pgrep -a -f 'vllm serve'")
    assert "--max-model-len 4096" in models.stdout and "--tensor-parallel-size 2" in models.stdout, (
        models.stdout
    )


def test_a_worker_down_fails_the_head_naming_the_cause_then_a_refresh_repairs_the_group(
    group: SandboxStack,
) -> None:
    stopped = group.ssh("sudo docker stop ray-spark-2", host_index=1)
    assert stopped.returncode == 0, stopped.stderr
    group.set_host(0, maxModelLen=8192)  # a change that restarts vllm serve on a one-GPU cluster
    failed = up(group)
    assert failed.returncode != 0, failed.output
    assert "spark-vllm" in failed.output, failed.output
    assert "The number of required GPUs exceeds the total number of available GPUs" in failed.output, (
        "vLLM's own message is not in the log tail"
    )
    assert "a worker's Ray node is down: `pulumi up --refresh`" in failed.output, failed.output
    repaired = up(group, "--refresh")  # HostState sees the worker's Ray node stopped and replaces it
    assert repaired.returncode == 0, repaired.output
    assert in_container(group, 1, "ray-spark-2", "true").returncode == 0, "the worker's Ray node is not back"
    assert "/2.0 GPU" in in_container(group, 0, "ray-spark", "ray status").stdout
    check = group.pulumi("preview", "--expect-no-changes")
    assert check.returncode == 0, check.stdout + check.stderr


def test_destroy_removes_the_group_from_both_sparks_and_the_gateway(group: SandboxStack) -> None:
    result = group.pulumi("destroy", "--yes", "--skip-preview")
    assert result.returncode == 0, result.stdout + result.stderr
    assert group.containers(0) == {} and group.containers(1) == {}
    providers = hujson.loads(group.aperture_config()[0])["providers"]
    assert not [pid for pid in providers if pid.startswith("spark")], providers
