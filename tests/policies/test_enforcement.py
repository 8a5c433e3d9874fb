"""Enforcement by environment: production is mandatory whatever the policy config says, development
advisory. Driven through pulumi-policy's own analyzer servicer (`Configure`, then `Analyze` /
`AnalyzeStack`), with the policy config reconciled the way the engine does it, and once through the
real pack process over gRPC."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel
from pulumi_policy import policy as sdk
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE

from policies import enforcement
from policies.common import APERTURE_CONFIG, TAILNET_KEY
from testing.policies import all_policies, config_with, rule_modules, set_stack_config

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "policies"
LEVELS = {
    "advisory": proto.ADVISORY,
    "mandatory": proto.MANDATORY,
    "remediate": proto.REMEDIATE,
    "disabled": proto.DISABLED,
}
REUSABLE_KEY = {"reusable": True, "preauthorized": True, "tags": ["tag:gpu"], "expiry": 3600}
CAP = "tailscale.com/cap/aperture"


def struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(dict(values))
    return message


def configure_request(info: Any, config: Mapping[str, Any]) -> Any:
    """The `Configure` request the engine sends for a `--policy-pack-config` file: every policy gets
    its default level from `GetAnalyzerInfo`, then `"all"`, then its own entry (ReconcilePolicyPackConfig)."""
    levels = {policy.name: policy.enforcementLevel for policy in info.policies}
    properties: dict[str, dict[str, Any]] = {name: {} for name in levels}
    if "all" in config:
        levels = dict.fromkeys(levels, LEVELS[config["all"]])
    for name, value in config.items():
        if name == "all" or name not in levels:
            continue
        if isinstance(value, str):
            levels[name] = LEVELS[value]
            continue
        if "enforcementLevel" in value:
            levels[name] = LEVELS[value["enforcementLevel"]]
        properties[name] = {k: v for k, v in value.items() if k != "enforcementLevel"}
    return proto.ConfigureAnalyzerRequest(
        policyConfig={
            name: proto.PolicyConfig(enforcementLevel=level, properties=struct(properties[name]))
            for name, level in levels.items()
        }
    )


def analyzer(config: Mapping[str, Any], locked: bool = True) -> Any:
    """The pack's analyzer as `PolicyPack` builds it, configured as the engine would configure it."""
    servicer_class = enforcement.EnvironmentLockedAnalyzer if locked else sdk._PolicyAnalyzerServicer
    servicer = servicer_class("sovereign-ai", "0.1.0", all_policies(), EnforcementLevel.MANDATORY)
    servicer.Configure(configure_request(servicer.GetAnalyzerInfo(None, None), config), None)
    return servicer


def analyze_key(servicer: Any, props: Mapping[str, Any] = REUSABLE_KEY) -> list[tuple[str, str]]:
    request = proto.AnalyzeRequest(
        urn="urn:pulumi:prod::sovereign-ai::tailscale:index/tailnetKey:TailnetKey::spark-key",
        type=TAILNET_KEY,
        name="spark-key",
        properties=struct(props),
    )
    response = servicer.Analyze(request, None)
    return [(d.policyName, proto.EnforcementLevel.Name(d.enforcementLevel)) for d in response.diagnostics]


def config_file(name: str) -> dict[str, Any]:
    return json.loads((PACK / "config" / f"{name}.json").read_text())


HOSTILE_CONFIGS = {
    "all-disabled": {"all": "disabled"},
    "all-advisory": {"all": "advisory"},
    "policy-disabled": {"all": "mandatory", "auth-key-single-use": "disabled"},
    "policy-advisory": {"auth-key-single-use": {"enforcementLevel": "advisory"}},
    "development-file": config_file("development"),
}


@pytest.mark.parametrize(
    ("configured", "production", "expected"),
    [
        (EnforcementLevel.DISABLED, True, EnforcementLevel.MANDATORY),
        (EnforcementLevel.ADVISORY, True, EnforcementLevel.MANDATORY),
        (EnforcementLevel.MANDATORY, True, EnforcementLevel.MANDATORY),
        (EnforcementLevel.MANDATORY, False, EnforcementLevel.ADVISORY),
        (EnforcementLevel.DISABLED, False, EnforcementLevel.ADVISORY),
    ],
)
def test_effective_level_follows_the_environment_not_the_config(
    configured: EnforcementLevel, production: bool, expected: EnforcementLevel
) -> None:
    assert enforcement.effective_level(configured, production) is expected


@pytest.mark.parametrize("production", [True, False], ids=["production", "development"])
def test_fixed_levels_hold_in_every_environment(production: bool) -> None:
    """The deployer lockout guard is mandatory and the budget advice advisory, whatever the stack."""
    lockout = enforcement.effective_level(
        EnforcementLevel.ADVISORY, production, "aperture-keeps-deployer-admin"
    )
    budget = enforcement.effective_level(
        EnforcementLevel.MANDATORY, production, "aperture-model-grant-budget"
    )
    assert (lockout, budget) == (EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY)


@pytest.mark.parametrize("config", HOSTILE_CONFIGS.values(), ids=HOSTILE_CONFIGS.keys())
def test_auth_key_single_use_rejects_as_mandatory_in_production_whatever_the_config(
    config: dict[str, Any],
) -> None:
    assert analyze_key(analyzer(config)) == [("auth-key-single-use", "MANDATORY")]


def test_unlocked_analyzer_would_let_the_config_disable_production() -> None:
    """What the lock prevents: pulumi-policy alone skips a policy the config disables."""
    assert analyze_key(analyzer({"all": "disabled"}, locked=False)) == []
    assert analyze_key(analyzer({"all": "advisory"}, locked=False)) == [("auth-key-single-use", "ADVISORY")]


def test_production_config_file_is_mandatory_and_configures_the_expiry_limit() -> None:
    servicer = analyzer(config_file("production"))
    assert analyze_key(servicer, {**REUSABLE_KEY, "reusable": False, "expiry": 86401}) == [
        ("auth-key-short-expiry", "MANDATORY")
    ]


@pytest.mark.parametrize("config", [{"all": "mandatory"}, {"all": "disabled"}, config_file("development")])
def test_auth_key_single_use_rejects_as_advisory_in_development(
    monkeypatch: pytest.MonkeyPatch, config: dict[str, Any]
) -> None:
    set_stack_config(monkeypatch, config_with(environment="development"))
    assert analyze_key(analyzer(config)) == [("auth-key-single-use", "ADVISORY")]


@pytest.mark.parametrize("environment", [None, "prod", "staging"])
def test_auth_key_single_use_rejects_as_mandatory_without_a_clear_environment(
    monkeypatch: pytest.MonkeyPatch, environment: str | None
) -> None:
    set_stack_config(monkeypatch, config_with(environment=environment))
    assert analyze_key(analyzer({"all": "advisory"})) == [("auth-key-single-use", "MANDATORY")]


def test_unknown_value_stays_advisory_in_production() -> None:
    servicer = analyzer(config_file("production"))
    response = servicer.Analyze(
        proto.AnalyzeRequest(
            urn="urn:x",
            type=TAILNET_KEY,
            name="spark-key",
            properties=struct({**REUSABLE_KEY, "reusable": UNKNOWN_BOOLEAN_VALUE}),
        ),
        None,
    )
    assert [
        (d.policyName, proto.EnforcementLevel.Name(d.enforcementLevel), d.message)
        for d in response.diagnostics
    ] == [
        (
            "auth-key-single-use",
            "ADVISORY",
            "can't run policy 'auth-key-single-use' from policy pack 'sovereign-ai@v0.1.0' during preview: "
            'boolean value at .reusable can\'t be known during preview; auth key "spark-key" is checked again '
            "during `pulumi up`, once the value is known",
        )
    ]


def test_aperture_effective_no_wildcard_admin_rejects_as_mandatory_in_production_when_config_disables_it() -> (
    None
):
    servicer = analyzer({"all": "disabled"})
    resource = proto.AnalyzerResource(
        urn="urn:pulumi:prod::sovereign-ai::pulumi-python:dynamic/aperture:Config::gateway",
        type=APERTURE_CONFIG,
        name="gateway",
        properties=struct(
            {
                "providers": {},
                "grants": [],
                "effective_grants": [{"src": ["*"], "app": {CAP: [{"role": "admin"}]}}],
            }
        ),
    )
    response = servicer.AnalyzeStack(proto.AnalyzeStackRequest(resources=[resource]), None)
    assert [
        (d.policyName, proto.EnforcementLevel.Name(d.enforcementLevel)) for d in response.diagnostics
    ] == [("aperture-effective-no-wildcard-admin", "MANDATORY")]


def test_install_makes_policy_pack_build_the_locked_analyzer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sdk, "_PolicyAnalyzerServicer", sdk._PolicyAnalyzerServicer)
    enforcement.install()
    assert sdk._PolicyAnalyzerServicer is enforcement.EnvironmentLockedAnalyzer


def test_install_refuses_an_sdk_without_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(sdk, "_PolicyAnalyzerServicer")
    with pytest.raises(RuntimeError) as raised:
        enforcement.install()
    assert str(raised.value) == (
        "pulumi-policy 1.21.0 no longer builds its analyzer through _PolicyAnalyzerServicer."
        "_get_enforcement_level, so the production lock cannot be installed; pin pulumi-policy==1.21.0 in "
        "policies/requirements.txt or port policies/enforcement.py"
    )


def test_main_installs_the_lock_then_builds_the_pack_last_from_every_rule_module() -> None:
    tree = ast.parse((PACK / "__main__.py").read_text())
    calls = [
        node.value for node in tree.body if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
    ]
    assert [ast.unparse(call.func) for call in calls] == ["enforcement.install", "PolicyPack"]
    assert isinstance(tree.body[-1], ast.Expr) and tree.body[-1].value is calls[-1]
    policies = next(k.value for k in calls[-1].keywords if k.arg == "policies")
    modules = [module.__name__.rsplit(".", 1)[1] for module in rule_modules()]
    assert ast.unparse(policies) == "[" + ", ".join(f"*{m}.POLICIES" for m in modules) + "]"


# -- the real pack process ---------------------------------------------------------------------------


@pytest.fixture
def pack_process() -> Iterator[tuple[Any, float]]:
    """The pack started as the engine starts it (`python -m pulumi.policy <engine> <pack dir>` in the
    pack's own venv) on a production stack; yields an Analyzer stub and the seconds it took to serve."""
    python = PACK / "venv" / "bin" / "python"
    if not python.exists():
        pytest.fail("policies/venv is not set up: run `make setup`")
    env = {
        **os.environ,
        "PULUMI_CONFIG": json.dumps({"sovereign-ai:environment": "production"}),
        "PULUMI_PROJECT": "sovereign-ai",
        "PULUMI_STACK": "prod",
        "PULUMI_DRY_RUN": "false",
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(python), "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=PACK,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        if not port:
            assert process.stderr is not None
            pytest.fail(f"the pack did not start: {process.stderr.read().decode()[-2000:]}")
        loaded = time.perf_counter() - started
        channel = grpc.insecure_channel(f"127.0.0.1:{int(port)}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel), loaded
        channel.close()
    finally:
        process.kill()
        process.wait(timeout=10)


def test_pack_process_keeps_production_mandatory_when_config_disables_everything(
    pack_process: tuple[Any, float],
) -> None:
    stub, loaded = pack_process
    print(f"\npolicy pack process served gRPC after {loaded:.2f} s", file=sys.stderr)
    info = stub.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "sovereign-ai"
    assert sorted(p.name for p in info.policies) == sorted(p.name for p in all_policies())
    stub.Configure(configure_request(info, {"all": "disabled"}))
    response = stub.Analyze(
        proto.AnalyzeRequest(urn="urn:x", type=TAILNET_KEY, name="spark-key", properties=struct(REUSABLE_KEY))
    )
    assert [
        (d.policyName, proto.EnforcementLevel.Name(d.enforcementLevel)) for d in response.diagnostics
    ] == [("auth-key-single-use", "MANDATORY")]
