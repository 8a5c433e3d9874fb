"""scripts/drift.py: how a refreshed preview is judged, the issue's text, and the issue kept per stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import drift  # noqa: E402

# Trimmed from a real `make preview STACK=sandbox REFRESH=1` right after a deploy: the join spent the
# single-use auth key, which the refresh finds invalid.
CLEAN = """\
==> pulumi preview --stack sandbox (development guardrails: policies/config/development.json)
Previewing update (sandbox):
 ~  tailscale:index:Acl tailnet-policy refreshing
 ~  tailscale:index:TailnetKey tailnet-spark-key refresh [diff: ~invalid]
 ~  tailscale:index:Acl tailnet-policy refresh
    tailscale:index:Acl tailnet-policy
 ++ tailscale:index:TailnetKey tailnet-spark-key create replacement [diff: ~invalid]
 +- tailscale:index:TailnetKey tailnet-spark-key replace [diff: ~invalid]
    command:remote:Command spark-vllm
 -- tailscale:index:TailnetKey tailnet-spark-key delete original [diff: ~invalid]
    pulumi:pulumi:Stack sovereign-ai-sandbox
Resources:
    +-1 to replace
    14 unchanged
"""

# The same after a hand edit of the policy file and a container stopped on the host.
DRIFTED = CLEAN.replace(
    "    tailscale:index:Acl tailnet-policy\n",
    " ~  tailscale:index:Acl tailnet-policy update [diff: ~acl]\n",
).replace(
    "    command:remote:Command spark-vllm\n",
    " +- pulumi-python:dynamic/host:State spark-state replace [diff: ~container]\n"
    " +- command:remote:Command spark-vllm replace [diff: ~triggers]\n",
)


def test_a_spent_auth_key_alone_is_not_drift() -> None:
    status, drifted = drift.verdict(0, CLEAN)
    assert (status, drifted) == ("clean", [])
    (renewed,) = drift.changes(CLEAN)
    assert renewed.expected and renewed.plans == ["create replacement", "replace", "delete original"]


def test_drift_names_each_resource_with_its_plan_and_properties() -> None:
    status, drifted = drift.verdict(0, DRIFTED)
    assert status == "drifted"
    assert [c.describe() for c in drifted] == [
        "tailscale:index:Acl tailnet-policy: update (~acl)",
        "pulumi-python:dynamic/host:State spark-state: replace (~container)",
        "command:remote:Command spark-vllm: replace (~triggers)",
    ]


def test_refresh_lines_alone_are_not_changes() -> None:
    assert drift.changes(" ~  tailscale:index:Acl tailnet-policy refresh [diff: ~acl]\n") == []


def test_a_failed_preview_is_neither_clean_nor_drift() -> None:
    assert drift.verdict(1, DRIFTED) == ("failed", [])


def test_changes_the_plan_lines_do_not_show_are_never_clean() -> None:
    status, drifted = drift.verdict(0, "Resources:\n    ~ 1 to update\n    14 unchanged\n")
    assert status == "drifted" and drifted[0].name == "see the preview output"


def test_the_report_says_what_drifted_and_how_to_repair() -> None:
    _, drifted = drift.verdict(0, DRIFTED)
    text = drift.report("dev", "drifted", drifted, DRIFTED, "https://example.test/run/1")
    assert text.startswith("<!-- sovereign-ai-drift: dev status=drifted -->\n")
    assert "| `tailnet-policy` | `tailscale:index:Acl` | update | `~acl` |" in text
    assert "`make up STACK=dev REFRESH=1`" in text and "TailnetKey" not in text
    assert "[the drift job](https://example.test/run/1)" in text
    failed = drift.report("dev", "failed", [], "error: could not reach the gateway\n", None)
    assert "error: could not reach the gateway" in failed and "drift is unknown" in failed


def fake_gh(tmp_path: Path, issues: list[dict[str, object]]) -> tuple[dict[str, str], Path]:
    """PATH with a `gh` that lists `issues` and records every call's arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "gh-calls"
    script = bin_dir / "gh"
    script.write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\n'
        f'if [ "$1 $2" = "issue list" ]; then echo \'{json.dumps(issues)}\'; fi\n'
        'if [ "$1 $2" = "issue create" ]; then echo https://github.test/o/r/issues/9; fi\n'
    )
    script.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}"), calls


@pytest.mark.parametrize(
    ("status", "open_issues", "said", "last_call"),
    [
        (
            "drifted",
            [],
            "opened https://github.test/o/r/issues/9",
            "issue create --title drift: dev --body-file",
        ),
        ("drifted", [{"number": 4, "title": "drift: dev"}], "updated #4", "issue edit 4 --body-file"),
        ("clean", [{"number": 4, "title": "drift: dev"}], "closed #4", "issue close 4 --comment"),
        ("clean", [{"number": 5, "title": "drift: dev-2"}], "clean, no issue open", "issue list"),
        ("failed", [{"number": 4, "title": "drift: dev"}], "the check failed: issue left as it is", None),
    ],
)
def test_one_issue_per_stack_follows_the_last_check(
    tmp_path: Path, status: str, open_issues: list[dict[str, object]], said: str, last_call: str | None
) -> None:
    env, calls = fake_gh(tmp_path, open_issues)
    report = tmp_path / "drift.md"
    report.write_text(drift.report("dev", status, [], "", None))
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "drift.py"), "issue", "--stack", "dev", "--report", str(report)],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"drift issue for stack dev: {said}"
    recorded = calls.read_text().splitlines() if calls.exists() else []
    if last_call is None:
        assert recorded == [], "a failed check must not touch the issue"
    else:
        assert any(line.startswith(last_call) for line in recorded), recorded
        assert not any(
            line.startswith(("issue create", "issue edit", "issue close"))
            for line in recorded
            if not line.startswith(last_call)
        ), recorded


def test_the_stacks_to_check_are_the_stack_files_but_the_sandbox(tmp_path: Path) -> None:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "Pulumi.sandbox.yaml"):
        (tmp_path / name).write_text("")
    assert drift.stack_names(tmp_path) == ["dev", "prod"]
