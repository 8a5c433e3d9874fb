"""`make preview`/`make up` (through scripts/stack.sh) drop an SSH_AUTH_SOCK that cannot be opened.

pulumi-command v1.2.1 dials `SSH_AUTH_SOCK` before every SSH connection and fails the step at once
when it cannot (`remote/connection.go:131-145`: `dial unix <path>: connect: ...`), so a shell that
outlived its agent would fail every remote step. That help lives in the script, not the plugin: the
run goes on without the variable and one line says so; a working agent is left alone.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.engine import fake_engine

ROOT = Path(__file__).resolve().parents[2]


def recording_engine(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A fake engine whose `pulumi` records the SSH_AUTH_SOCK it sees; the environment and the record."""
    record = tmp_path / "pulumi-env"
    env = fake_engine(tmp_path, f'echo "$1 SSH_AUTH_SOCK=${{SSH_AUTH_SOCK-unset}}" >> {record}')
    env.pop("SSH_AUTH_SOCK", None)
    return env, record


def stack_sh(tmp_path: Path, agent_socket: str | None, action: str = "preview") -> tuple[str, list[str]]:
    """Run `scripts/stack.sh <action> sandbox`; returns its stdout and what each pulumi call saw."""
    env, record = recording_engine(tmp_path)
    if agent_socket is not None:
        env["SSH_AUTH_SOCK"] = agent_socket
    result = subprocess.run(
        ["scripts/stack.sh", action, "sandbox"], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, record.read_text().splitlines()


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[str]:
    """A unix socket something listens on (as a live agent does)."""
    path = str(tmp_path / "agent.sock")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen(4)
        yield path


def regular_file(tmp_path: Path) -> str:
    """A file that is not a socket."""
    path = tmp_path / "not-a-socket"
    path.write_text("")
    return str(path)


def dead_socket(tmp_path: Path) -> str:
    """A socket file nothing listens on any more (the agent of a closed session)."""
    path = str(tmp_path / "dead.sock")
    with socket.socket(socket.AF_UNIX) as gone:
        gone.bind(path)
    return path


@pytest.mark.parametrize("kind", ["missing", "regular-file", "dead-socket"])
@pytest.mark.parametrize("action", ["preview", "up"])
def test_an_unusable_agent_socket_is_unset_for_the_run_with_one_line(
    tmp_path: Path, kind: str, action: str
) -> None:
    path = {
        "missing": lambda: str(tmp_path / "nothing-here"),
        "regular-file": lambda: regular_file(tmp_path),
        "dead-socket": lambda: dead_socket(tmp_path),
    }[kind]()
    stdout, calls = stack_sh(tmp_path, path, action)
    notices = [line for line in stdout.splitlines() if "SSH_AUTH_SOCK" in line]
    assert notices == [f"==> SSH_AUTH_SOCK={path} is not a usable agent socket; unset for this run"]
    assert calls == ["stack SSH_AUTH_SOCK=unset", f"{action} SSH_AUTH_SOCK=unset"]


def test_a_live_agent_socket_is_left_alone(tmp_path: Path, listening: str) -> None:
    stdout, calls = stack_sh(tmp_path, listening)
    assert "SSH_AUTH_SOCK" not in stdout
    assert calls[-1] == f"preview SSH_AUTH_SOCK={listening}"


def test_no_agent_socket_says_nothing(tmp_path: Path) -> None:
    stdout, calls = stack_sh(tmp_path, None)
    assert "SSH_AUTH_SOCK" not in stdout
    assert calls[-1] == "preview SSH_AUTH_SOCK=unset"
