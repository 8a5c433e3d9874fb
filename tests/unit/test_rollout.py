"""Rolling updates without the engine: which hosts roll, the drain's document edits, the program's chain."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import hujson
from components.gateway.routing import RoutingError, drained, live_entry, other_providers, restored
from config.fleet import rolling_groups
from config.model import ConfigError, parse_config
from tests.unit.program_harness import run_program
from tests.unit.test_program import RAW, SECRETS

SPARK_2 = {"name": "spark-2", "address": "192.168.1.51", "hostKey": "ssh-ed25519 AAAATEST2"}
ROLL_STEPS = ("drain", "drain-wait", "roll-ready", "restore")


def two_sparks(**second: Any) -> dict[str, Any]:
    raw = copy.deepcopy(RAW)
    raw["hosts"].append({**SPARK_2, **second})
    return raw


def parsed(raw: dict[str, Any]) -> Any:
    return parse_config({**raw, "secrets": {"sshPrivateKey": True}})


def test_hosts_serving_one_model_roll_together_in_config_order() -> None:
    raw = two_sparks()
    raw["hosts"].append({"name": "spark-3", "address": "192.168.1.52", "servedModelName": "other"})
    groups = rolling_groups(parsed(raw).hosts)
    assert [[h.name for h in group] for group in groups] == [["spark", "spark-2"]]


@pytest.mark.parametrize(
    "second",
    [{"servedModelName": "qwen-2"}, {"rollingUpdate": False}],
    ids=["another-model", "opted-out"],
)
def test_a_host_alone_or_opted_out_does_not_roll(second: dict[str, Any]) -> None:
    assert rolling_groups(parsed(two_sparks(**second)).hosts) == []


def test_a_grant_naming_only_one_rolling_host_is_refused_with_the_key_and_fix() -> None:
    raw = two_sparks()
    raw["gateway"] = {
        "grants": [
            {"src": ["admin@example.com"], "role": "admin", "models": "**"},
            {"src": ["group:ai-users"], "role": "user", "models": "spark-2/**"},
        ]
    }
    with pytest.raises(ConfigError) as info:
        parsed(raw)
    message = str(info.value)
    assert "gateway.grants[1].models: 'spark-2/**' names only provider 'spark-2'" in message
    assert "'spark*/**'" in message and "rollingUpdate: false" in message
    raw["gateway"]["grants"][1]["models"] = "spark*/**"
    parsed(raw)


LIVE = """{
  // kept as it is
  "providers": {
    "spark": {"baseurl": "http://100.64.0.5:8000", "models": ["qwen"], "apikey": "<redacted>"},
    "spark-2": {"baseurl": "http://100.64.0.6:8000", "models": ["qwen"], "apikey": "<redacted>"},
  },
  "grants": [],
}
"""


def test_a_drain_removes_only_its_provider_and_keeps_the_rest_of_the_document() -> None:
    text = drained(LIVE, "spark", "qwen")
    assert list(hujson.loads(text)["providers"]) == ["spark-2"]
    assert "// kept as it is" in text
    assert drained(text, "spark", "qwen") == text, "draining twice changes nothing"


def test_a_drain_never_leaves_a_model_without_a_provider() -> None:
    alone = drained(LIVE, "spark", "qwen")
    with pytest.raises(RoutingError) as info:
        drained(alone, "spark-2", "qwen")
    assert "draining spark-2: no other provider in the gateway serves qwen" in str(info.value)


def test_a_new_model_id_counts_a_peer_already_serving_it() -> None:
    """Renaming the served model: spark serves the new id, so spark-2 (still the old one) may go."""
    renamed = restored(
        drained(LIVE, "spark", "qwen-next"),
        "spark",
        {"baseurl": "http://100.64.0.5:8000", "models": ["qwen-next"]},
    )
    assert other_providers(renamed, "spark-2", "qwen-next") == ["spark"]
    assert list(hujson.loads(drained(renamed, "spark-2", "qwen-next"))["providers"]) == ["spark"]


def test_a_restore_keeps_what_the_gateway_config_wrote_and_never_a_redacted_key() -> None:
    """Fields the drain found (e.g. pricing the gateway config writes) come back; the host's own
    entry wins; the redacted key is never written back."""
    priced = LIVE.replace(
        '"models": ["qwen"], "apikey"', '"models": ["qwen"], "price": {"input": 1}, "apikey"', 1
    )
    before = live_entry(priced, "spark")
    assert before == {"baseurl": "http://100.64.0.5:8000", "models": ["qwen"], "price": {"input": 1}}
    entry = {"baseurl": "http://100.64.0.9:8000", "models": ["qwen"], "apikey": "sk-real"}
    back = hujson.loads(restored(drained(priced, "spark", "qwen"), "spark", entry, before))["providers"][
        "spark"
    ]
    assert back == {
        "baseurl": "http://100.64.0.9:8000",
        "models": ["qwen"],
        "apikey": "sk-real",
        "price": {"input": 1},
    }
    assert live_entry(priced, "absent") is None


def test_a_single_host_stack_registers_no_roll_step() -> None:
    mocks, _ = run_program(RAW, SECRETS)
    names = [r.name for r in mocks.resources]
    assert not [n for n in names if n.endswith(tuple(f"-{s}" for s in ROLL_STEPS))], names
    assert mocks.depends_on["gateway-config"] == []


def test_a_rolling_group_is_one_chain_of_dependencies() -> None:
    mocks, _ = run_program(two_sparks(), SECRETS)
    deps = mocks.depends_on
    assert deps["spark-drain"] == ["spark-state"]
    assert deps["spark-drain-wait"] == ["spark-drain"]
    assert deps["spark-vllm"] == ["spark-firewall", "spark-state", "spark-drain-wait"]
    assert deps["spark-roll-ready"] == ["spark-vllm"]
    assert deps["spark-restore"] == ["spark-roll-ready"]
    assert deps["spark-2-drain"] == ["spark-2-state", "spark-restore"], "spark-2 waits for spark"
    assert deps["gateway-config"] == ["spark-restore", "spark-2-restore"]
    drain = mocks.named("spark-2-drain").inputs
    assert (drain["provider_id"], drain["routed"]) == ("spark-2", False)
    assert drain["revision"] == mocks.named("spark-2-vllm").inputs["triggers"]


def test_roll_steps_do_nothing_on_create_and_act_on_a_new_revision() -> None:
    mocks, _ = run_program(two_sparks(), SECRETS)
    for step in ("drain-wait", "roll-ready"):
        inputs = mocks.named(f"spark-{step}").inputs
        assert inputs["create"].startswith(f"echo '{step}: nothing to do on create")
        assert inputs["update"].startswith("export REVISION=")
    assert "wait_drained" not in mocks.named("spark-drain-wait").inputs["create"]
    assert "Wait until vLLM has no request running" in mocks.named("spark-drain-wait").inputs["update"]
