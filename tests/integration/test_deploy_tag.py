"""`tailnet.deployTag: tag:deploy` through the real engine: CI deploys as a tagged machine.

One sandbox stack with the deploy tag, deployed once by `scripts/stack.sh up` (= `make up`) with the
policy pack. The policy file in the emulated Tailscale gives the tag SSH to the GPU servers and the
gateway, owned by the admins, with tests that deny it the model port (so Tailscale refuses a hand
edit that opens it); the Aperture config written
gives it the admin role and no model. A production preview whose base policy lets someone else own
the deploy tag is refused before any resource is planned (the program's merge refuses the base
policy; the pack's `tailnet-deploy-tag-owned-by-admins`, which refuses the same in any policy file,
is tested in tests/policies/test_deploy.py). Tests run in file order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

import hujson
from tailnet_policy.policy_file import Grant, PolicyTest, parse, render
from testing.sandbox_stack import SandboxStack

pytestmark = pytest.mark.engine

DEPLOY_TAG = "tag:deploy"
CAP = "tailscale.com/cap/aperture"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxStack]:
    """The sandbox stack with `tailnet.deployTag: tag:deploy`, deployed once."""
    running = SandboxStack.start(tmp_path_factory.mktemp("deploy-tag"))
    try:
        running.set_tailnet(deployTag=DEPLOY_TAG)
        result = running.stack_sh("up")
        assert result.returncode == 0, result.stdout + result.stderr
        for finding in ("tailnet-deploy-tag", "tailnet-ssh-admins-only", "tailnet-generated-tests"):
            assert finding not in result.stdout, result.stdout  # the generated policy passes the pack
        yield running
    finally:
        running.stop()


def test_the_tailnet_policy_gives_the_deploy_tag_ssh_and_the_gateway_owned_by_the_admins(
    stack: SandboxStack,
) -> None:
    policy = parse(stack.policy_text())
    assert policy.tag_owners[DEPLOY_TAG] == ("admin@example.com",)
    deploy_grants = [grant for grant in policy.grants if DEPLOY_TAG in grant.src]
    assert deploy_grants == [
        Grant(src=(DEPLOY_TAG,), dst=("tag:gpu",), ip=("tcp:22",)),
        Grant(src=(DEPLOY_TAG,), dst=("tag:aperture",), ip=("tcp:80", "tcp:443")),
    ]
    assert [test for test in policy.tests if test.src == DEPLOY_TAG] == [
        PolicyTest(
            src=DEPLOY_TAG,
            accept=("tag:gpu:22", "tag:aperture:80", "tag:aperture:443"),
            deny=("tag:gpu:8000",),
        )
    ]


def test_tailscale_refuses_a_hand_edit_that_opens_the_model_port_to_the_deploy_tag(
    stack: SandboxStack,
) -> None:
    """The generated tests run on every save: the emulated Tailscale answers as Tailscale does."""
    policy = parse(stack.policy_text())
    opened = policy.with_changes(
        grants=(*policy.grants, Grant(src=(DEPLOY_TAG,), dst=("tag:gpu",), ip=("tcp:8000",)))
    )
    answer = stack.api("POST", "/api/v2/tailnet/-/acl/validate", render(opened), "application/hujson")
    assert answer == {
        "message": "test(s) failed",
        "data": [{"user": DEPLOY_TAG, "errors": ['address "tag:gpu:8000": want: Drop, got: Accept']}],
    }


def test_aperture_gives_the_deploy_tag_the_admin_role_and_no_model(stack: SandboxStack) -> None:
    grants: list[dict[str, Any]] = hujson.loads(stack.aperture_config()[0])["grants"]
    assert {"src": [DEPLOY_TAG], "app": {CAP: [{"role": "admin"}]}} in grants
    status, document = stack.gateway("/aperture/config", DEPLOY_TAG)
    assert status == 200, document  # the admin API: what the deploy writes with
    status, models = stack.gateway("/v1/models", DEPLOY_TAG)
    assert (status, models["data"]) == (200, []), models  # and no model to call


def test_a_production_preview_with_the_deploy_tag_owned_by_someone_else_is_refused(
    stack: SandboxStack,
) -> None:
    document = yaml.safe_load((stack.project / "Pulumi.sandbox.yaml").read_text())
    document.pop("encryptionsalt", None)  # a new stack gets a salt of its own
    config = document["config"]
    config["sovereign-ai:environment"] = "production"
    config["sovereign-ai:tailnet"]["basePolicy"] = "deploy-base.hujson"
    (stack.project / "deploy-base.hujson").write_text(
        json.dumps({"tagOwners": {DEPLOY_TAG: ["alice@example.com"]}})
    )
    (stack.project / "Pulumi.prod-deploy.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    result = stack.stack_sh("preview", "prod-deploy")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "production guardrails: policies/config/production.json" in output
    assert (
        "sovereign-ai:tailnet.basePolicy: deploy-base.hujson: tagOwners['tag:deploy'] is "
        "['alice@example.com'] in deploy-base.hujson but ['admin@example.com'] from "
        "sovereign-ai:tailnet.admins: make them the same, or remove it from deploy-base.hujson"
    ) in output, output
    assert "Traceback" not in output
