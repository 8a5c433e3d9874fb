"""`aperture-keeps-deployer-admin`: a grants change that drops an identity that deploys (an admin, the
deploy tag) from the Aperture admin role is refused, mandatory in development and production, with
the grant to keep; the look-alikes that keep it pass."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import proto

from policies import lockout
from policies.common import APERTURE_CONFIG
from testing.policies import config_with, resource_args, run_policy, set_stack_config
from tests.policies.test_enforcement import analyzer

WHO = 'Aperture config "gateway"'
CAP = "tailscale.com/cap/aperture"
ADMIN = "admin@example.com"
OPS = "ops@example.com"
TAILNET = {
    "admins": [ADMIN, OPS],
    "modelUsers": ["alice@example.com"],
    "groups": {"group:admins": [ADMIN, OPS]},
}


def grant(src: list[str], role: str = "admin") -> dict[str, Any]:
    return {"src": src, "app": {CAP: [{"role": role}]}}


def refused(grants: list[dict[str, Any]]) -> list[str]:
    return run_policy(
        lockout.aperture_keeps_deployer_admin, resource_args(APERTURE_CONFIG, {"grants": grants}, "gateway")
    )


@pytest.fixture(autouse=True)
def two_admins(monkeypatch: pytest.MonkeyPatch) -> None:
    set_stack_config(monkeypatch, config_with(tailnet=TAILNET))


def keep_text(who: str, keep: str, tag: bool = False) -> str:
    return (
        f"{WHO} grants: after this deploy {who} would no longer hold the Aperture admin role, so every later "
        "deploy as them, the one that would put it back included, gets 403 from Aperture (its dashboard "
        "refuses such a save; a config write does not); keep the admin grant "
        f"{{src: [{keep}], role: admin}} in sovereign-ai:gateway.grants (without gateway.grants the program "
        "writes it for sovereign-ai:tailnet.admins"
        + (" and sovereign-ai:tailnet.deployTag" if tag else "")
        + ")"
    )


def test_dropping_an_admin_is_refused_naming_the_grant_to_keep() -> None:
    assert refused([grant([ADMIN]), grant([OPS], "user")]) == [keep_text(OPS, f'"{OPS}"')]


# id: grants that keep every deployer an admin
KEPT = {
    "both-listed": [grant([OPS]), grant([ADMIN])],
    "wildcard": [grant(["*"])],
}


@pytest.mark.parametrize("grants", KEPT.values(), ids=KEPT.keys())
def test_grants_that_keep_the_deployers_pass(grants: list[dict[str, Any]]) -> None:
    assert refused(grants) == []


def test_the_deploy_tag_is_a_deployer(monkeypatch: pytest.MonkeyPatch) -> None:
    set_stack_config(monkeypatch, config_with(tailnet={**TAILNET, "deployTag": "tag:deploy"}))
    assert refused([grant([ADMIN, OPS])]) == [keep_text("tag:deploy", '"tag:deploy"', tag=True)]
    assert refused([grant([ADMIN, OPS, "tag:deploy"])]) == []


def test_a_group_holds_the_role_only_where_aperture_sees_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    group_admins = [grant(["group:admins"])]
    assert refused(group_admins) == [keep_text(f"{ADMIN}, {OPS}", f'"{ADMIN}", "{OPS}"')]
    set_stack_config(monkeypatch, config_with(tailnet=TAILNET, gateway={"visibleGroups": True}))
    assert refused(group_admins) == []


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


@pytest.mark.parametrize("environment", ["development", "production"])
def test_the_lockout_is_mandatory_in_every_environment(
    monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    set_stack_config(monkeypatch, config_with(environment=environment, tailnet=TAILNET))
    request = proto.AnalyzeRequest(
        urn="urn:pulumi:dev::sovereign-ai::pulumi-python:dynamic/aperture:Config::gateway-config",
        type=APERTURE_CONFIG,
        name="gateway-config",
        properties=struct({"providers": {}, "grants": [grant([ADMIN])]}),
    )
    response = analyzer({"all": "advisory"}).Analyze(request, None)
    levels = {(d.policyName, proto.EnforcementLevel.Name(d.enforcementLevel)) for d in response.diagnostics}
    assert ("aperture-keeps-deployer-admin", "MANDATORY") in levels
