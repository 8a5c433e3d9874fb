"""scripts/state_db.py and scripts/state_migrate.py without a server: setup's install step, the
password verifier, and the errors that say what to do. The real server: tests/integration/test_team_state.py."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import state_db  # noqa: E402
import state_migrate  # noqa: E402


def test_setup_installs_the_server_package_only_when_it_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No `initdb` anywhere: `apt-get install -y postgresql`, said out loud; then found, nothing more."""
    lib, bin_dir = tmp_path / "lib", tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "apt-calls"
    (bin_dir / "apt-get").write_text(
        f'#!/bin/sh\necho "$*" >> {record}\n'
        f'[ "$1" = install ] && mkdir -p {lib}/15/bin && touch {lib}/15/bin/initdb\nexit 0\n'
    )
    (bin_dir / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin:/bin")
    monkeypatch.setattr(state_db, "DEBIAN_LIB", lib)
    monkeypatch.setattr(state_db, "ROOT", tmp_path)
    monkeypatch.setattr(state_db.os, "geteuid", lambda: 0)
    assert state_db.install() == 0
    assert record.read_text().splitlines() == ["install -y postgresql"]
    out = capsys.readouterr().out
    assert "==> PostgreSQL server: apt-get install -y postgresql" in out and f"ok ({lib}/15/bin)" in out
    assert state_db.install() == 0
    assert record.read_text().splitlines() == ["install -y postgresql"], "installed twice"
    assert f"PostgreSQL server: ok ({lib}/15/bin)" in capsys.readouterr().out


def test_the_server_receives_a_scram_verifier_never_the_password() -> None:
    verifier = state_db.scram_verifier("s3cret-password")
    match = re.fullmatch(
        r"SCRAM-SHA-256\$4096:([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)", verifier
    )
    assert match and "s3cret" not in verifier
    assert [len(base64.b64decode(part)) for part in match.groups()] == [16, 32, 32]
    assert state_db.scram_verifier("s3cret-password") != verifier, "a fresh salt each time"


def test_url_and_status_before_state_up_say_to_run_it(tmp_path: Path) -> None:
    env = dict(os.environ, STATE_DB_DIR=str(tmp_path / "none"))
    for command in ("url", "status", "down"):
        result = subprocess.run([sys.executable, "scripts/state_db.py", command], cwd=ROOT, env=env,
                                capture_output=True, text=True)  # fmt: skip
        assert result.returncode == 1
        assert "run `make state-up` first" in result.stderr


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgres://pulumi:pw@127.0.0.1:5432/pulumi?sslmode=disable", "postgres://pulumi:****@127.0.0.1:5432/pulumi?sslmode=disable"),
        ("postgres://pulumi@db.example.com/pulumi", "postgres://pulumi@db.example.com/pulumi"),
        ("file:///work/.state", "file:///work/.state"),
    ],
)  # fmt: skip
def test_migrate_never_prints_a_backend_password(url: str, shown: str) -> None:
    assert state_migrate.masked(url) == shown


def test_migrate_needs_a_target() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TO"}
    result = subprocess.run([sys.executable, "scripts/state_migrate.py"], cwd=ROOT, env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 2
    assert "make state-migrate TO=postgres://..." in result.stderr
