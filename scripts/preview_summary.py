#!/usr/bin/env python3
"""Turn the output of `make preview` into a pull-request comment, and post it.

Why this exists: the PR workflow runs the same `make preview STACK=x REFRESH=1` a person runs, and
reviewers should see its two answers without opening the log: what would change, and what the
policy pack found (mandatory findings fail the check on a production stack). One comment per stack,
found again by a hidden marker and edited on every push, so a PR does not collect stale previews.

The comment carries pulumi's `Resources:` and `Policies:` blocks and its error lines, never the whole
log: GitHub masks secrets in a job's log, not in a comment, so the log stays behind the run link.

Usage:
  preview_summary.py render --stack dev --outcome success [--run-url URL] preview.log > summary.md
  preview_summary.py post --repo owner/name --pr 12 --stack dev summary.md   (GITHUB_TOKEN in env)

Standard library only: the workflow runs it with the runner's python before any venv exists.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_BLOCK_CHARS = 30_000
"""GitHub refuses comments over 65,536 characters; the full log stays in the job's output."""


def marker(stack: str) -> str:
    return f"<!-- sovereign-ai-preview: {stack} -->"


@dataclass
class Preview:
    """What a reviewer needs from one `pulumi preview` run."""

    resources: list[str] = field(default_factory=list)
    """The lines of the `Resources:` block, e.g. `+ 15 to create`."""

    policies: list[str] = field(default_factory=list)
    """The lines of the `Policies:` block, as pulumi printed them."""

    errors: list[str] = field(default_factory=list)
    """`error:` lines (a failed preview says why here)."""

    @property
    def mandatory(self) -> int:
        return sum("[mandatory]" in line for line in self.policies)

    @property
    def advisory(self) -> int:
        return sum("[advisory]" in line for line in self.policies)


def parse(log: str) -> Preview:
    """Pick the `Resources:` and `Policies:` blocks and the error lines out of pulumi's output."""
    preview = Preview()
    block: list[str] | None = None
    for raw in ANSI.sub("", log).splitlines():
        line = raw.rstrip()
        if line == "Resources:":
            block = preview.resources
            continue
        if line == "Policies:":
            block = preview.policies
            continue
        if line and not line[0].isspace():
            block = None
        if block is not None and line.strip():
            block.append(line.strip() if block is preview.resources else line)
        if "error:" in line and line.strip() not in preview.errors:
            preview.errors.append(line.strip())
    return preview


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in the text, so the log cannot end it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}text\n{text}\n{ticks}"


def render(stack: str, outcome: str, log: str, run_url: str | None = None) -> str:
    """The comment body: verdict, changes, policy findings (folded), errors, and a link to the run."""
    preview = parse(log)
    ok = outcome == "success"
    verdict = "passed" if ok else "FAILED"
    lines = [
        marker(stack),
        f"### Preview of stack `{stack}`: {verdict}",
        "",
        f"`make preview STACK={stack} REFRESH=1`, with the policy pack and this stack's environment.",
        "",
        f"**Changes:** {', '.join(preview.resources) if preview.resources else 'none reported'}",
        f"**Policy findings:** {preview.mandatory} mandatory, {preview.advisory} advisory",
    ]
    if not ok and preview.mandatory:
        lines.append("Mandatory findings block this change: fix them (each says how) and push again.")
    if not ok and preview.errors:
        lines += ["", "**Errors:**", _fence("\n".join(preview.errors[:20])[:MAX_BLOCK_CHARS])]
    if preview.policies:
        findings = "\n".join(preview.policies)[:MAX_BLOCK_CHARS]
        lines += ["", "<details><summary>Policy findings</summary>", "", _fence(findings), "", "</details>"]
    if run_url:
        lines += ["", f"Full output: [the preview job]({run_url})."]
    return "\n".join(lines) + "\n"


def _request(method: str, url: str, token: str, body: dict[str, str] | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Accept", "application/vnd.github+json")
    request.add_header("X-GitHub-Api-Version", "2022-11-28")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def post(api: str, repo: str, pr: int, stack: str, body: str, token: str) -> str:
    """Edit this stack's earlier comment on the PR, or add one; returns `created` or `updated`."""
    comments_url = f"{api}/repos/{repo}/issues/{pr}/comments"
    page = 1
    while True:
        comments = _request("GET", f"{comments_url}?per_page=100&page={page}", token)
        assert isinstance(comments, list)
        for comment in comments:
            if str(comment.get("body", "")).startswith(marker(stack)):
                _request(
                    "PATCH", f"{api}/repos/{repo}/issues/comments/{comment['id']}", token, {"body": body}
                )
                return "updated"
        if len(comments) < 100:
            break
        page += 1
    _request("POST", comments_url, token, {"body": body})
    return "created"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    render_cmd = sub.add_parser("render", help="print the comment for one preview log")
    render_cmd.add_argument("--stack", required=True)
    render_cmd.add_argument("--outcome", required=True, help="the preview step's outcome (success, failure)")
    render_cmd.add_argument("--run-url", help="link to the job whose log holds the full output")
    render_cmd.add_argument("log", type=Path)
    post_cmd = sub.add_parser("post", help="add or edit the stack's comment on a pull request")
    post_cmd.add_argument("--repo", required=True)
    post_cmd.add_argument("--pr", required=True, type=int)
    post_cmd.add_argument("--stack", required=True)
    post_cmd.add_argument("summary", type=Path)
    args = parser.parse_args(argv)
    if args.command == "render":
        log = args.log.read_text(errors="replace") if args.log.exists() else "(no preview output)"
        sys.stdout.write(render(args.stack, args.outcome, log, args.run_url))
        return 0
    token = os.environ.get("GITHUB_TOKEN")
    if not token:
        print("preview_summary.py: set GITHUB_TOKEN (the workflow passes github.token)", file=sys.stderr)
        return 2
    api = os.environ.get("GITHUB_API_URL", "https://api.github.com")
    result = post(api, args.repo, args.pr, args.stack, args.summary.read_text(), token)
    print(f"preview comment for stack {args.stack}: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
