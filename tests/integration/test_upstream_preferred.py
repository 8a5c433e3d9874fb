"""Where Pulumi is installed the usual way, upstream's engine parts win and the project's stay out.

A stand-in "installed" Pulumi: a copy of the real CLI in a directory of its own on PATH, with its own
bundled language host (a wrapper that records that it ran) and its own Pulumi home. `make setup`'s
toolchain step must install nothing of the project's there, and the engine must run that host.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testing.engine import ROOT, TOOLCHAIN, copy_fixture, ok, pulumi, write_stack_config

pytestmark = pytest.mark.engine


@pytest.fixture
def installed(tmp_path: Path) -> dict[str, str]:
    """The environment of a user with their own Pulumi: CLI, host and helper scripts, and PULUMI_HOME."""
    ours = TOOLCHAIN.bin_dir()
    user_bin = tmp_path / "user" / "bin"
    user_bin.mkdir(parents=True)
    for name in ("pulumi", "pulumi-language-python-exec", "pulumi-resource-pulumi-python"):
        shutil.copy2(ours / name, user_bin / name)
    host = user_bin / "pulumi-language-python"
    host.write_text(
        f'#!/bin/sh\necho "$$" >> {tmp_path / "user-host-ran"}\nexec {ours / "pulumi-language-python"} "$@"\n'
    )
    host.chmod(0o755)
    return dict(os.environ) | {
        "PATH": os.pathsep.join([str(user_bin), "/usr/local/bin", "/usr/bin", "/bin"]),
        "PULUMI_HOME": str(tmp_path / "user" / "pulumi-home"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }


def toolchain(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "toolchain.py"), command],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_setup_installs_nothing_of_ours_beside_an_installed_pulumi(
    installed: dict[str, str], tmp_path: Path
) -> None:
    build = toolchain("build", installed)
    assert build.returncode == 0, build.stdout + build.stderr
    home = Path(installed["PULUMI_HOME"])
    assert not (home / "plugins").exists() or not any((home / "plugins").iterdir())
    cache = tmp_path / "cache" / "sovereign-ai"
    assert not list(cache.rglob("pulumi-language-python")), "our host was installed beside a user's pulumi"
    assert not (cache / "engine-venv").exists()
    status = toolchain("status", installed).stdout
    assert "python language host: ok: upstream" in status
    assert (
        "tailscale provider 0.29.2: ok: not installed: a user's own pulumi uses upstream's plugins" in status
    )
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in toolchain("env", installed).stdout.splitlines()
    )
    assert exports["PULUMI_HOME"] == f"'{home}'"
    assert str(cache) not in exports["PATH"]


def test_the_engine_runs_the_installed_host(installed: dict[str, str], tmp_path: Path) -> None:
    env = installed | {"PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}", "PULUMI_CONFIG_PASSPHRASE": "x"}
    (tmp_path / "state").mkdir()
    project = copy_fixture("engine_program", tmp_path)
    ok(pulumi(["stack", "init", "dev"], project, env))
    ok(pulumi(["config", "set", "--secret", "token"], project, env, stdin="t"))
    write_stack_config(project, "dev", {"engine-fixture:greeting": "hi"})
    preview = ok(pulumi(["preview"], project, env))
    assert "+ 3 to create" in preview
    assert (tmp_path / "user-host-ran").exists(), "the engine did not run the installed pulumi's own host"
    assert "from $PATH" not in preview  # the bundled lookup found it, no ambient-plugin warning


def test_status_labels_each_engine_part() -> None:
    """Without a pulumi of the user's, the CLI is upstream's (built) and host and plugins the project's."""
    results = json.loads(TOOLCHAIN.status_path().read_text())
    labels = {name: result["detail"].split(":", 1)[0] for name, result in results.items()}
    ours = "upstream" if TOOLCHAIN.existing_pulumi() else "project"
    assert labels["python language host"] == ours
    assert labels[f"tailscale provider {TOOLCHAIN.TAILSCALE_VERSION}"].startswith(("upstream", ours, "not"))
    assert labels[f"command provider {TOOLCHAIN.COMMAND_VERSION}"].startswith(("upstream", ours, "not"))
    assert labels[f"pulumi CLI v{TOOLCHAIN.PULUMI_VERSION}"].startswith("upstream")
