"""Running the real `pulumi` CLI in tests: the toolchain's environment, a private backend, a project copy.

Every engine test runs the CLI that `make setup` built (or the user's own), on a local backend in
the test's temporary directory, offline, with the toolchain's Pulumi home.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import yaml

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
PROGRAM_PACKAGES = ("components", "config", "tailnet_policy", "hujson")
"""The packages `__main__.py` and its dynamic providers import: what a copy of the program needs."""


def load_script(name: str) -> ModuleType:
    """`scripts/<name>.py` as a module (scripts/ is not a package the layers let testing import)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


TOOLCHAIN = load_script("toolchain")


def engine_env(tmp_path: Path) -> dict[str, str]:
    """The toolchain's exports, with a backend of the test's own."""
    env = dict(os.environ) | TOOLCHAIN.engine_env()
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    env["PULUMI_BACKEND_URL"] = f"file://{state}"
    return env


def pulumi(
    args: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    """`pulumi <args> --non-interactive`, output captured."""
    return subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The command's stdout, after asserting it succeeded (its whole output is the failure message)."""
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def copy_fixture(name: str, dest: Path) -> Path:
    """A copy of `tests/fixtures/<name>` with the project's venv linked in as `venv`."""
    work = dest / name
    shutil.copytree(FIXTURES / name, work, ignore=shutil.ignore_patterns("__pycache__", "Pulumi.*.yaml"))
    (work / "venv").symlink_to(ROOT / "venv")
    return work


def write_stack_config(project: Path, stack: str, config: Mapping[str, object]) -> None:
    """Write `Pulumi.<stack>.yaml`, keeping any `secure:` values `pulumi config set --secret` put there."""
    path = project / f"Pulumi.{stack}.yaml"
    current = yaml.safe_load(path.read_text()) if path.exists() else None
    merged = dict((current or {}).get("config") or {})
    merged.update(config)
    document = dict(current or {})
    document["config"] = merged
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def fake_engine(tmp_path: Path, pulumi_script: str) -> dict[str, str]:
    """An environment whose PATH has a fake `pulumi` (a shell script body) and a `python3` whose
    `toolchain.py ready` passes, with a backend in `tmp_path`: for testing scripts/stack.sh and the
    Makefile without running the engine."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(f"#!/bin/sh\n{pulumi_script}\n")
    real = shutil.which("python3") or sys.executable
    (bin_dir / "python3").write_text(
        f'#!/bin/sh\n[ "$1 $2" = "scripts/toolchain.py ready" ] && exit 0\nexec {real} "$@"\n'
    )
    for tool in ("pulumi", "python3"):
        (bin_dir / tool).chmod(0o755)
    env = dict(os.environ) | {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["PULUMI_BACKEND_URL"] = f"file://{tmp_path}"
    return env
