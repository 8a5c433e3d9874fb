#!/usr/bin/env python3
"""Move every stack of the local backend (`.state/`) to another backend: `make state-migrate TO=...`.

Why this exists: a team that starts on one laptop has its stacks in `.state/`; a shared backend
(`make state-up`, or a managed PostgreSQL) needs the same stacks, with their secrets still readable
by the same passphrase. Per stack, in the project's directory:

1. `pulumi stack export` from the local backend: the deployment with every secret still encrypted
   (no `--show-secrets`: the plaintext never leaves the engine);
2. `pulumi stack init --secrets-provider passphrase` on the target: with `Pulumi.<stack>.yaml`'s
   `encryptionsalt` already there, the CLI keeps that salt, so the passphrase that opened the stack
   before (`PULUMI_CONFIG_PASSPHRASE`) opens it now;
3. `pulumi stack import` of that deployment on the target;
4. `pulumi preview --expect-no-changes` on the target: the moved stack must plan no change.

A stack that already exists in the target is refused, before anything is moved, unless `FORCE=1`
(`--force`): its deployment is then replaced by the local one. The local backend is left as it was.

Usage: TO=postgres://... python3 scripts/state_migrate.py [--to URL] [--from URL] [--force]
       (run with the engine's environment: `make state-migrate TO=...` sets it)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SANDBOX_PASSPHRASE = "sovereign-ai-local"
"""Stack `sandbox`'s committed salt is for this passphrase (as in scripts/stack.sh)."""


class MigrateError(Exception):
    """A step failed; the message says which and what to do."""


def masked(url: str) -> str:
    """The URL with its password (if any) shown as `****`."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:****@{host}"


def pulumi(backend: str, *args: str, stack: str | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PULUMI_BACKEND_URL": backend}
    if stack == "sandbox":
        env["PULUMI_CONFIG_PASSPHRASE"] = SANDBOX_PASSPHRASE
    argv = ["pulumi", *args, "--non-interactive", *(["--stack", stack] if stack else [])]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def ok(result: subprocess.CompletedProcess[str], step: str) -> str:
    if result.returncode != 0:
        lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        errors = [line.strip() for line in lines if "error" in line.lower()] or lines[-5:]
        raise MigrateError(f"{step}: " + "; ".join(errors[-5:]))
    return result.stdout


def stacks(backend: str) -> list[str]:
    """This project's stacks in a backend."""
    listed = json.loads(ok(pulumi(backend, "stack", "ls", "--json"), f"pulumi stack ls on {masked(backend)}"))
    return sorted(str(entry["name"]).split("/")[-1] for entry in listed)


def migrate(stack: str, source: str, target: str, exists: bool, work: Path) -> str:
    """Move one stack; returns what its preview on the target says."""
    export = work / f"{stack}.json"
    ok(pulumi(source, "stack", "export", "--file", str(export), stack=stack), "pulumi stack export")
    if not exists:
        ok(pulumi(target, "stack", "init", "--secrets-provider", "passphrase", stack=stack),
           "pulumi stack init on the target (is PULUMI_CONFIG_PASSPHRASE the stack's passphrase?)")  # fmt: skip
    ok(pulumi(target, "stack", "import", "--file", str(export), stack=stack), "pulumi stack import")
    resources = json.loads(export.read_text()).get("deployment", {}).get("resources") or []
    if not resources:
        return "no resources yet: nothing to preview"
    preview = pulumi(target, "preview", "--expect-no-changes", stack=stack)
    ok(preview, f"pulumi preview --expect-no-changes --stack {stack} on the target (the state is copied; "
               "fix the cause and re-run that preview)")  # fmt: skip
    summary = [line.strip() for line in preview.stdout.splitlines() if line.strip().endswith("unchanged")]
    return f"preview: no changes ({summary[-1] if summary else 'ok'})"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--to", default=os.environ.get("TO"), help="target backend URL (default $TO)")
    parser.add_argument("--from", dest="source", default=f"file://{ROOT / '.state'}")
    parser.add_argument(
        "--force", action="store_true", default=os.environ.get("FORCE") in ("1", "yes", "true")
    )
    args = parser.parse_args(argv)
    if not args.to:
        print("state_migrate: name the target: make state-migrate TO=postgres://...", file=sys.stderr)
        return 2
    if args.to.rstrip("/") == args.source.rstrip("/"):
        print("state_migrate: the target is the local backend itself", file=sys.stderr)
        return 2
    try:
        local, there = stacks(args.source), set(stacks(args.to))
    except MigrateError as exc:
        print(f"state_migrate: {exc}", file=sys.stderr)
        return 1
    print(f"==> state-migrate: {len(local)} stack(s) from {masked(args.source)} to {masked(args.to)}")
    clash = [s for s in local if s in there]
    if clash and not args.force:
        print(f"state_migrate: already in the target: {', '.join(clash)}; nothing was moved. Pass FORCE=1 to "
              "replace their state there with the local one", file=sys.stderr)  # fmt: skip
        return 1
    failed = []
    with tempfile.TemporaryDirectory(prefix="state-migrate-") as tmp:
        for stack in local:
            started = time.monotonic()
            steps = "export, import over the existing stack" if stack in there else "export, init, import"
            print(f"==> {stack}: {steps}, preview ...", flush=True)
            try:
                outcome = migrate(stack, args.source, args.to, stack in there, Path(tmp))
            except MigrateError as exc:
                failed.append(stack)
                print(f"    FAILED ({time.monotonic() - started:.1f}s): {exc}", flush=True)
                continue
            print(f"    ok ({time.monotonic() - started:.1f}s): {outcome}", flush=True)
    if failed:
        print(f"state_migrate: {', '.join(failed)} not done (see above); the others are. Fix the cause, then "
              "`make state-migrate TO=... FORCE=1` moves them again", file=sys.stderr)  # fmt: skip
        return 1
    print("==> state-migrate: done; use the new backend: export PULUMI_BACKEND_URL=<the TO url>")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
