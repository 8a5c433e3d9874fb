"""The GitHub workflows: actionlint and zizmor clean, and running the Makefile's own commands.

actionlint checks syntax, expressions and (with shellcheck on PATH) every `run:` script; zizmor
checks security (pinned actions, permissions, credential persistence, template injection). Both
come from requirements-dev.txt. The rest pins the promises README.md#continuous-delivery makes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from testing.engine import fake_engine

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent
ACTIONLINT = shutil.which("actionlint", path=str(BIN)) or shutil.which("actionlint")
ZIZMOR = shutil.which("zizmor", path=str(BIN)) or shutil.which("zizmor")
FILES = sorted(WORKFLOWS.glob("*.yml"))
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
TAILSCALE_ACTION = "tailscale/github-action@"
TAILSCALE_ACTION_SHA = "780049a30b6ff5c378a9e7b389d15ece7a204888"
"""v4.1.3; its action.yml has the `audience` input (workload identity federation)."""
DEPLOY_TAG = "tag:deploy"
"""The tag the workflows join with: sovereign-ai:tailnet.deployTag of the stacks they deploy."""

BAD_WORKFLOW = """\
on: pull_request_target
jobs:
  x:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}"
"""


def load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(data, dict)
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """PyYAML reads the key `on` as True."""
    value = workflow.get("on", workflow.get(True))
    return value if isinstance(value, dict) else {str(value): None}


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def run_lines(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in steps(job))


def lint_env() -> dict[str, str]:
    """venv/bin first, so actionlint finds the pinned shellcheck for the `run:` scripts."""
    return dict(os.environ) | {"PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}


def test_there_are_workflows() -> None:
    assert {f.name for f in FILES} >= {"ci.yml", "preview.yml", "deploy.yml", "drift.yml"}


def test_actionlint_clean() -> None:
    assert ACTIONLINT, "actionlint missing: `make setup` installs it from requirements-dev.txt"
    result = subprocess.run([ACTIONLINT], cwd=ROOT, capture_output=True, text=True, env=lint_env())
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_clean() -> None:
    assert ZIZMOR, "zizmor missing: `make setup` installs it from requirements-dev.txt"
    result = subprocess.run(
        [ZIZMOR, "--offline", "--no-progress", ".github/workflows"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_linters_reject_a_bad_workflow(tmp_path: Path) -> None:
    """The two checks above can fail: an injectable, unpinned pull_request_target workflow."""
    assert ACTIONLINT and ZIZMOR
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(BAD_WORKFLOW)
    lint = subprocess.run([ACTIONLINT, str(bad)], capture_output=True, text=True, env=lint_env())
    assert lint.returncode != 0 and "github.event.pull_request.title" in lint.stdout, lint.stdout
    audit = subprocess.run([ZIZMOR, "--offline", "--no-progress", str(bad)], capture_output=True, text=True)
    assert audit.returncode != 0, audit.stdout
    for finding in ("dangerous-triggers", "template-injection", "unpinned-uses"):
        assert finding in audit.stdout, f"zizmor did not report {finding}:\n{audit.stdout}"


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_actions_pinned_by_commit_with_version_comment(path: Path) -> None:
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*(-\s+)?uses:\s*(\S+)(\s+#\s*(\S+))?", line)
        if match:
            assert SHA_PIN.match(match.group(2)), f"{path.name}: {match.group(2)} is not pinned by commit SHA"
            assert match.group(4), f"{path.name}: {match.group(2)} needs a `# vX.Y.Z` comment"


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_least_privilege_permissions(path: Path) -> None:
    workflow = load(path.name)
    assert workflow.get("permissions") == {}, f"{path.name}: start from `permissions: {{}}`"
    for name, job in workflow["jobs"].items():
        granted = job.get("permissions")
        assert isinstance(granted, dict), f"{path.name}:{name} must list its permissions"
        writes = {scope for scope, level in granted.items() if level == "write"}
        # id-token: the Tailscale Action's workload identity federation (an OIDC token, no repo write)
        assert writes <= {"pull-requests", "issues", "id-token"}, f"{path.name}:{name} writes {writes}"
        assert set(granted) <= {"contents", *writes}, f"{path.name}:{name} asks for {granted}"
        if "pull-requests" in writes:
            assert triggers(workflow).keys() == {"pull_request"}, f"{path.name}:{name}"
        if "issues" in writes:  # the drift issue: main's code only, never a pull request's
            assert triggers(workflow).keys() == {"schedule", "workflow_dispatch"}, f"{path.name}:{name}"


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_secrets_only_from_the_secret_store(path: Path) -> None:
    text = path.read_text()
    assert "pull_request_target" not in text
    assert not re.search(r"tskey-|pul-[0-9a-f]{8}", text), f"{path.name} holds a credential"
    for step in (s for job in load(path.name)["jobs"].values() for s in steps(job)):
        assert "secrets." not in str(step.get("run", "")), f"{path.name}: pass secrets through env:"
        for value in (step.get("env") or {}).values():
            if re.search(r"(TOKEN|SECRET|PASSPHRASE|KEY)", str(value)) and "secrets." not in str(value):
                assert "github.token" in str(value), f"{path.name}: {value}"


def test_pr_preview_runs_make_preview_with_refresh_per_stack() -> None:
    workflow = load("preview.yml")
    assert triggers(workflow).keys() == {"pull_request"}
    job = workflow["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    assert 'make preview STACK="$STACK" REFRESH=1' in run_lines(job)
    preview = next(s for s in steps(job) if s.get("id") == "preview")
    assert preview["env"]["STACK"] == "${{ matrix.stack }}"
    assert "set -o pipefail" in preview["run"], "the tee must not hide a failed preview"
    post = steps(job)[-1]
    assert post["if"] == "always() && steps.preview.outcome != 'skipped'", "post findings of a failed preview"
    assert "preview_summary.py post" in post["run"]


def tailnet_joins(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's steps that join the tailnet with Tailscale's GitHub Action."""
    return [s for s in steps(job) if str(s.get("uses", "")).startswith(TAILSCALE_ACTION)]


def test_every_tailnet_join_is_the_deploy_tag_through_workload_identity() -> None:
    """Each job that previews, deploys or checks drift joins once, as tag:deploy
    (sovereign-ai:tailnet.deployTag), with a federated identity (client ID + audience, an OIDC
    token): no Tailscale secret, no auth key."""
    for name in ("preview.yml", "deploy.yml", "drift.yml"):
        for job_name, job in load(name)["jobs"].items():
            if job_name == "stacks":
                continue
            joins = tailnet_joins(job)
            assert len(joins) == 1, f"{name}:{job_name} must join the tailnet (the gateway is there)"
            join = joins[0]
            assert SHA_PIN.match(join["uses"]), f"{name}:{job_name}: pin {join['uses']} by commit SHA"
            assert join["uses"] == f"{TAILSCALE_ACTION}{TAILSCALE_ACTION_SHA}", f"{name}:{job_name}"
            assert join["with"]["tags"] == DEPLOY_TAG, f"{name}:{job_name} joins as {join['with']['tags']}"
            assert join["with"]["oauth-client-id"] == "${{ secrets.TS_DEPLOY_CLIENT_ID }}"
            assert join["with"]["audience"] == "${{ secrets.TS_DEPLOY_AUDIENCE }}"
            assert not {"oauth-secret", "authkey"} & set(join["with"]), (
                f"{name}:{job_name}: a long-lived secret"
            )
            assert job["permissions"].get("id-token") == "write", f"{name}:{job_name}: the OIDC token"


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_id_token_only_where_a_job_joins_with_workload_identity(path: Path) -> None:
    for name, job in load(path.name)["jobs"].items():
        federated = any("audience" in (step.get("with") or {}) for step in tailnet_joins(job))
        asks = (job.get("permissions") or {}).get("id-token") == "write"
        assert asks == federated, (
            f"{path.name}:{name}: id-token: write {'without' if asks else 'for'} a federated join"
        )


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_no_long_lived_tailscale_api_key(path: Path) -> None:
    """The provider gets a scoped OAuth client (TAILSCALE_OAUTH_CLIENT_ID/SECRET), never an API key."""
    text = path.read_text()
    assert "TAILSCALE_API_KEY" not in text and "tailscale:apiKey" not in text, path.name
    for job in load(path.name)["jobs"].values():
        assert all("authkey" not in (step.get("with") or {}) for step in tailnet_joins(job)), path.name


def test_deploys_dev_on_push_and_production_behind_a_reviewed_environment() -> None:
    workflow = load("deploy.yml")
    assert triggers(workflow).keys() == {"push", "workflow_dispatch"}
    dev = workflow["jobs"]["development"]
    assert dev["if"] == "github.event_name == 'push'"
    assert "make up STACK=dev REFRESH=1" in run_lines(dev)
    prod = workflow["jobs"]["production"]
    assert prod["environment"] == "production"
    assert prod["if"].startswith("github.event_name == 'workflow_dispatch'")
    assert 'make up STACK="$STACK" REFRESH=1' in run_lines(prod)
    assert workflow["concurrency"]["cancel-in-progress"] is False, "never cancel a running deploy"


def test_workflows_use_the_upstream_cli_and_plugin_versions_the_project_pins() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import toolchain

    for name in ("preview.yml", "deploy.yml", "drift.yml"):
        text = (WORKFLOWS / name).read_text()
        assert f"PULUMI_VERSION: {toolchain.PULUMI_VERSION}" in text, name
        assert f"pulumi plugin install resource tailscale {toolchain.TAILSCALE_VERSION}" in text, name
        assert f"pulumi plugin install resource command {toolchain.COMMAND_VERSION}" in text, name


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["preview", "STACK=prod", "REFRESH=1"], "scripts/stack.sh preview prod --refresh"),
        (["up", "STACK=dev", "REFRESH=1"], "scripts/stack.sh up dev --refresh"),
        (["preview", "STACK=dev"], "scripts/stack.sh preview dev\n"),
        (["preview", "STACK=dev", "REFRESH=0"], "scripts/stack.sh preview dev\n"),
        (["drift", "STACK=dev", "DRIFT_REPORT=d.md"], "scripts/drift.py check --stack dev --report d.md\n"),
    ],
)
def test_makefile_passes_refresh(args: list[str], expected: str) -> None:
    result = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout + "\n", result.stdout


def test_stack_sh_refuses_an_unknown_option() -> None:
    result = subprocess.run(
        ["scripts/stack.sh", "preview", "dev", "--yes"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "unknown option '--yes'" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["preview", "sandbox", "--refresh"], "preview --stack sandbox --policy-pack policies "
         "--policy-pack-config policies/config/development.json --refresh"),
        (["up", "sandbox"], "up --stack sandbox --policy-pack policies "
         "--policy-pack-config policies/config/development.json --yes"),
    ],
)  # fmt: skip
def test_stack_sh_hands_refresh_to_pulumi(tmp_path: Path, args: list[str], expected: str) -> None:
    env = fake_engine(tmp_path, f'echo "$*" >> {tmp_path / "pulumi-args"}')
    result = subprocess.run(["scripts/stack.sh", *args], cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "pulumi-args").read_text().splitlines()
    assert calls[-1] == expected, calls


def test_the_backend_is_chosen_by_pulumi_backend_url_only() -> None:
    """One way to choose the backend: Pulumi's own variable, kept by the engine's environment for
    every target; the Makefile's old `BACKEND_URL=` is refused, naming the new way."""
    old = subprocess.run(
        ["make", "-n", "up", "STACK=dev", "BACKEND_URL=s3://x"], cwd=ROOT, capture_output=True, text=True
    )
    assert old.returncode != 0 and "export PULUMI_BACKEND_URL='s3://x'" in old.stderr, old.stderr
    url = "postgres://pulumi@127.0.0.1:5432/pulumi?sslmode=disable"
    env = dict(os.environ, PULUMI_BACKEND_URL=url)
    exports = subprocess.run(
        [sys.executable, "scripts/toolchain.py", "env"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert f"export PULUMI_BACKEND_URL='{url}'" in exports.stdout.splitlines()
    makefile = (ROOT / "Makefile").read_text()
    assert "BACKEND_ENV" not in makefile
    for path in FILES:
        for job in load(path.name)["jobs"].values():
            for step in steps(job):
                names = {k for k in step.get("env") or {} if k.endswith("BACKEND_URL")}
                assert names <= {"PULUMI_BACKEND_URL"}, f"{path.name}: {names}"
                if names:
                    assert step["env"]["PULUMI_BACKEND_URL"] == "${{ secrets.PULUMI_BACKEND_URL }}", path.name


def test_drift_runs_nightly_and_by_hand_per_stack_and_keeps_one_issue_per_stack() -> None:
    workflow = load("drift.yml")
    assert triggers(workflow).keys() == {"schedule", "workflow_dispatch"}
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert "python3 scripts/drift.py stacks" in run_lines(workflow["jobs"]["stacks"])
    job = workflow["jobs"]["drift"]
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    assert job["strategy"]["fail-fast"] is False, "one stack's drift must not hide another's"
    assert job["environment"] == "preview-${{ matrix.stack }}", "read-only credentials"
    assert {k: v for k, v in job["permissions"].items() if k != "id-token"} == {
        "contents": "read",
        "issues": "write",
    }
    check = next(s for s in steps(job) if s.get("id") == "check")
    assert check["run"].startswith('make drift STACK="$STACK" DRIFT_REPORT=drift.md')
    assert check["env"]["STACK"] == "${{ matrix.stack }}"
    issue = steps(job)[-1]
    assert issue["if"].startswith("always()"), "a drifted stack fails the check step: the issue must follow"
    assert 'python3 scripts/drift.py issue --stack "$STACK" --report drift.md' in issue["run"]
    assert issue["env"]["GH_TOKEN"] == "${{ github.token }}"
    assert all("GH_TOKEN" not in (s.get("env") or {}) for s in steps(job)[:-1]), "only the issue step writes"
