"""Figure 7: start-up of each engine part, from process start to the port line on its stdout.

Each part is started the way the engine starts it (its executable with an engine address as the
only argument), `RUNS` times; the figure is the median. The project's parts (language host,
tailscale and command plugins) come from the toolchain's bin directory and Pulumi home; the
dynamic-resource provider (`pulumi-resource-pulumi-python`, upstream's, which runs the
`ApertureConfig` and `HostState` providers) and the policy pack's start (a fresh `policies/venv`
interpreter importing every rule module, `bench/bench_policy_pack_load.py`) are measured beside them,
since they also start on every command.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import time
from pathlib import Path

from testing.engine import ROOT, TOOLCHAIN

RUNS = 5
ENGINE_ADDRESS = "127.0.0.1:1"
"""Nothing listens there: a part prints its port before it ever calls the engine."""


def parts() -> dict[str, list[str]]:
    """Each part's command line, as the engine would start it."""
    env = os.environ | TOOLCHAIN.engine_env()
    home = Path(env["PULUMI_HOME"]) / "plugins"
    found = {
        "language host (project)": shutil.which("pulumi-language-python", path=env["PATH"]),
        "tailscale plugin (project)": str(home / "resource-tailscale-v0.29.2" / "pulumi-resource-tailscale"),
        "command plugin (project)": str(home / "resource-command-v1.2.1" / "pulumi-resource-command"),
        "dynamic provider (upstream)": shutil.which("pulumi-resource-pulumi-python", path=env["PATH"]),
    }
    return {name: [path, ENGINE_ADDRESS] for name, path in found.items() if path and Path(path).exists()}


def start_seconds(argv: list[str], log_dir: Path) -> float:
    """Process start to the first line on stdout; the part is then stopped as the engine stops it."""
    env = (
        os.environ
        | TOOLCHAIN.engine_env()
        | {
            "SOVEREIGN_AI_PLUGIN_LOG_DIR": str(log_dir),
            "PULUMI_RUNTIME_VIRTUALENV": str(ROOT / "venv"),
        }
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    seconds = time.perf_counter() - started
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert line.strip().isdigit(), f"{argv[0]} printed {line!r}, not a port"
    return seconds


def pack_seconds() -> float:
    """A fresh policy-pack interpreter importing and building every rule (no port: no gRPC server)."""
    from bench.bench_policy_pack_load import load_seconds

    return load_seconds(ROOT / "policies" / "venv" / "bin" / "python")


def run(log_dir: Path) -> dict[str, float]:
    """Median start-up per part, in seconds."""
    result = {}
    for name, argv in parts().items():
        result[name] = statistics.median(start_seconds(argv, log_dir) for _ in range(RUNS))
    result["policy pack (imports)"] = statistics.median(pack_seconds() for _ in range(RUNS))
    return result


if __name__ == "__main__":
    import tempfile

    print(run(Path(tempfile.mkdtemp())))
