"""The program's own output carries no warning a user cannot act on, and hides nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ELSEWHERE = (
    "import warnings; from cryptography.utils import CryptographyDeprecationWarning as C; "
    "warnings.warn(C('DSA is deprecated'))"
)


def stderr_of(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_importing_the_ssh_helper_prints_no_asyncssh_dsa_warning() -> None:
    assert "CryptographyDeprecationWarning" not in stderr_of("import components.host.ssh")


def test_the_same_warning_from_anywhere_else_still_shows() -> None:
    assert "CryptographyDeprecationWarning: DSA is deprecated" in stderr_of(
        f"import components.host.ssh; {ELSEWHERE}"
    )
