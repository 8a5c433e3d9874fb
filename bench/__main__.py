"""`python -m bench`: every figure (issue 16; figure 8: issue 21) in one run, written to docs/benchmarks.md.

Needs the engine (`make setup`) and, for figure 2, ansible-core (`--ansible-bin`, the Makefile's
`.build/bench-venv/bin`). Sandboxes use OS-chosen ports, so a running `make sandbox-up` is left alone.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import (
    ansible_figure,
    engine_figure,
    figures,
    gateway_figure,
    pack_figure,
    report,
    rolling_figure,
    stack_figures,
    state_figure,
)
from testing.engine import ROOT, TOOLCHAIN


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--ansible-bin", type=Path, required=True, help="bin directory with ansible-playbook")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    ready = subprocess.run([sys.executable, str(ROOT / "scripts" / "toolchain.py"), "ready"], cwd=ROOT)
    if ready.returncode != 0:
        print("make bench: the engine is not ready; run `make setup`", file=sys.stderr)
        return 1
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"==> bench: {message} ({time.perf_counter() - started:.0f}s)", flush=True)

    with tempfile.TemporaryDirectory(prefix="sovereign-ai-bench-") as tmp:
        work = Path(tmp)
        progress("figures 1, 3, 4, 6: the sandbox stack")
        stack = stack_figures.run(work / "stack", progress)
        progress("figure 2: the Ansible playbook")
        runs = ansible_figure.run(args.ansible_bin.resolve(), work / "ansible", progress)
        progress("figure 4: policy pack evaluation on 10 .. 10,000 grants")
        pack = pack_figure.run()
        progress("figure 5: gateway convergence")
        kinds, convergence = gateway_figure.run()
        progress("figure 7: engine part start-up")
        startups = engine_figure.run(work / "plugin-logs")
        progress("figure 8: preview with the state on PostgreSQL")
        state = state_figure.run(work / "state", progress)
        progress("figure 9: rolling model update of 2 hosts against all at once")
        rolling = rolling_figure.run(work / "rolling", progress)
    built = [
        figures.no_op(stack),
        figures.ansible(runs, stack),
        figures.preview_overhead(stack),
        figures.policy_cost(stack, pack),
        figures.gateway(kinds, convergence),
        figures.model_swap(stack),
        figures.engine_parts(stack, startups),
        figures.state_backend(state),
        rolling_figure.figure(rolling),
    ]
    env = TOOLCHAIN.engine_env()
    pulumi = str(Path(env["PATH"].split(":")[0]) / "pulumi")
    versions = {
        "pulumi": report.command_version([pulumi, "version"]),
        "engine parts": report.engine_parts(),
        "ansible-core": report.command_version([str(args.ansible_bin / "ansible-playbook"), "--version"]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.render(built, versions, time.perf_counter() - started))
    for figure in built:
        for row in figure.rows:
            print(
                f"figure {figure.number}: {row.what}: {row.value}"
                + (f" (goal {row.goal})" if row.goal else "")
            )
    missed = [row for figure in built for row in figure.missed]
    print(
        f"==> bench: wrote {args.out} ({len(missed)} goal(s) missed) in {time.perf_counter() - started:.0f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
