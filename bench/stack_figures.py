"""Figures 1, 3, 4 (preview ratio), 6 and the counts of 7: the real engine on one sandbox stack.

One sandbox (`testing/sandbox_stack.py`, OS-chosen ports) and one stack, in this order:
first deploy (figure 6's baseline), no-op `up`s (figure 1, and the plugin starts of figure 7),
previews with and without the policy pack and of the bare program (figures 4 and 3), then a model
swap (figure 6). Commands are the ones a user runs: `scripts/stack.sh up sandbox` (= `make up`)
and `pulumi preview`.
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import bare_stack
from bench.measure import Seen, Window, timed
from components.host.remote_script import SCRIPTS
from testing.sandbox_stack import SandboxStack

NO_OP_RUNS = 3
PREVIEW_RUNS = 3
NEW_MODEL = "Qwen/Qwen3-30B-A3B-FP8"
PLUGIN_LOGS = {"language host": "language-python", "tailscale": "tailscale", "command": "command"}


@dataclass
class StackRun:
    """Everything measured on the sandbox stack."""

    first_deploy: Seen
    no_ops: list[Seen]
    swap: Seen
    swap_steps: list[str]
    first_steps: list[str]
    preview_plain: float
    preview_pack: float
    preview_bare: float
    plugin_starts: dict[str, int] = field(default_factory=dict)
    """Process starts per project engine part during one no-op `up` (from the plugins' logs)."""


def script_steps(seen: Seen) -> list[str]:
    """The `components/host/scripts/*.sh` each remote command ran, in order (recognised by its header)."""
    headers = {p.name: p.read_text().splitlines()[1] for p in sorted(SCRIPTS.glob("*.sh"))}
    steps = []
    for call in seen.calls:
        if call["service"] == "host":
            steps.append(next((n for n, h in headers.items() if h[:60] in call["command"]), "other"))
    return steps


def _ok(result: Any) -> Any:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def plugin_starts(log_dir: Path) -> dict[str, int]:
    """How many times each project part printed its port (one `serving on` log line per start)."""
    starts = {}
    for part, name in PLUGIN_LOGS.items():
        path = log_dir / f"{name}.log"
        text = path.read_text() if path.exists() else ""
        starts[part] = text.count(" serving on ")
    return starts


def run(work: Path, progress: Any) -> StackRun:
    """Measure on a fresh sandbox under `work`; stops the sandbox whatever happens."""
    stack = SandboxStack.start(work)
    window = Window(stack.state)
    try:
        progress("first deploy (scripts/stack.sh up sandbox)")
        _, first = window.watch(lambda: _ok(stack.stack_sh("up")))
        no_ops = []
        log_dir = Path(tempfile.mkdtemp(prefix="plugin-logs-", dir=work))
        for i in range(NO_OP_RUNS):
            progress(f"no-op up {i + 1}/{NO_OP_RUNS}")
            if i == 0:
                stack.env["SOVEREIGN_AI_PLUGIN_LOG_DIR"] = str(log_dir)
            _, seen = window.watch(lambda: _ok(stack.stack_sh("up")))
            stack.env.pop("SOVEREIGN_AI_PLUGIN_LOG_DIR", None)
            no_ops.append(seen)
        starts = plugin_starts(log_dir)
        progress("bare program: the same resources without components (state imported)")
        bare = bare_stack.build(stack, work / "bare")
        pack = ["--policy-pack", "policies", "--policy-pack-config", "policies/config/development.json"]
        plain, packed, bare_times = [], [], []
        for i in range(PREVIEW_RUNS):
            progress(f"previews {i + 1}/{PREVIEW_RUNS}: program, program + policy pack, bare program")
            plain.append(timed(lambda: _ok(stack.pulumi("preview"))))
            packed.append(timed(lambda: _ok(stack.pulumi("preview", *pack))))
            bare_times.append(bare_stack.preview_seconds(stack, bare))
        progress(f"model swap to {NEW_MODEL}")
        stack_file = stack.project / "Pulumi.sandbox.yaml"
        text = stack_file.read_text()
        model = next(line.split(":", 1)[1].strip() for line in text.splitlines() if "model:" in line)
        stack_file.write_text(text.replace(model, NEW_MODEL))
        _, swap = window.watch(lambda: _ok(stack.stack_sh("up")))
        return StackRun(
            first_deploy=first,
            no_ops=no_ops,
            swap=swap,
            swap_steps=script_steps(swap),
            first_steps=script_steps(first),
            preview_plain=statistics.median(plain),
            preview_pack=statistics.median(packed),
            preview_bare=statistics.median(bare_times),
            plugin_starts=starts,
        )
    finally:
        stack.stop()
