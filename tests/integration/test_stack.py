"""The whole stack through the real engine against the sandbox: deploy, use, no-op, drift, destroy.

One stack per module, deployed once by the real `pulumi up` (the project's language host and
plugins where upstream's cannot be installed) with the policy pack, then checked from the outside the
way a user or an attacker would see it. Tests run in file order; the last one destroys the stack.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
from typing import Any

import pytest

import hujson
from components.gateway.aperture_merge import unmerge
from config.plan import policy_for
from tailnet_policy.policy_file import Grant, render
from testing.engine import ROOT
from testing.sandbox_stack import SandboxStack

pytestmark = pytest.mark.engine

MODEL_USER = "alice@example.com"


@pytest.fixture(scope="module")
def deployed(stack: SandboxStack) -> dict[str, Any]:
    """`scripts/stack.sh up sandbox` (= `make up STACK=sandbox`), once, before any check."""
    aperture_before, policy_before = stack.aperture_config()[0], stack.policy_text()
    result = stack.stack_sh("up")
    assert result.returncode == 0, result.stdout + result.stderr
    return {"up": result.stdout, "aperture_before": aperture_before, "policy_before": policy_before}


def model_id(stack: SandboxStack) -> str:
    return str(stack.outputs()["client_model_ids"][0])


def remote_commands(lines: list[dict[str, Any]]) -> list[str]:
    return [line["command"] for line in lines if line["service"] == "host"]


def test_up_runs_every_step_with_the_policy_pack(stack: SandboxStack, deployed: dict[str, Any]) -> None:
    up = deployed["up"]
    assert "development guardrails: policies/config/development.json" in up
    assert "Policies:" in up and "sovereign-ai@v0.1.0" in up
    for step in ("spark-preflight", "spark-install-tailscale", "spark-join", "spark-firewall",
                 "spark-state", "spark-vllm", "spark-ready", "tailnet-policy", "gateway-config"):  # fmt: skip
        assert f"{step} created" in up, f"{step} was not created:\n{up}"
    commands = remote_commands(stack.audit())
    # The seven host steps, each recognised by the start of its script as the audit log records it.
    order = ["# Preflight", "# Install Tailscale", "export TS_HOSTNAME", "export SSH_PORT",
             "# Observe a GPU", "export VLLM_COMMAND", "export BASE_URL"]  # fmt: skip
    positions = [next(i for i, c in enumerate(commands) if marker in c) for marker in order]
    assert positions == sorted(positions), "the host steps ran out of order"


def test_make_verify_passes_for_a_model_user(stack: SandboxStack, deployed: dict[str, Any]) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "verify.py"), "--stack", "sandbox", "--identity", MODEL_USER,
         "--usage"],
        cwd=stack.project, env=stack.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"usage record: {MODEL_USER} used {model_id(stack)}: " in result.stdout
    assert "base URL: " + stack.endpoints["aperture"]["url"] + "/v1" in result.stdout


def test_the_aperture_grants_name_the_groups_members(stack: SandboxStack, deployed: dict[str, Any]) -> None:
    """`modelUsers: ['group:ai-users']`: Aperture matches groups only with visible groups (off on the
    sandbox, as on a new tailnet), so the grant names alice, and the policy needs no node attribute."""
    grants = hujson.loads(stack.aperture_config()[0])["grants"]
    assert [grant["src"] for grant in grants] == [["admin@example.com"], [MODEL_USER]]
    assert stack.outputs()["effective_aperture_grants"] == grants
    assert "nodeAttrs" not in stack.policy_text()


def test_someone_without_a_grant_gets_403(stack: SandboxStack, deployed: dict[str, Any]) -> None:
    status, body = stack.gateway("/v1/models", "mallory@example.com")
    assert status == 403, body


def test_vllm_listens_on_the_tailnet_address_only(stack: SandboxStack, deployed: dict[str, Any]) -> None:
    outputs = stack.outputs()
    ip = outputs["spark_tailnet_ip"]
    assert ip.startswith("127.100."), ip
    assert outputs["spark_model_base_url"] == f"http://{ip}:8000"
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", 8000)) != 0, "vLLM answers on 127.0.0.1"
    with socket.socket() as probe:
        assert probe.connect_ex((ip, 8000)) == 0


def test_the_auth_key_is_spent_secret_and_never_on_a_command_line(
    stack: SandboxStack, deployed: dict[str, Any]
) -> None:
    key_resource = next(r for r in stack.resources() if r["type"] == "tailscale:index/tailnetKey:TailnetKey")
    key = stack.api("GET", f"/api/v2/tailnet/-/keys/{key_resource['id']}")
    assert key["invalid"] is True, "a single-use key stays valid after the join"
    create = key["capabilities"]["devices"]["create"]
    assert (create["reusable"], create["preauthorized"], create["tags"]) == (False, True, ["tag:gpu"])
    assert stack.api("GET", "/api/v2/tailnet/-/dns/preferences") == {"magicDNS": True}
    assert "ciphertext" in json.dumps(key_resource["outputs"]["key"])
    state = "\n".join(p.read_text() for p in (stack.project.parent / "state").rglob("*.json"))
    keys = [
        k["key"] for k in stack.api("GET", "/api/v2/tailnet/-/keys?all=true").get("keys", []) if k.get("key")
    ]
    for value in keys:
        assert value not in state
        assert all(value not in command for command in remote_commands(stack.audit()))


def test_a_second_up_changes_nothing_and_calls_nothing(stack: SandboxStack, deployed: dict[str, Any]) -> None:
    stack.mark()
    result = stack.stack_sh("up")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unchanged" in result.stdout
    for verb in ("created", "updated", "replaced", "deleted"):
        assert f" {verb}" not in result.stdout.split("Resources:")[1], result.stdout
    calls = stack.since_mark()
    assert [c for c in calls if c.get("mutating")] == [], calls
    assert remote_commands(calls) == []


def test_a_hand_edit_of_the_policy_is_reported_and_repaired(
    stack: SandboxStack, deployed: dict[str, Any]
) -> None:
    declared = stack.policy_text()
    edited = declared.replace(
        '"grants": [',
        '"grants": [\n    {"src": ["bob@example.com"], "dst": ["tag:aperture"], "ip": ["443"]},',
        1,
    )
    assert edited != declared
    stack.api("POST", "/api/v2/tailnet/-/acl", edited, "application/hujson")
    preview = stack.pulumi("preview", "--refresh", "--diff")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert "tailscale:index/acl:Acl" in preview.stdout and "bob@example.com" in preview.stdout
    repaired = stack.pulumi("up", "--refresh", "--yes")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "bob@example.com" not in stack.policy_text()


def test_an_aperture_provider_removed_by_hand_is_reported_and_repaired(
    stack: SandboxStack, deployed: dict[str, Any]
) -> None:
    text, etag = stack.aperture_config()
    assert '"spark"' in text
    # As a person in the dashboard would: drop the provider and the user grant that names it
    # (Aperture refuses a grant whose models pattern names no provider).
    edited = unmerge(text, ["spark"])
    assert '"spark"' not in edited
    status, body = stack.put_aperture_config(edited, etag)
    assert status == 200, body
    preview = stack.pulumi("preview", "--refresh")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert "gateway-config update" in preview.stdout, preview.stdout
    repaired = stack.pulumi("up", "--refresh", "--yes")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert '"spark"' in stack.aperture_config()[0]


def test_a_container_stopped_by_hand_is_reported_and_repaired(
    stack: SandboxStack, deployed: dict[str, Any]
) -> None:
    stopped = stack.ssh("sudo docker stop vllm-spark")
    assert stopped.returncode == 0, stopped.stderr
    preview = stack.pulumi("preview", "--refresh")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert "spark-vllm replace" in preview.stdout and "spark-state replace" in preview.stdout, preview.stdout
    stack.mark()
    repaired = stack.pulumi("up", "--refresh", "--yes")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "running" in stack.ssh("sudo docker inspect -f '{{.State.Status}}' vllm-spark").stdout
    rerun = remote_commands(stack.since_mark())
    assert any("export VLLM_COMMAND" in c for c in rerun), "the container step did not run again"
    assert not any("export TS_HOSTNAME" in c for c in rerun), "repairing the container re-ran the join"
    status, listing = stack.gateway("/v1/models", MODEL_USER)
    assert status == 200, listing


def test_tailscale_refuses_a_later_edit_that_opens_the_model_port(
    stack: SandboxStack, deployed: dict[str, Any]
) -> None:
    policy = policy_for(stack.config())
    bypass = policy.with_changes(
        grants=(*policy.grants, Grant(src=("autogroup:member",), dst=("tag:gpu",), ip=("tcp:8000",)))
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        stack.api("POST", "/api/v2/tailnet/-/acl", render(bypass), "application/hujson")
    assert info.value.code == 400
    assert json.loads(info.value.read())["message"] == "test(s) failed"


def test_a_policy_that_blocks_gateway_to_server_gives_the_red_x(
    stack: SandboxStack, deployed: dict[str, Any]
) -> None:
    """Drop the gateway -> GPU grant (and the test that pins it) by hand: the gateway answers 502."""
    declared = stack.policy_text()
    policy = policy_for(stack.config())
    blocked = policy.with_changes(
        grants=tuple(g for g in policy.grants if g.src != ("tag:aperture",)),
        tests=tuple(t for t in policy.tests if t.src != "tag:aperture"),
    )
    stack.api("POST", "/api/v2/tailnet/-/acl", render(blocked), "application/hujson")
    try:
        request = {"model": model_id(stack), "messages": [{"role": "user", "content": "x"}]}
        status, body = stack.gateway("/v1/chat/completions", MODEL_USER, request)
        assert status == 502, body
    finally:
        stack.api("POST", "/api/v2/tailnet/-/acl", declared, "application/hujson")


def test_changing_the_model_reruns_only_the_container_and_readiness(
    stack: SandboxStack, deployed: dict[str, Any]
) -> None:
    stack_file = stack.project / "Pulumi.sandbox.yaml"
    text = stack_file.read_text()
    new_model = "Qwen/Qwen3-30B-A3B-FP8"
    stack_file.write_text(text.replace("Qwen/Qwen3.6-35B-A3B-FP8", new_model))
    stack.mark()
    result = stack.stack_sh("up")
    assert result.returncode == 0, result.stdout + result.stderr
    calls = stack.since_mark()
    commands = remote_commands(calls)
    ran = [
        marker for marker in ("export VLLM_COMMAND", "export BASE_URL") if any(marker in c for c in commands)
    ]
    assert ran == ["export VLLM_COMMAND", "export BASE_URL"], commands  # the container step, then readiness
    assert not any(
        m in c
        for c in commands
        for m in ("# Preflight", "# Install Tailscale", "export TS_HOSTNAME", "export SSH_PORT")
    )
    puts = [c for c in calls if c["service"] == "aperture" and c.get("method") == "PUT"]
    assert len(puts) == 1, puts
    status, listing = stack.gateway("/v1/models", MODEL_USER)
    assert status == 200 and [m["id"] for m in listing["data"]] == [new_model], listing


def test_destroy_leaves_the_sandbox_as_it_was_and_revokes_the_keys(
    stack: SandboxStack, deployed: dict[str, Any]
) -> None:
    """Last: what the user owned before (other Aperture providers) stays; what the stack made goes."""
    key_ids = [r["id"] for r in stack.resources() if r["type"] == "tailscale:index/tailnetKey:TailnetKey"]
    ip = stack.outputs()["spark_tailnet_ip"]
    result = stack.pulumi("destroy", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    after = stack.aperture_config()[0]
    before = hujson.loads(deployed["aperture_before"])
    assert set(hujson.loads(after)["providers"]) == set(before["providers"])
    assert stack.policy_text() == deployed["policy_before"]
    for key_id in key_ids:
        with pytest.raises(urllib.error.HTTPError) as info:
            stack.api("GET", f"/api/v2/tailnet/-/keys/{key_id}")
        assert info.value.code == 404
    assert (
        "missing"
        in stack.ssh(
            "sudo docker inspect -f '{{.State.Status}}' vllm-spark 2>/dev/null || echo missing"
        ).stdout
    )
    with socket.socket() as probe:
        assert probe.connect_ex((ip, 8000)) != 0, "vLLM still listens"
    assert stack.resources() == []
