"""What `__main__.py` registers, under Pulumi mocks (no engine): one behaviour per test."""

from __future__ import annotations

import copy
import json
from typing import Any

import pulumi
import pytest

from tailnet_policy.policy_file import parse
from tailnet_policy.reachability import run_tests
from tests.unit.program_harness import AUTH_KEY, TAILNET_IP, ProgramMocks, run_program
from tests.unit.test_config import HAPPY

RAW: dict[str, Any] = {
    "environment": "development",
    "tailnet": copy.deepcopy(HAPPY["tailnet"]),
    "hosts": [{"name": "spark", "address": "192.168.1.50", "hostKey": "ssh-ed25519 AAAATEST"}],
}
PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nTESTKEY\n-----END OPENSSH PRIVATE KEY-----"
HF_TOKEN = "hf_testtokenneverprinted"
SECRETS = {"sshPrivateKey": PRIVATE_KEY, "huggingfaceToken": HF_TOKEN}


@pytest.fixture(scope="module")
def program() -> tuple[ProgramMocks, dict[str, Any]]:
    return run_program(RAW, SECRETS)


SECRET_SIG = "4dabf18193072939515e22adb298388d"


def secret_value(value: Any) -> Any:
    """The plaintext of a secret input, failing when the input was not marked secret."""
    assert isinstance(value, dict) and SECRET_SIG in value, f"not a secret: {value!r}"
    return value["value"]


def resolve(output: pulumi.Input[Any]) -> Any:
    box: dict[str, Any] = {}

    @pulumi.runtime.test
    def read() -> pulumi.Output[None]:
        return pulumi.Output.from_input(output).apply(lambda v: box.setdefault("value", v))

    read()
    return box["value"]


def test_policy_is_the_rendered_model_with_passing_tests(
    program: tuple[ProgramMocks, dict[str, Any]],
) -> None:
    mocks, _ = program
    acl = mocks.named("tailnet-policy")
    policy = parse(acl.inputs["acl"])
    assert policy.tests, f"{acl.name}: the policy carries no tests"
    assert run_tests(policy) == [], f"{acl.name}: generated tests fail"
    assert acl.inputs["overwriteExistingContent"] is False


def test_auth_key_is_single_use_tagged_preauthorized_short_lived(
    program: tuple[ProgramMocks, dict[str, Any]],
) -> None:
    key = program[0].named("tailnet-spark-key").inputs
    assert (key["reusable"], key["ephemeral"], key["preauthorized"]) == (False, False, True), key
    assert key["tags"] == ["tag:gpu"] and key["expiry"] == 3600 and key["recreateIfInvalid"] == "always"


def test_auth_key_reaches_the_host_on_stdin_only(program: tuple[ProgramMocks, dict[str, Any]]) -> None:
    for command in program[0].of_type("command:remote:Command"):
        for field in ("create", "delete", "environment", "triggers"):
            assert AUTH_KEY not in json.dumps(command.inputs.get(field)), (
                f"{command.name}.{field} holds the key"
            )
    assert secret_value(program[0].named("spark-join").inputs["stdin"]) == AUTH_KEY


def test_no_secret_on_any_command_line(program: tuple[ProgramMocks, dict[str, Any]]) -> None:
    for command in program[0].of_type("command:remote:Command"):
        text = json.dumps([command.inputs.get("create"), command.inputs.get("delete")])
        assert HF_TOKEN not in text and "TESTKEY" not in text, command.name
    assert HF_TOKEN in secret_value(program[0].named("spark-vllm").inputs["stdin"])


def test_container_binds_the_tailnet_address_with_gb10_flags(
    program: tuple[ProgramMocks, dict[str, Any]],
) -> None:
    create = program[0].named("spark-vllm").inputs["create"]
    for expected in (
        f"--host {TAILNET_IP}",
        "--port 8000",
        "--gpu-memory-utilization 0.8",
        "--served-model-name Qwen/Qwen3.6-35B-A3B-FP8",
        "--max-model-len 131072",
    ):
        assert expected in create, f"spark-vllm: {expected!r} missing"
    assert "0.0.0.0" not in create
    script = create.split("\n")
    run = " ".join(line for line in script if "docker run" in line or line.startswith("  "))
    for flag in ("--gpus all", "--ipc host", "--restart unless-stopped", "--env-file"):
        assert flag in run, f"spark-vllm: docker run lacks {flag}"


def test_a_re_minted_key_alone_does_not_re_run_the_join(program: tuple[ProgramMocks, dict[str, Any]]) -> None:
    mocks, _ = program
    assert mocks.ignore_changes["spark-join"] == ["stdin"]
    assert mocks.named("spark-join").inputs["triggers"] == ["spark", "tag:gpu"]
    assert mocks.ignore_changes["spark-vllm"] == []


def test_ssh_host_key_is_pinned(program: tuple[ProgramMocks, dict[str, Any]]) -> None:
    connection = secret_value(program[0].named("spark-preflight").inputs["connection"])
    assert connection["hostKey"] == "ssh-ed25519 AAAATEST"


def test_model_change_is_a_container_trigger_only(program: tuple[ProgramMocks, dict[str, Any]]) -> None:
    mocks, _ = program
    assert "Qwen/Qwen3.6-35B-A3B-FP8" in mocks.named("spark-vllm").inputs["triggers"]
    for name in ("spark-preflight", "spark-join", "spark-firewall"):
        assert "Qwen/Qwen3.6-35B-A3B-FP8" not in json.dumps(mocks.named(name).inputs), name


def test_gateway_provider_entry_has_no_v1(program: tuple[ProgramMocks, dict[str, Any]]) -> None:
    providers = secret_value(program[0].named("gateway-config").inputs["providers"])
    assert providers == {
        "spark": {
            "baseurl": f"http://{TAILNET_IP}:8000",
            "models": ["Qwen/Qwen3.6-35B-A3B-FP8"],
            "apikey": "sovereign-ai-no-key",
            "compatibility": {"openai_chat": True},
        }
    }


def test_gateway_grants_are_in_aperture_shape(program: tuple[ProgramMocks, dict[str, Any]]) -> None:
    grants = program[0].named("gateway-config").inputs["grants"]
    assert grants == [
        {
            "src": ["admin@example.com"],
            "app": {"tailscale.com/cap/aperture": [{"role": "admin"}, {"models": "**"}]},
        },
        {
            "src": ["alice@example.com"],
            "app": {"tailscale.com/cap/aperture": [{"role": "user"}, {"models": "spark/**"}]},
        },
    ]


def test_exports_the_client_settings(program: tuple[ProgramMocks, dict[str, Any]]) -> None:
    outputs = program[1]["root"].outputs
    assert resolve(outputs["client_base_url"]) == "http://ai/v1"
    assert resolve(outputs["client_model_ids"]) == ["Qwen/Qwen3.6-35B-A3B-FP8"]
    assert resolve(outputs["spark_model_base_url"]) == f"http://{TAILNET_IP}:8000"


def test_bad_config_registers_nothing() -> None:
    raw = copy.deepcopy(RAW)
    raw["hosts"][0]["port"] = 22
    with pytest.raises(pulumi.RunError, match=r"port 22 collides with SSH"):
        run_program(raw, SECRETS)


def test_someone_elses_policy_file_is_not_taken_over() -> None:
    with pytest.raises(
        Exception, match=r"overwriteExistingPolicy is false, so the stack will not replace it"
    ):
        run_program(RAW, SECRETS, live_policy='{"grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"]}]}')


def test_someone_elses_policy_file_is_replaced_when_allowed() -> None:
    raw = copy.deepcopy(RAW)
    raw["tailnet"]["overwriteExistingPolicy"] = True
    mocks, _ = run_program(raw, SECRETS, live_policy='{"grants": []}')
    assert mocks.named("tailnet-policy").inputs["overwriteExistingContent"] is True
