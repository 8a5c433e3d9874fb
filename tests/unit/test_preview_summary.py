"""The PR comment the preview workflow posts: changes, policy findings, one comment per stack."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import preview_summary  # noqa: E402

# Trimmed from a real `make preview` of a production stack with `grants: [{src: ["*"], role: admin}]`.
FAILED = """\
==> pulumi preview --stack prod (production guardrails: policies/config/production.json)
Previewing update (prod):
 +  pulumi:pulumi:Stack sovereign-ai-prod create error: preview failed
Policies:
    \x1b[31m❌ sovereign-ai@v0.1.0 (local: policies)\x1b[0m
        - [mandatory]  aperture-no-wildcard-admin  (pulumi-python:dynamic/aperture:Config: gateway-config)
          Aperture config "gateway-config" grants[0]: gives the Aperture admin role to *
        - [advisory]  remote-command-no-public-bind  (command:remote:Command: spark-vllm)
          remote command "spark-vllm" is checked again during `pulumi up`, once the value is known

Diagnostics:
  pulumi:pulumi:Stack (sovereign-ai-prod):
    error: preview failed

Outputs:
    client_base_url          : "http://ai/v1"
"""

PASSED = """\
Previewing update (dev):
 ~  tailscale:index:Acl tailnet-policy update [diff: ~acl]
Policies:
    ⚠️ sovereign-ai@v0.1.0 (local: policies)
        - [advisory]  remote-command-no-public-bind  (command:remote:Command: spark-vllm)
          checked again during `pulumi up`

Resources:
    ~ 1 to update
    14 unchanged

Duration: 4s
"""


def test_parse_picks_changes_findings_and_errors() -> None:
    preview = preview_summary.parse(FAILED)
    assert (preview.mandatory, preview.advisory) == (1, 1)
    assert preview.errors[-1] == "error: preview failed"
    assert preview.resources == []
    assert "\x1b" not in "".join(preview.policies)
    assert preview_summary.parse(PASSED).resources == ["~ 1 to update", "14 unchanged"]


def test_render_a_failed_production_preview() -> None:
    body = preview_summary.render("prod", "failure", FAILED)
    assert body.startswith("<!-- sovereign-ai-preview: prod -->\n### Preview of stack `prod`: FAILED")
    assert "**Policy findings:** 1 mandatory, 1 advisory" in body
    assert "Mandatory findings block this change" in body
    assert "gives the Aperture admin role to *" in body


def test_render_a_passing_preview() -> None:
    body = preview_summary.render("dev", "success", PASSED)
    assert "`dev`: passed" in body
    assert "**Changes:** ~ 1 to update, 14 unchanged" in body
    assert "**Policy findings:** 0 mandatory, 1 advisory" in body
    assert "block this change" not in body


def test_the_log_cannot_close_its_code_fence() -> None:
    body = preview_summary.render("dev", "failure", PASSED + "```\nerror: a ``` b\n")
    assert "````text" in body and body.count("````") % 2 == 0


def test_the_comment_carries_findings_not_the_log() -> None:
    """GitHub masks secrets in job logs, not in comments: the log stays behind the run link."""
    log = PASSED.replace("Duration: 4s", "Duration: 4s\n  secret-looking output line")
    body = preview_summary.render("dev", "success", log, "https://github.com/o/r/actions/runs/5")
    assert "secret-looking" not in body
    assert body.rstrip().endswith("Full output: [the preview job](https://github.com/o/r/actions/runs/5).")


def test_a_huge_policy_block_is_cut_to_fit_a_comment() -> None:
    log = "Policies:\n" + "        - [advisory]  x  (y)\n" * 20_000
    assert len(preview_summary.render("dev", "success", log)) < 65_536


def _serve(httpserver: HTTPServer, comments: list[dict[str, object]]) -> list[tuple[str, str, object]]:
    calls: list[tuple[str, str, object]] = []

    def handler(request: Request) -> Response:
        assert request.headers["Authorization"] == "Bearer t0ken"
        body = json.loads(request.data) if request.data else None
        calls.append((request.method, request.path, body))
        if request.method == "GET":
            return Response(json.dumps(comments), content_type="application/json")
        return Response(json.dumps({"id": 9}), status=201 if request.method == "POST" else 200)

    httpserver.expect_request("/repos/o/r/issues/7/comments").respond_with_handler(handler)
    httpserver.expect_request("/repos/o/r/issues/comments/42").respond_with_handler(handler)
    return calls


def test_post_creates_the_stack_comment(httpserver: HTTPServer) -> None:
    calls = _serve(httpserver, [{"id": 1, "body": preview_summary.marker("prod") + "\nother stack"}])
    api = httpserver.url_for("").rstrip("/")
    assert preview_summary.post(api, "o/r", 7, "dev", "new", "t0ken") == "created"
    assert calls[-1] == ("POST", "/repos/o/r/issues/7/comments", {"body": "new"})


def test_post_edits_the_stack_comment_it_posted_before(httpserver: HTTPServer) -> None:
    calls = _serve(httpserver, [{"id": 42, "body": preview_summary.marker("dev") + "\nold"}])
    api = httpserver.url_for("").rstrip("/")
    assert preview_summary.post(api, "o/r", 7, "dev", "new", "t0ken") == "updated"
    assert calls[-1] == ("PATCH", "/repos/o/r/issues/comments/42", {"body": "new"})
    assert [c[0] for c in calls] == ["GET", "PATCH"]


def test_post_needs_a_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    summary = tmp_path / "summary.md"
    summary.write_text("x")
    args = ["post", "--repo", "o/r", "--pr", "1", "--stack", "dev", str(summary)]
    assert preview_summary.main(args) == 2
