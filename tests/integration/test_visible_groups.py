"""`gateway.visibleGroups: true` through the real engine: the group stays, the gateway may see it.

One stack per module, on a sandbox whose tailnet starts with Aperture's visible groups on
(`python -m sandbox up --visible-groups`), deployed once by `scripts/stack.sh up` with the policy
pack. The Aperture grants keep `group:ai-users`, the policy file gives the gateway the
`tailscale.com/visible-groups` node attribute, and alice is served; once the tailnet's feature is off,
`make verify` names the group that Aperture cannot see. Tests run in file order.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import hujson
from sandbox.features import VISIBLE_GROUPS
from tailnet_policy.policy_file import NodeAttr, parse
from testing.engine import ROOT
from testing.sandbox_stack import SandboxStack

pytestmark = pytest.mark.engine

MODEL_USER = "alice@example.com"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxStack]:
    """A sandbox with visible groups on, and the sandbox stack with `gateway.visibleGroups: true`."""
    running = SandboxStack.start(tmp_path_factory.mktemp("visible-groups"), visible_groups=True)
    try:
        running.set_gateway(visibleGroups=True)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def deployed(stack: SandboxStack) -> None:
    result = stack.stack_sh("up")
    assert result.returncode == 0, result.stdout + result.stderr


def verify(stack: SandboxStack) -> subprocess.CompletedProcess[str]:
    """`make verify STACK=sandbox` as alice (the sandbox's stand-in for her device)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "verify.py"), "--stack", "sandbox", "--identity", MODEL_USER],
        cwd=stack.project, env=stack.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_grants_keep_the_group_and_the_policy_lets_the_gateway_see_it(
    stack: SandboxStack, deployed: None
) -> None:
    grants: list[dict[str, Any]] = hujson.loads(stack.aperture_config()[0])["grants"]
    assert [grant["src"] for grant in grants] == [["admin@example.com"], ["group:ai-users"]]
    visible = {"tailscale.com/visible-groups": [{"groups": ["group:ai-users"]}]}
    assert parse(stack.policy_text()).node_attrs == (NodeAttr(target=("tag:aperture",), app=visible),)


def test_a_group_member_is_served(stack: SandboxStack, deployed: None) -> None:
    result = verify(stack)
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_the_tailnet_feature_verify_names_the_hidden_group(
    stack: SandboxStack, deployed: None
) -> None:
    stack.set_feature(VISIBLE_GROUPS, False)
    result = verify(stack)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "FAIL list models: 403 / access denied through the gateway (access denied: no role granted) "
        f"for {MODEL_USER}, a member of group:ai-users"
    ) in result.stderr
    assert "cause: this group is not visible to Aperture" in result.stderr
