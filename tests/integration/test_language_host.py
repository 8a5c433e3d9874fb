"""The project's own Python language host, driven by the real `pulumi` CLI (issue: offline engine, part 1).

A small fixture program (tests/fixtures/engine_program) with config, a secret, dynamic resources and
stack outputs goes through preview, up, a no-op up, refresh, stack output and destroy; programs that
fail show their error once; the policy pack judges a stack by that stack's own environment; a missing
virtualenv is created as upstream's host creates it.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from testing.engine import ROOT, TOOLCHAIN, copy_fixture, ok, pulumi, write_stack_config

pytestmark = pytest.mark.engine

SECRET = "s3cr3t-fixture-T0KEN-9f2c"


@pytest.fixture
def project(tmp_path: Path, env: dict[str, str]) -> Path:
    work = copy_fixture("engine_program", tmp_path)
    ok(pulumi(["stack", "init", "dev"], work, env))
    ok(pulumi(["config", "set", "--secret", "token"], work, env, stdin=SECRET))
    write_stack_config(work, "dev", {"engine-fixture:greeting": "hello"})
    return work


def diagnostics(output: str) -> str:
    """The `Diagnostics:` section, where the engine lists each message once (progress lines repeat them)."""
    assert "Diagnostics:" in output, output
    return output.split("Diagnostics:", 1)[1].split("\nResources:", 1)[0]


def state_text(tmp_path: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in (tmp_path / "state").rglob("*") if p.is_file())


def test_program_lifecycle_preview_up_noop_refresh_output_destroy(
    project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    preview = ok(pulumi(["preview"], project, env))
    assert "+ 3 to create" in preview
    assert "pulumi-python:dynamic/notes:Note" in preview

    up = ok(pulumi(["up", "--yes"], project, env))
    assert "+ 3 created" in up
    assert "greeting_length: 5" in up

    second = ok(pulumi(["up", "--yes"], project, env))
    assert "3 unchanged" in second
    assert "created" not in second and "updated" not in second

    refresh = ok(pulumi(["refresh", "--yes"], project, env))
    assert "3 unchanged" in refresh

    outputs = json.loads(ok(pulumi(["stack", "output", "--json"], project, env)))
    assert outputs["greeting_length"] == 5
    assert outputs["private_id"] == "note-private"
    assert outputs["token"] == "[secret]"
    shown = ok(pulumi(["stack", "output", "token", "--show-secrets"], project, env))
    assert shown.strip() == SECRET

    everything = preview + up + second + refresh + state_text(tmp_path)
    assert SECRET not in everything, "the secret reached the output or the state file in plaintext"
    assert "ciphertext" in state_text(tmp_path)

    destroy = ok(pulumi(["destroy", "--yes"], project, env))
    assert "3 deleted" in destroy
    assert json.loads(ok(pulumi(["stack", "output", "--json"], project, env))) == {}


def test_an_unhandled_exception_is_shown_once_with_its_traceback(project: Path, env: dict[str, str]) -> None:
    write_stack_config(project, "dev", {"engine-fixture:mode": "raise"})
    result = pulumi(["preview"], project, env)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Program failed with an unhandled exception:" in output
    assert 'raise ValueError("fixture failure: the widget count must be positive")' in output
    assert output.count("ValueError: fixture failure: the widget count must be positive") == 1
    assert diagnostics(output).count("Program failed with an unhandled exception:") == 1
    assert "fixture: about to fail" in output  # the program's own print reaches the user
    assert "an unhandled error occurred" not in output  # bail: the engine adds nothing


def test_a_run_error_shows_its_message_once(project: Path, env: dict[str, str]) -> None:
    write_stack_config(project, "dev", {"engine-fixture:mode": "runerror"})
    result = pulumi(["up", "--yes"], project, env)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert diagnostics(output).count("error: fixture run error: sovereign-ai:hosts is empty; add a host") == 1
    assert "Traceback" not in output


PRODUCTION_LIKE = {
    "sovereign-ai:tailnet": {"admins": ["admin@example.com"], "modelUsers": ["alice@example.com"]},
    "sovereign-ai:hosts": [
        {
            "name": "spark",
            "address": "192.168.1.50",
            "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfSpark",
        }
    ],
}
WILDCARD_ADMIN = "gives the Aperture admin role to *, which is wider than the configured admins"


@pytest.mark.parametrize("environment", ["production", "development"])
def test_policy_pack_judges_the_stack_by_its_own_environment(
    project: Path, env: dict[str, str], environment: str
) -> None:
    """The host hands the pack the stack's config: production is mandatory, development advisory."""
    write_stack_config(
        project,
        "dev",
        PRODUCTION_LIKE | {"engine-fixture:mode": "aperture", "sovereign-ai:environment": environment},
    )
    pack_config = ROOT / "policies" / "config" / f"{environment}.json"
    result = pulumi(
        ["preview", "--policy-pack", str(ROOT / "policies"), "--policy-pack-config", str(pack_config)],
        project,
        env,
    )
    output = result.stdout + result.stderr
    assert WILDCARD_ADMIN in output
    if environment == "production":
        assert result.returncode != 0, output
        assert "[mandatory]  aperture-no-wildcard-admin" in output
    else:
        assert result.returncode == 0, output
        assert "[advisory]  aperture-no-wildcard-admin" in output
        assert "[mandatory]" not in output


def test_about_and_plugin_ls_show_the_engine_parts(project: Path, env: dict[str, str]) -> None:
    """`pulumi about` names the toolchain as upstream's host does (`Pip`, typechecker `None`), and lists
    the resource plugins the engine found through GetRequiredPackages (the host no longer answers the
    older GetRequiredPlugins, as upstream's does not)."""
    about = ok(pulumi(["about"], project, env))
    assert f"language  python     {TOOLCHAIN.PULUMI_VERSION}" in about
    assert f"executable='{project / 'venv' / 'bin' / 'python'}'" in about
    assert "toolchain='Pip'" in about
    assert "typechecker='None'" in about
    plugins = about.split("Plugins", 1)[1].split("Host", 1)[0]
    assert re.search(r"resource\s+command\s+1\.2\.1", plugins), plugins
    assert re.search(r"resource\s+tailscale\s+0\.29\.2", plugins), plugins
    installed = ok(pulumi(["plugin", "ls"], project, env))
    assert "tailscale" in installed and "0.29.2" in installed
    assert "command" in installed and "1.2.1" in installed


def test_a_missing_virtualenv_is_created_by_preview(project: Path, env: dict[str, str]) -> None:
    """Upstream's GetRequiredPackages creates it (`python3 -m venv`, pip's upgrade, requirements) and the
    preview goes on; the old host failed, telling the user to create it."""
    (project / "venv").unlink()
    result = pulumi(["preview"], project, env, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "+ 3 to create" in output
    assert (project / "venv" / "bin" / "python").exists()
    assert not (project / "venv").is_symlink()
    frozen = subprocess.run(
        [str(project / "venv" / "bin" / "python"), "-m", "pip", "freeze"], capture_output=True, text=True
    )
    assert "pulumi==3.272.0" in frozen.stdout


def test_pulumi_install_creates_the_virtualenv_and_installs_requirements(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """InstallDependencies: `pulumi install` on a project without its venv, then the program runs."""
    work = copy_fixture("engine_program", tmp_path)
    (work / "venv").unlink()
    installed = ok(pulumi(["install"], work, env))
    assert "Creating virtual environment" in installed
    assert "Finished installing dependencies" in installed
    assert (work / "venv" / "bin" / "python").exists()
    ok(pulumi(["stack", "init", "dev"], work, env))
    ok(pulumi(["config", "set", "--secret", "token"], work, env, stdin=SECRET))
    write_stack_config(work, "dev", {"engine-fixture:greeting": "hello"})
    assert "+ 3 to create" in ok(pulumi(["preview"], work, env))
