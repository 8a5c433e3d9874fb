"""`make preview STACK=...` per environment: the policy pack's verdict follows the stack's environment.

Through `scripts/stack.sh` (what `make preview`/`make up` run after setup) on stacks made from the
sandbox stack file: an insecure config fails in production with the mandatory findings and passes
in development with them as advisories; the happy-path production stack, once deployed, previews
with zero findings.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from testing.sandbox_stack import SandboxStack

pytestmark = pytest.mark.engine

INSECURE_GRANTS = '    grants: [{src: ["*"], role: admin, models: "**"}]\n'


def stack_file(stack: SandboxStack, name: str, environment: str, insecure: bool) -> Path:
    """`Pulumi.<name>.yaml`: the sandbox stack's config as `environment`, optionally with wide grants."""
    text = (stack.project / "Pulumi.sandbox.yaml").read_text()
    text = re.sub(r"(?m)^encryptionsalt:.*\n", "", text)  # a new stack gets a salt of its own
    text = text.replace("sovereign-ai:environment: development", f"sovereign-ai:environment: {environment}")
    if insecure:
        text = re.sub(
            r"(?m)^(  sovereign-ai:gateway:\n    url: .*\n)", lambda m: m.group(1) + INSECURE_GRANTS, text
        )
    path = stack.project / f"Pulumi.{name}.yaml"
    path.write_text(text)
    return path


def findings(output: str) -> list[str]:
    return re.findall(r"\[(mandatory|advisory)\]\s+(\S+)", output)


def test_an_insecure_production_stack_fails_with_the_mandatory_findings(stack: SandboxStack) -> None:
    stack_file(stack, "insecure", "production", insecure=True)
    result = stack.stack_sh("preview", "insecure")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "production guardrails: policies/config/production.json" in output
    assert ("mandatory", "aperture-no-wildcard-admin") in findings(output)
    assert ("mandatory", "aperture-no-wildcard-models") in findings(output)
    assert "grant admin only to sovereign-ai:tailnet.admins" in output


def test_the_same_config_in_development_passes_with_advisories(stack: SandboxStack) -> None:
    stack_file(stack, "insecure-dev", "development", insecure=True)
    result = stack.stack_sh("preview", "insecure-dev")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "development guardrails: policies/config/development.json" in output
    assert ("advisory", "aperture-no-wildcard-admin") in findings(output)
    assert not [f for f in findings(output) if f[0] == "mandatory"]


def test_the_happy_path_production_stack_has_zero_findings(stack: SandboxStack) -> None:
    stack_file(stack, "prod", "production", insecure=False)
    deployed = stack.stack_sh("up", "prod")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert not [f for f in findings(deployed.stdout) if f[0] == "mandatory"], deployed.stdout
    result = stack.stack_sh("preview", "prod")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert findings(output) == [], output
    destroyed = stack.pulumi("destroy", "--yes", stack="prod")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
