#!/usr/bin/env python3
"""Is a stack's live infrastructure still what its state says? `make drift STACK=x`, nightly in CI.

Why this exists: scheduled drift detection is a Pulumi Cloud feature; on a DIY backend nothing runs
it. `check` runs what `make preview STACK=x REFRESH=1` runs (`scripts/stack.sh preview x --refresh`:
the live state is read first, then the plan), shows pulumi's output as it comes, and judges the plan
with `--expect-no-changes` semantics: any resource the plan would create, update, replace or delete
is drift, named with the properties that differ, and the exit code is 1.

One change is expected and is not drift: the single-use auth key a host's join spent, which a
refresh finds `invalid` and `up` renews (`recreateIfInvalid`, README "Deploying for real"); a plan
whose only change is a `tailscale:index:TailnetKey` replaced for `~invalid` is clean.

`issue` keeps one GitHub issue per stack, titled `drift: <stack>`, in step with the last check:
opened (or its text updated) on drift, closed when the stack is clean again, left alone when the
check itself failed. It uses the `gh` CLI (`GH_TOKEN`, `GH_REPO`), as the drift workflow does.

Usage:
  drift.py check --stack dev [--report drift.md]    exit 0 clean, 1 drifted, 2 the preview failed
  drift.py issue --stack dev --report drift.md [--run-url URL]
  drift.py stacks                                   the stack files' names as JSON (CI's matrix)

Standard library only: the workflow runs `issue` with the runner's python.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from preview_summary import ANSI, parse

ROOT = Path(__file__).resolve().parent.parent
CHANGES = ("create replacement", "delete original", "create", "update", "replace", "delete")
PLAN_LINE = re.compile(
    r"^\s*[-+~]{1,2}\s+(?P<type>[\w.-]+:[\w/.-]*:[\w.$-]+)\s+(?P<name>\S+)\s+"
    rf"(?P<plan>{'|'.join(CHANGES)})(?:\s|$)(?:.*\[diff: (?P<diff>[^\]]*)\])?"
)
RENEWED_KEY = ("tailscale:index:TailnetKey", "~invalid")
"""A spent single-use auth key: renewed by the next `up`, by design."""
STATUS = re.compile(r"<!-- sovereign-ai-drift: (?P<stack>\S+) status=(?P<status>\w+) -->")
CLEAN, DRIFTED, FAILED = "clean", "drifted", "failed"


@dataclass
class Change:
    """One resource in the plan: what pulumi would do to it, and the properties that differ."""

    type: str
    name: str
    plans: list[str] = field(default_factory=list)
    diff: str = ""

    @property
    def expected(self) -> bool:
        return (self.type, self.diff) == RENEWED_KEY

    def describe(self) -> str:
        return f"{self.type} {self.name}: {', '.join(self.plans)}" + (f" ({self.diff})" if self.diff else "")


def changes(log: str) -> list[Change]:
    """The resources pulumi's plan would change, in order of first mention (refresh lines skipped)."""
    found: dict[tuple[str, str], Change] = {}
    for line in ANSI.sub("", log).splitlines():
        match = PLAN_LINE.match(line)
        if not match:
            continue
        change = found.setdefault((match["type"], match["name"]), Change(match["type"], match["name"]))
        if match["plan"] not in change.plans:
            change.plans.append(match["plan"])
        change.diff = match["diff"] or change.diff
    return list(found.values())


def verdict(returncode: int, log: str) -> tuple[str, list[Change]]:
    """`clean`, `drifted` or `failed`, with the drifted resources."""
    if returncode != 0:
        return FAILED, []
    found = changes(log)
    drifted = [c for c in found if not c.expected]
    if not found and any(" to " in line for line in parse(log).resources):
        # The summary counts changes, yet no plan line was recognised: never call that clean.
        drifted = [Change("(plan lines not recognised)", "see the preview output", ["change"])]
    return (DRIFTED if drifted else CLEAN), drifted


def report(stack: str, status: str, drifted: list[Change], log: str, run_url: str | None) -> str:
    """The issue's text (and the job summary's): what drifted and how to repair it."""
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"<!-- sovereign-ai-drift: {stack} status={status} -->",
        f"### Drift check of stack `{stack}`: {status}",
        "",
    ]
    if status == DRIFTED:
        lines += [f"On {when}, `make drift STACK={stack}` (`make preview STACK={stack} REFRESH=1`) found "
                  "the live infrastructure different from the stack's state:", "",
                  "| resource | type | plan | properties |", "| --- | --- | --- | --- |"]  # fmt: skip
        lines += [f"| `{c.name}` | `{c.type}` | {', '.join(c.plans)} | `{c.diff or '-'}` |" for c in drifted]
        lines += ["", f"**Repair:** read the plan (`make preview STACK={stack} REFRESH=1`), then "
                  f"`make up STACK={stack} REFRESH=1` puts back what the program declares. If the change "
                  "was intended, make it in the program or the stack file instead, and deploy that."]  # fmt: skip
    elif status == CLEAN:
        lines.append(f"On {when} the live infrastructure matched the stack's state.")
    else:
        errors = "\n".join(parse(log).errors[:20]) or "(no error line; see the job's log)"
        lines += [f"On {when} the preview itself failed, so drift is unknown:", "", "```text", errors, "```"]
    if run_url:
        lines += ["", f"Full output: [the drift job]({run_url})."]
    return "\n".join(lines) + "\n"


def check(stack: str, report_path: Path | None, run_url: str | None) -> int:
    print(f"==> drift: stack {stack}: scripts/stack.sh preview {stack} --refresh", flush=True)
    process = subprocess.Popen(
        ["scripts/stack.sh", "preview", stack, "--refresh"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    log = []
    for line in process.stdout:
        sys.stdout.write(line)
        log.append(line)
    status, drifted = verdict(process.wait(), "".join(log))
    if report_path:
        report_path.write_text(report(stack, status, drifted, "".join(log), run_url))
    renewed = [c for c in changes("".join(log)) if c.expected]
    if status == FAILED:
        print(f"==> drift: stack {stack}: the preview failed (exit {process.returncode}); drift unknown")
        return 2
    if status == DRIFTED:
        print(f"==> drift: stack {stack}: {len(drifted)} resource(s) differ from the state:")
        for change in drifted:
            print(f"    {change.describe()}")
        print(
            f"    repair: make up STACK={stack} REFRESH=1 (read `make preview STACK={stack} REFRESH=1` first)"
        )
        return 1
    print(f"==> drift: stack {stack}: no drift")
    for change in renewed:
        print(f"    expected: {change.name}, a spent single-use auth key, is renewed by the next `make up`")
    return 0


def gh(*args: str) -> str:
    result = subprocess.run(["gh", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"drift.py: gh {args[0]} {args[1]} failed: {result.stderr.strip()}")
    return result.stdout


def sync_issue(stack: str, report_path: Path) -> str:
    """Open, update or close the stack's `drift: <stack>` issue; returns what it did."""
    text = report_path.read_text() if report_path.exists() else ""
    found = STATUS.search(text)
    status = found["status"] if found and found["stack"] == stack else FAILED
    if status == FAILED:
        return "the check failed: issue left as it is"
    title = f"drift: {stack}"
    listed = json.loads(gh("issue", "list", "--state", "open", "--limit", "500", "--json", "number,title"))
    numbers = [str(issue["number"]) for issue in listed if issue["title"] == title]
    if status == DRIFTED and numbers:
        gh("issue", "edit", numbers[0], "--body-file", str(report_path))
        return f"updated #{numbers[0]}"
    if status == DRIFTED:
        url = gh("issue", "create", "--title", title, "--body-file", str(report_path)).strip()
        return f"opened {url}"
    for number in numbers:
        gh("issue", "close", number, "--comment", text)
    return f"closed #{', #'.join(numbers)}" if numbers else "clean, no issue open"


def stack_names(root: Path) -> list[str]:
    """Every `Pulumi.<stack>.yaml` but the sandbox's, which only `make demo` deploys."""
    names = (p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml"))
    return sorted(name for name in names if name != "sandbox")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check_cmd = sub.add_parser("check", help="preview with refresh; exit 1 on drift, 2 if the preview failed")
    issue_cmd = sub.add_parser("issue", help="open, update or close the stack's drift issue (gh CLI)")
    for command in (check_cmd, issue_cmd):
        command.add_argument("--stack", required=True)
        command.add_argument("--report", type=Path, required=command is issue_cmd)
    check_cmd.add_argument("--run-url", help="link to the job, written into the report")
    sub.add_parser("stacks", help="the stacks to check, as a JSON list")
    args = parser.parse_args(argv)
    if args.command == "check":
        return check(args.stack, args.report, args.run_url)
    if args.command == "issue":
        print(f"drift issue for stack {args.stack}: {sync_issue(args.stack, args.report)}")
        return 0
    print(json.dumps(stack_names(ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
