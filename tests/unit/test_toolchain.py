"""scripts/toolchain.py: the shell exports, and how an incomplete engine is reported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / "scripts" / "toolchain.py")


def run(args: list[str], cache: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), PATH="/usr/bin:/bin")
    return subprocess.run(
        [sys.executable, SCRIPT, *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_env_prints_offline_safe_exports(tmp_path: Path) -> None:
    result = run(["env"], tmp_path)
    exports = dict(line.removeprefix("export ").split("=", 1) for line in result.stdout.splitlines())
    assert exports["PULUMI_BACKEND_URL"] == f"'file://{ROOT / '.state'}'"
    assert exports["PULUMI_HOME"] == f"'{tmp_path / 'sovereign-ai' / 'pulumi-home'}'"
    assert exports["PULUMI_SKIP_UPDATE_CHECK"] == "'true'"
    assert exports["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "'true'"
    assert exports["PATH"].startswith(f"'{tmp_path / 'sovereign-ai' / 'pulumi-v'}")


def test_ready_before_setup_says_to_run_make_setup(tmp_path: Path) -> None:
    result = run(["ready"], tmp_path)
    assert result.returncode == 1
    assert "the toolchain has not been built: run `make setup`" in result.stderr


@pytest.mark.parametrize(("state", "ready"), [("ok", True), ("blocked", False), ("failed", False)])
def test_ready_reflects_the_recorded_status(tmp_path: Path, state: str, ready: bool) -> None:
    status = tmp_path / "sovereign-ai" / "status.json"
    status.parent.mkdir(parents=True)
    status.write_text(
        json.dumps(
            {"pulumi CLI": {"state": "ok", "detail": ""}, "tailscale": {"state": state, "detail": "403"}}
        )
    )
    result = run(["ready"], tmp_path)
    assert (result.returncode == 0) is ready
    if not ready:
        assert f"  - tailscale: {state}: 403" in result.stderr


def test_build_without_go_or_pulumi_names_what_to_install(tmp_path: Path) -> None:
    result = run(["build"], tmp_path)
    assert result.returncode == 1
    assert "`go` not found on PATH, and no `pulumi` either: install Go >= 1.26.6" in result.stderr


def test_old_plugin_snapshots_are_pruned_newest_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from testing.engine import TOOLCHAIN

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    root = tmp_path / "sovereign-ai" / "project-plugins"
    for age in range(5):
        snapshot = root / f"snap{age}"
        snapshot.mkdir(parents=True)
        os.utime(snapshot, (1_000_000 - age, 1_000_000 - age))  # snap0 is the newest
    (root / "building.partial").mkdir()
    TOOLCHAIN.prune_snapshots(keep=2)
    assert sorted(p.name for p in root.iterdir()) == ["building.partial", "snap0", "snap1"]


def copy_of_sources(where: Path) -> Path:
    """The packages the toolchain could hash, copied so a test may edit them."""
    for package in ("plugins", "hujson", "components", "config", "tailnet_policy"):
        shutil.copytree(ROOT / package, where / package, ignore=shutil.ignore_patterns("__pycache__"))
    return where


def snapshot_hash(monkeypatch: pytest.MonkeyPatch, root: Path) -> str:
    from testing.engine import TOOLCHAIN

    monkeypatch.setattr(TOOLCHAIN, "ROOT", root)
    TOOLCHAIN.source_hash.cache_clear()
    try:
        return str(TOOLCHAIN.source_hash())
    finally:
        TOOLCHAIN.source_hash.cache_clear()


@pytest.mark.parametrize(
    ("edited", "reinstalls"),
    [
        ("components/host/inference_host.py", False),
        ("components/gateway/aperture_config.py", False),
        ("config/model.py", False),
        ("tailnet_policy/reachability.py", False),
        ("hujson/formatter.py", True),
        ("plugins/command/__init__.py", True),
    ],
    ids=lambda value: str(value),
)
def test_only_plugin_sources_key_the_engine_plugin_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edited: str, reinstalls: bool
) -> None:
    root = copy_of_sources(tmp_path)
    before = snapshot_hash(monkeypatch, root)
    with (root / edited).open("a") as file:
        file.write("\n# an edit\n")
    after = snapshot_hash(monkeypatch, root)
    assert (after != before) is reinstalls, f"editing {edited}: snapshot hash {before} -> {after}"
