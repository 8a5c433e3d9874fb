"""The guardrail forms of issue 22 in a production preview (`make preview`), through the real engine:
keys in another letter case, a GPU server's LAN address (`hosts[].address`, here 127.0.0.1) and a
login pattern in an Aperture admin grant are each refused with a mandatory finding; their
look-alikes (an admin, another LAN address, one login) preview with none.
"""

from __future__ import annotations

import json

import pytest
import yaml

from testing.sandbox_stack import SandboxStack
from tests.integration.test_previews import findings

pytestmark = pytest.mark.engine

ALICE = "alice@example.com"
ADMIN = "admin@example.com"


def preview_forms(
    stack: SandboxStack, name: str, ssh_src: str, lan_dst: str, extra_admin: str
) -> tuple[int, str]:
    """`make preview` of `Pulumi.<name>.yaml`: the sandbox stack in production, whose base policy lets
    `ssh_src` into the GPU servers by Tailscale SSH (keys capitalised) and alice reach `lan_dst` on the
    model port, and whose Aperture grants make `extra_admin` an admin too; (exit code, output)."""
    base = {
        "SSH": [{"Action": "accept", "Src": [ssh_src], "Dst": ["tag:gpu"], "Users": ["root"]}],
        "grants": [{"src": [ALICE], "dst": [lan_dst], "ip": ["tcp:8000"]}],
    }
    (stack.project / f"{name}.hujson").write_text(json.dumps(base, indent=2))
    document = yaml.safe_load((stack.project / "Pulumi.sandbox.yaml").read_text())
    document.pop("encryptionsalt", None)  # a new stack gets a salt of its own
    config = document["config"]
    config["sovereign-ai:environment"] = "production"
    config["sovereign-ai:tailnet"]["basePolicy"] = f"{name}.hujson"
    config["sovereign-ai:gateway"]["grants"] = [
        {"src": [ADMIN], "role": "admin", "models": "**"},
        {"src": [extra_admin], "role": "admin"},
        {"src": ["group:ai-users"], "role": "user", "models": "spark/**"},
    ]
    (stack.project / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    result = stack.stack_sh("preview", name)
    return result.returncode, result.stdout + result.stderr


def test_the_three_forms_are_refused_in_a_production_preview(stack: SandboxStack) -> None:
    code, output = preview_forms(stack, "forms", ALICE, "127.0.0.1", "*@example.com")
    assert code != 0, output
    mandatory = {found[1] for found in findings(output) if found[0] == "mandatory"}
    assert {"tailnet-ssh-admins-only", "tailnet-gpu-address-rules", "aperture-no-wildcard-admin"} <= mandatory
    assert "Tailscale SSH from alice@example.com into tag:gpu; only admins may" in output
    assert "which contains a GPU server's LAN address (127.0.0.1, sovereign-ai:hosts[].address)" in output
    assert "gives the Aperture admin role to *@example.com" in output


def test_their_look_alikes_pass(stack: SandboxStack) -> None:
    code, output = preview_forms(stack, "look-alikes", ADMIN, "127.0.0.2", "ops@example.com")
    assert code == 0, output
    assert [f for f in findings(output) if f[0] == "mandatory"] == [], output
