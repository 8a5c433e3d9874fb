"""A team's shared state on a real PostgreSQL server, through the real engine against the sandbox.

One server (`testing/postgres.py`: Debian's PostgreSQL on loopback, a free port, a temp dir) and one
sandbox stack for the module, in file order: the stack is deployed on the local backend and moved to
PostgreSQL with `scripts/state_migrate.py`; then the lock (two `up`s at once, an `up` killed half way,
the server stopped during an `up`), the drift check, the state table scanned for secrets, the
outputs and logs scanned for the connection password, the passphrase rotation, and `destroy`.

What the CLI does here (pulumi v3.274.1, `pkg/backend/diy`): the lock is a row per update
(`.pulumi/locks/...`); a second `up` stops before its preview with `the stack is currently locked by
1 lock(s) ... pulumi cancel`; a killed `up` leaves its lock, which `pulumi cancel` removes (on a DIY
backend it only deletes lock rows); a server gone during an `up` fails it after the snapshot write's
~30 s of retries, and its lock stays too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from testing.engine import copy_fixture, ok, pulumi
from testing.postgres import TABLE, PostgresServer
from testing.sandbox_stack import SandboxStack

pytestmark = pytest.mark.engine

HF_TOKEN = "hf_teamStateCanary7f3c9a1e5b"
MODELS = ("Qwen/Qwen3.6-35B-A3B-FP8", "Qwen/Qwen3-30B-A3B-FP8")
CONTAINER_STEP = "export VLLM_COMMAND"
"""How the audit log shows the container step (`components/host/scripts/vllm_container.sh`) running."""
LOCKED = "the stack is currently locked by 1 lock(s)"


@dataclass
class Team:
    """The sandbox stack on the PostgreSQL backend, with every command's output kept for the scans."""

    stack: SandboxStack
    server: PostgresServer
    logs: Path
    outputs: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def run(self, *argv: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            argv, cwd=self.stack.project, env=self.stack.env, capture_output=True, text=True, timeout=timeout
        )
        self.outputs.append(result.stdout + result.stderr)
        return result

    def up(self) -> subprocess.CompletedProcess[str]:
        """`scripts/stack.sh up sandbox`: what `make up STACK=sandbox` runs."""
        return self.run("scripts/stack.sh", "up", "sandbox")

    def start_up(self) -> subprocess.Popen[str]:
        """The same `up` in the background, in a process group of its own."""
        return subprocess.Popen(
            ["scripts/stack.sh", "up", "sandbox"], cwd=self.stack.project, env=self.stack.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip

    def finish(self, process: subprocess.Popen[str]) -> tuple[int, str]:
        out, _ = process.communicate(timeout=600)
        self.outputs.append(out)
        return process.returncode, out

    def pulumi(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("pulumi", *args, "--stack", "sandbox", "--non-interactive")

    def use_model(self, index: int) -> None:
        """Swap the model (a change that re-runs the container and readiness steps)."""
        stack_file = self.stack.project / "Pulumi.sandbox.yaml"
        stack_file.write_text(stack_file.read_text().replace(MODELS[1 - index], MODELS[index]))

    def wait_for_container_step(self, process: subprocess.Popen[str]) -> None:
        """Until the audit log shows the container step of this `up` running on the host."""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if any(CONTAINER_STEP in c.get("command", "") for c in self.stack.since_mark()):
                return
            assert process.poll() is None, f"the up ended first:\n{self.finish(process)[1]}"
            time.sleep(0.05)
        raise AssertionError("the container step did not start within 180 s")

    def converges_after_cancel(self) -> None:
        """The stale lock stops the next `up`, naming `pulumi cancel`; after it, `up` converges."""
        blocked = self.up()
        assert blocked.returncode != 0 and LOCKED in blocked.stdout + blocked.stderr, blocked.stdout
        assert "pulumi cancel" in blocked.stdout + blocked.stderr
        cancelled = self.pulumi("cancel", "--yes")
        assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
        repaired = self.up()
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        quiet = self.pulumi("preview", "--expect-no-changes")
        assert quiet.returncode == 0, quiet.stdout + quiet.stderr


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (read from /proc before it is killed, so orphans can be found)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(process: subprocess.Popen[str]) -> None:
    """SIGKILL the `up` and everything it started (plugins run in process groups of their own)."""
    for pid in [process.pid, *descendants(process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    running = PostgresServer.start()
    try:
        yield running
    finally:
        running.remove()


@pytest.fixture(scope="module")
def team(stack: SandboxStack, server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Team:
    logs = tmp_path_factory.mktemp("plugin-logs")
    stack.env["SOVEREIGN_AI_PLUGIN_LOG_DIR"] = str(logs)
    return Team(stack, server, logs)


def test_the_local_stack_moves_to_postgresql_and_previews_no_change(team: Team) -> None:
    stack, local = team.stack, team.stack.env["PULUMI_BACKEND_URL"]
    stack.init()
    secret = team.pulumi("config", "set", "--secret", "sovereign-ai:huggingfaceToken", HF_TOKEN)
    assert secret.returncode == 0, secret.stderr
    first = team.up()
    assert first.returncode == 0, first.stdout + first.stderr
    migrate = [sys.executable, "scripts/state_migrate.py", "--from", local, "--to", team.server.url]
    moved = team.run(*migrate)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "==> sandbox: export, init, import, preview ..." in moved.stdout
    assert "preview: no changes (15 unchanged)" in moved.stdout, moved.stdout
    assert "postgres://pulumi:****@127.0.0.1:" in moved.stdout
    again = team.run(*migrate)
    assert again.returncode == 1 and "already in the target: sandbox" in again.stderr, again.stderr
    assert "FORCE=1" in again.stderr
    stack.env["PULUMI_BACKEND_URL"] = team.server.url


def test_a_no_op_preview_on_postgresql_with_the_url_make_state_up_prints(team: Team) -> None:
    """`make state-up`'s URL holds no password: lib/pq reads it from the `passfile` it names."""
    team.stack.env["PULUMI_BACKEND_URL"] = team.server.passfile_url
    try:
        preview = team.pulumi("preview", "--expect-no-changes")
    finally:
        team.stack.env["PULUMI_BACKEND_URL"] = team.server.url
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert "15 unchanged" in preview.stdout


def test_two_ups_started_together_one_runs_the_other_stops_at_the_lock(team: Team) -> None:
    team.use_model(1)
    team.stack.mark()
    started = time.monotonic()
    processes = [team.start_up(), team.start_up()]
    ended: list[tuple[int, str, float]] = []
    while processes:
        for process in [p for p in processes if p.poll() is not None]:
            processes.remove(process)
            ended.append((*team.finish(process), time.monotonic() - started))
        time.sleep(0.05)
    (first_rc, first_out, first_at), (last_rc, _, last_at) = ended
    assert (first_rc != 0, last_rc) == (True, 0), ended
    assert LOCKED in first_out and "pulumi cancel" in first_out, first_out
    assert "postgres://****:****@127.0.0.1:" in first_out, "the lock's URL shows no credentials"
    assert "Previewing update" not in first_out, "the second up got past the lock"
    assert first_at < last_at - 2, ended
    calls = team.stack.since_mark()
    assert sum(CONTAINER_STEP in c.get("command", "") for c in calls) == 1, calls
    puts = [c for c in calls if c["service"] == "aperture" and c.get("method") == "PUT"]
    assert len(puts) == 1, puts


def test_an_up_killed_half_way_leaves_a_lock_that_pulumi_cancel_clears(team: Team) -> None:
    team.use_model(0)
    team.stack.mark()
    process = team.start_up()
    team.wait_for_container_step(process)
    kill_tree(process)
    team.finish(process)
    team.converges_after_cancel()


def test_the_server_stopped_during_an_up_fails_clearly_and_the_state_survives(team: Team) -> None:
    before = {r["urn"] for r in team.stack.resources()}
    team.use_model(1)
    team.stack.mark()
    process = team.start_up()
    team.wait_for_container_step(process)
    team.server.stop("immediate")
    returncode, out = team.finish(process)
    assert returncode != 0, out
    assert "failed to save snapshot" in out and "connection refused" in out, out
    assert "Traceback" not in out, out
    team.server.restart()
    assert {r["urn"] for r in team.stack.resources()} == before
    team.converges_after_cancel()


def test_the_drift_check_is_clean_then_names_a_hand_edit(team: Team, tmp_path: Path) -> None:
    drift = [
        sys.executable,
        "scripts/drift.py",
        "check",
        "--stack",
        "sandbox",
        "--report",
        str(tmp_path / "r.md"),
    ]
    clean = team.run(*drift)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "==> drift: stack sandbox: no drift" in clean.stdout
    declared = team.stack.policy_text()
    edited = declared.replace('"grants": [', '"grants": [\n    {"src": ["bob@example.com"], "dst": ["tag:aperture"], "ip": ["443"]},', 1)  # fmt: skip
    team.stack.api("POST", "/api/v2/tailnet/-/acl", edited, "application/hujson")
    drifted = team.run(*drift)
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    assert "tailscale:index:Acl tailnet-policy: update (~acl)" in drifted.stdout, drifted.stdout
    assert "repair: make up STACK=sandbox REFRESH=1" in drifted.stdout
    report = (tmp_path / "r.md").read_text()
    assert "status=drifted" in report and "`tailnet-policy`" in report and "TailnetKey" not in report
    repaired = team.run("scripts/stack.sh", "up", "sandbox", "--refresh")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "bob@example.com" not in team.stack.policy_text()


def secrets_of(team: Team) -> dict[str, str]:
    """Each secret value the stack handles: the Tailscale API key, the SSH private key's lines, the
    auth key (decrypted from the state with the passphrase) and the HF token."""
    stack = team.stack
    values = {"Tailscale API key": stack.endpoints["tailscale"]["apiKey"], "HF token": HF_TOKEN}
    key_lines = Path(stack.endpoints["hosts"][0]["privateKeyPath"]).read_text().splitlines()
    values |= {
        f"SSH key line {i}": line for i, line in enumerate(key_lines) if len(line) >= 20 and "--" not in line
    }
    exported = team.pulumi("stack", "export", "--show-secrets")
    assert exported.returncode == 0, exported.stderr
    for resource in json.loads(exported.stdout)["deployment"]["resources"]:
        if resource["type"] == "tailscale:index/tailnetKey:TailnetKey":
            values[f"auth key {resource['id']}"] = json.loads(resource["outputs"]["key"]["plaintext"])
    return values


def test_no_secret_value_in_any_row_of_the_state_table(team: Team) -> None:
    rows = team.server.state_rows()
    assert any(key.endswith("/stacks/sovereign-ai/sandbox.json") for key in rows), sorted(rows)
    text = "\n".join(rows.values())
    assert "ciphertext" in text and "tailnet-policy" in text, "the scan does not see the state"
    values = secrets_of(team)
    assert any(name.startswith("auth key") for name in values) and any(n.startswith("SSH") for n in values)
    leaked = [name for name, value in values.items() if value in text]
    assert leaked == [], f"in {TABLE}: {leaked}"


def test_the_connection_password_is_in_no_output_or_log(team: Team) -> None:
    password = team.server.password
    assert any("postgres://****:****@" in out for out in team.outputs), "no masked URL seen: scan is blind"
    assert [i for i, out in enumerate(team.outputs) if password in out] == []
    logs = [*team.logs.rglob("*"), *team.stack.state.rglob("*.log"), *team.stack.state.rglob("*.jsonl"),
            team.server.cluster.log, *team.stack.project.glob("Pulumi*.yaml")]  # fmt: skip
    # Not `$PULUMI_HOME/workspaces/`: the CLI keeps each backend URL it used there, verbatim (so a
    # password in the URL rests there; `make state-up`'s URL names a passfile instead).
    home = Path(team.stack.env["PULUMI_HOME"])
    logs += [p for p in home.rglob("*") if not {"plugins", "workspaces"} & set(p.parts)
             and p.is_file() and p.stat().st_mtime >= team.started]  # fmt: skip
    leaked = [str(p) for p in logs if p.is_file() and password in p.read_text(errors="replace")]
    assert leaked == []


def test_the_passphrase_rotates_as_the_readme_says(team: Team, tmp_path: Path) -> None:
    """`pulumi stack change-secrets-provider passphrase`: the old passphrase from the environment,
    the new one on stdin (the CLI reads it there when not interactive); afterwards only the new one
    opens the stack's secrets."""
    project = copy_fixture("engine_program", tmp_path)
    env = team.stack.env | {"PULUMI_CONFIG_PASSPHRASE": "old passphrase"}
    for args in (
        ["stack", "init", "rotate"],
        ["config", "set", "--secret", "engine-fixture:token", "s3cret-value"],
    ):
        ok(pulumi([*args, "--stack", "rotate"] if args[0] == "config" else args, project, env))
    rotate = ["stack", "change-secrets-provider", "passphrase", "--stack", "rotate"]
    ok(pulumi(rotate, project, env, stdin="new passphrase\n"))
    get = ["config", "get", "engine-fixture:token", "--stack", "rotate"]
    assert (
        ok(pulumi(get, project, env | {"PULUMI_CONFIG_PASSPHRASE": "new passphrase"})).strip()
        == "s3cret-value"
    )
    old = pulumi(get, project, env)
    assert old.returncode != 0 and "incorrect passphrase" in old.stderr, old.stderr
    ok(
        pulumi(
            ["stack", "rm", "rotate", "--yes"], project, env | {"PULUMI_CONFIG_PASSPHRASE": "new passphrase"}
        )
    )


def test_destroy_on_postgresql(team: Team) -> None:
    """Last: the stack's resources go; its (empty) stack stays in the table."""
    result = team.pulumi("destroy", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert team.stack.resources() == []
    exported: dict[str, Any] = json.loads(team.pulumi("stack", "export").stdout)
    assert exported["deployment"].get("resources") in (None, [])
