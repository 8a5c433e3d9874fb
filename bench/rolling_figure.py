"""Figure 9: a model update of two Sparks that serve one model, rolled against all at once.

One sandbox with two emulated hosts whose fake vLLM takes `LOAD_SECONDS` to load, both serving the
model id `qwen`, deployed once. Then, with a model user calling through the gateway every 0.1 s the
whole time (`testing/traffic.py`), the model weights change (`model`, same `servedModelName`):
first with the hosts rolling (the default), then, after `rollingUpdate: false` on both (an `up`
that changes nothing on the hosts), all at once as before rolling updates. Both updates run on the
same sandbox, one after the other, with the same load time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure import Window
from bench.results import Figure, ratio, seconds
from testing.sandbox_stack import SandboxStack
from testing.traffic import Traffic

LOAD_SECONDS = 5.0
"""The fake vLLM's model load (a real first load takes 10-15 minutes; the ratio is what matters)."""

SERVED = "qwen"
MODELS = ("Qwen/Qwen3.6-35B-A3B-FP8", "Qwen/Qwen3-30B-A3B-FP8", "Qwen/Qwen3-32B-FP8")


@dataclass(frozen=True)
class Update:
    """One model update of the two hosts, as the client saw it."""

    sent: int
    failed: int
    outage: float
    """Seconds the gateway had no healthy provider for the model (testing/traffic.py)."""
    seconds: float
    """The `up`'s wall time."""
    gateway_writes: int


@dataclass(frozen=True)
class RollingRun:
    """The rolling update and the all-at-once update, side by side."""

    rolling: Update
    all_at_once: Update


def _ok(result: Any) -> Any:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _update(stack: SandboxStack, window: Window, model: str) -> Update:
    for index in range(2):
        stack.set_host(index, model=model)
    traffic = Traffic(stack, SERVED).start()
    try:
        _, seen = window.watch(lambda: _ok(stack.stack_sh("up")))
    finally:
        traffic.stop()
    writes = sum(1 for c in seen.calls if c["service"] == "aperture" and c.get("method") == "PUT")
    return Update(len(traffic.answers), len(traffic.failed), traffic.outage_seconds(), seen.seconds, writes)


def run(work: Path, progress: Callable[[str], None]) -> RollingRun:
    """Measure on a fresh two-host sandbox under `work`; stops the sandbox whatever happens."""
    stack = SandboxStack.start(work, hosts=2, vllm_startup_seconds=LOAD_SECONDS)
    window = Window(stack.state)
    try:
        progress("figure 9: deploy two Sparks serving one model")
        stack.use_hosts(servedModelName=SERVED, model=MODELS[0])
        _ok(stack.stack_sh("up"))
        progress("figure 9: rolling model update, a client calling throughout")
        rolling = _update(stack, window, MODELS[1])
        progress("figure 9: all-at-once model update (rollingUpdate: false), a client calling throughout")
        for index in range(2):
            stack.set_host(index, rollingUpdate=False)
        _ok(stack.stack_sh("up"))
        all_at_once = _update(stack, window, MODELS[2])
        return RollingRun(rolling, all_at_once)
    finally:
        stack.stop()


def figure(run: RollingRun) -> Figure:
    """Figure 9, with its reading for a user."""
    fig = Figure(9, "Model update of 2 Sparks serving one model: rolling against all at once")
    rolling, at_once = run.rolling, run.all_at_once
    fig.add("rolling: requests failed", f"{rolling.failed} of {rolling.sent}", "0", rolling.failed == 0)
    fig.add("rolling: time without a healthy provider", seconds(rolling.outage), "0 s", rolling.outage == 0)
    fig.add("all at once: requests failed", f"{at_once.failed} of {at_once.sent}")
    fig.add("all at once: time without a healthy provider", seconds(at_once.outage))
    fig.add("rolling: wall time / gateway writes", f"{seconds(rolling.seconds)} / {rolling.gateway_writes}")
    fig.add(
        "all at once: wall time / gateway writes", f"{seconds(at_once.seconds)} / {at_once.gateway_writes}"
    )
    fig.add("wall time rolling / all at once", ratio(rolling.seconds / at_once.seconds))
    fig.reading = (
        f"Rolled one host at a time, the update cost the client {rolling.failed} failed requests: each "
        "Spark leaves the gateway's routing before its container goes and comes back once ready, so "
        f"the other one serves meanwhile. All at once, the gateway had no healthy provider for "
        f"{at_once.outage:.1f} s (the model load, {LOAD_SECONDS:g} s here, plus the container restart), "
        "and every request in that time failed. The price of rolling is time: the loads run one after "
        f"the other ({rolling.seconds / at_once.seconds:.1f}x the wall time here; on real Sparks two "
        "loads of 10-15 minutes instead of one) and two gateway writes per host (out, and back in)."
    )
    fig.notes += [
        f"`bench/rolling_figure.py`: one sandbox with two emulated hosts, the fake vLLM loading for "
        f"{LOAD_SECONDS:g} s, both serving one model id; the weights (`model`) change, the served id "
        "does not. A model user sends a chat completion through the gateway every 0.1 s during each "
        "`make up`. The all-at-once update is the same program with `rollingUpdate: false` on both hosts.",
        "Time without a healthy provider: from the first failed request of a run of failures to the "
        "next success, summed (`testing/traffic.py`).",
    ]
    return fig
