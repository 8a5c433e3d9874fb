"""The sandbox starts without asyncssh's DSA deprecation warnings, and hides no other warning.

Each check runs a fresh interpreter with `-W default` (every warning shown once), as `make demo`
would show them, and reads its stderr.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OTHER = "import warnings; warnings.warn('unrelated deprecation', DeprecationWarning)"


def python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "default", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "args",
    [
        ("-m", "sandbox", "--help"),
        ("-c", "import sandbox.host.server"),
        ("-c", "import sandbox.orchestrator"),
    ],
    ids=["cli-help", "host-server", "orchestrator"],
)
def test_importing_the_sandbox_shows_no_dsa_deprecation(args: tuple[str, ...]) -> None:
    result = python(*args)
    assert result.returncode == 0, result.stderr
    assert "CryptographyDeprecationWarning" not in result.stderr, result.stderr


def test_asyncssh_alone_still_warns_so_the_check_above_means_something() -> None:
    result = python("-c", "import asyncssh")
    assert "CryptographyDeprecationWarning: DSA is deprecated" in result.stderr, (
        "asyncssh no longer warns about DSA: drop the filter in sandbox/__init__.py"
    )


def test_an_unrelated_deprecation_warning_still_shows() -> None:
    result = python("-c", f"import sandbox.host.server; {OTHER}")
    assert "CryptographyDeprecationWarning" not in result.stderr
    assert "DeprecationWarning: unrelated deprecation" in result.stderr
