"""The real Pulumi engine: the CLI built by `make setup`, the local backend, this program.

Tests that need the whole engine (language host and resource plugins) skip with the exact reason
`scripts/toolchain.py` recorded when the module proxy refused a part; `make test` prints those
reasons in its summary, so what did not run is never hidden.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _toolchain() -> ModuleType:
    spec = importlib.util.spec_from_file_location("toolchain", ROOT / "scripts" / "toolchain.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


TOOLCHAIN = _toolchain()


def engine_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ) | TOOLCHAIN.engine_env()
    env["PULUMI_BACKEND_URL"] = f"file://{tmp_path / 'state'}"
    (tmp_path / "state").mkdir(exist_ok=True)
    return env


def pulumi(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pulumi", *args, "--non-interactive"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def cli(tmp_path: Path) -> dict[str, str]:
    env = engine_env(tmp_path)
    if shutil.which("pulumi", path=env["PATH"]) is None:
        pytest.skip("no pulumi CLI: `make setup` did not build it; see .build/setup.log")
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project (program, components, stack files) to run stack commands in."""
    work = tmp_path / "project"
    work.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py", "requirements.txt"):
        shutil.copy(ROOT / name, work / name)
    shutil.copytree(ROOT / "components", work / "components", ignore=shutil.ignore_patterns("__pycache__"))
    (work / "venv").symlink_to(ROOT / "venv")
    return work


@pytest.mark.engine
def test_cli_is_the_version_built(cli: dict[str, str], tmp_path: Path) -> None:
    result = pulumi(["version"], tmp_path, cli)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"v{TOOLCHAIN.PULUMI_VERSION}"


@pytest.mark.engine
def test_local_stack_keeps_secrets_encrypted(cli: dict[str, str], project: Path) -> None:
    """`pulumi config set --secret` on the local backend writes ciphertext, never the key."""
    secret = "-----BEGIN OPENSSH PRIVATE KEY-----\nnever-in-plaintext\n-----END OPENSSH PRIVATE KEY-----"
    assert pulumi(["stack", "init", "dev"], project, cli).returncode == 0
    result = subprocess.run(
        ["pulumi", "config", "set", "--secret", "sovereign-ai:sshPrivateKey", "--stack", "dev"],
        cwd=project, env=cli, input=secret, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    stack_file = (project / "Pulumi.dev.yaml").read_text()
    assert "never-in-plaintext" not in stack_file
    assert "sovereign-ai:sshPrivateKey:\n    secure: " in stack_file
    shown = pulumi(["config", "get", "sovereign-ai:sshPrivateKey", "--stack", "dev"], project, cli)
    assert shown.stdout.strip() == secret


@pytest.mark.engine
def test_preview_plans_the_program(cli: dict[str, str], project: Path) -> None:
    """`pulumi preview` of the dev stack, offline, plans every resource the program declares."""
    gaps = TOOLCHAIN.engine_gaps()
    if gaps:
        pytest.skip("engine incomplete, preview cannot run: " + " | ".join(gaps))
    pulumi(["stack", "init", "dev"], project, cli)
    stack_file = project / "Pulumi.dev.yaml"
    stack_file.write_text(
        stack_file.read_text()
        .replace("<you@example.com>", "me@example.com")
        .replace("<192.168.1.50>", "192.168.1.50")
        .replace("<ubuntu>", "ubuntu")
    )
    subprocess.run(
        ["pulumi", "config", "set", "--secret", "sovereign-ai:sshPrivateKey", "--stack", "dev"],
        cwd=project, env=cli, input="test-key", capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    result = pulumi(["preview", "--stack", "dev", "--diff"], project, cli)
    assert result.returncode == 0, result.stdout + result.stderr
    for planned in ("tailscale:index/acl:Acl", "tailscale:index/tailnetKey:TailnetKey",
                    "command:remote:Command", "pulumi-python:dynamic/aperture:Config"):  # fmt: skip
        assert planned in result.stdout, f"preview does not plan {planned}"
