#!/usr/bin/env python3
"""Build or locate the Pulumi engine and the plugins this project needs.

Why this exists: get.pulumi.com and GitHub releases are unreachable on the machines this project
targets, while the Go module proxy is. The CLI is a Go module, so it is built here once per machine
into a cache outside the repository, keyed by version, and reused by every clone (CI included). The
proxy refuses, for good, the Python language host and the `tailscale` and `command` plugins, so the
project's own (`plugins/`, docs/architecture.md §9) are installed in their place: the host next to the
CLI, the plugins into the toolchain's Pulumi home at the exact versions the PyPI SDKs ask for. They
run from a small venv of their own (`engine-venv`) and a content-keyed copy of `plugins/`.

Upstream's parts win: a user who already has `pulumi` on PATH keeps it, its bundled host and its
Pulumi home, and nothing of the project's is installed there; a plugin version already installed
without the project's marker is upstream's and is left alone. `status` labels every part
`upstream` or `project`.

Each part is a step that prints what it does and how long it took. The full output of every step
goes to the log file; a failed step names itself and the log. `status.json` (see `status_path`)
records each step, so `ready` can say what keeps the engine from running.

Usage: python3 scripts/toolchain.py build | env | status | ready
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path

PULUMI_VERSION = "3.274.1"
"""CLI and language host version; not older than the `pulumi` pin in requirements.txt."""

TAILSCALE_VERSION = "0.29.2"
"""`pulumi-tailscale` on PyPI asks the engine for exactly this plugin version."""

COMMAND_VERSION = "1.2.1"
"""`pulumi-command` on PyPI asks the engine for exactly this plugin version."""

PKG_MODULE = "github.com/pulumi/pulumi/pkg/v3"
SDK_MODULE = "github.com/pulumi/pulumi/sdk/v3"

ROOT = Path(__file__).resolve().parent.parent

PLUGIN_PACKAGES = ("plugins", "hujson")
"""What the project's engine parts import: themselves and the HuJSON formatter, nothing of the program."""


def cache_dir() -> Path:
    """`${XDG_CACHE_HOME:-$HOME/.cache}/sovereign-ai`: survives clones, shared by CI on this machine."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sovereign-ai"


def bin_dir() -> Path:
    """Where the CLI, the language host and its two helper scripts sit side by side."""
    return cache_dir() / f"pulumi-v{PULUMI_VERSION}" / "bin"


def plugin_build_dir() -> Path:
    return cache_dir() / "plugins"


def pulumi_home() -> Path:
    """Our plugin cache; a user's own `pulumi` keeps its own home (`PULUMI_HOME` or ~/.pulumi)."""
    if existing_pulumi():
        return Path(os.environ.get("PULUMI_HOME") or Path.home() / ".pulumi")
    return cache_dir() / "pulumi-home"


def status_path() -> Path:
    return cache_dir() / "status.json"


def log_path() -> Path:
    return ROOT / ".build" / "setup.log"


class StepFailed(Exception):
    """A step could not finish; `blocked` marks a refusal nothing on this machine can fix."""

    def __init__(self, message: str, blocked: bool = False) -> None:
        super().__init__(message)
        self.blocked = blocked


@dataclass
class Runner:
    """Runs commands with their output appended to the log, and times named steps."""

    log: Path
    results: dict[str, dict[str, str]] = field(default_factory=dict)

    def run(
        self,
        cmd: list[str],
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> str:
        with self.log.open("a") as log:
            log.write(f"\n$ {' '.join(cmd)}  (in {cwd or os.getcwd()})\n")
            log.flush()
            proc = subprocess.run(
                cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            log.write(proc.stdout)
        if check and proc.returncode != 0:
            raise StepFailed(_last_error(proc.stdout) or f"{cmd[0]} exited {proc.returncode}")
        return proc.stdout

    def note(self, message: str) -> None:
        with self.log.open("a") as log:
            log.write(f"note: {message}\n")

    def step(self, name: str, action: Callable[[], str]) -> bool:
        """Run one step; print `name ... detail (Ns)`; record ok/blocked/failed in the results."""
        print(f"==> {name} ...", flush=True)
        started = time.monotonic()
        try:
            detail = action()
        except StepFailed as exc:
            elapsed = time.monotonic() - started
            state = "blocked" if exc.blocked else "failed"
            self.results[name] = {"state": state, "detail": str(exc)}
            print(f"    {state.upper()} after {elapsed:.1f}s: {exc}", flush=True)
            print(f"    full output: {self.log}", flush=True)
            return False
        elapsed = time.monotonic() - started
        self.results[name] = {"state": "ok", "detail": detail}
        print(f"    ok ({elapsed:.1f}s) {detail}", flush=True)
        return True


def _last_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(("go:", "error", "Error", "ERROR", "#")) or "403" in line:
            return line
    return lines[-1] if lines else ""


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"})
    return env


def module_info(runner: Runner, module: str, version: str) -> dict[str, object]:
    """`go mod download -json` for one module version; StepFailed(blocked) when the proxy refuses."""
    # go prints the JSON (with an Error field) and exits 1 when the proxy refuses.
    out = runner.run(["go", "mod", "download", "-json", f"{module}@{version}"], env=go_env(), check=False)
    try:
        info: dict[str, object] = json.loads(out[out.index("{") :])
    except ValueError:
        raise StepFailed(f"{module}@{version}: {_last_error(out)}") from None
    if info.get("Error"):
        error = " ".join(str(info["Error"]).split())
        raise StepFailed(error, blocked=_is_refusal(error))
    return info


def _is_refusal(message: str) -> bool:
    return any(word in message for word in ("403", "404", "410", "not available", "unknown revision"))


def writable_copy(src: str, dest: Path) -> Path:
    """Module-cache copies are read-only; builds that edit go.mod or generate files need a copy."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    return dest


def ldflag(variable: str, value: str) -> list[str]:
    return ["-trimpath", "-ldflags", f"-s -w -X {variable}={value}"]


# ----------------------------------------------------------------------------------------------
# steps


def existing_pulumi() -> Path | None:
    """A `pulumi` on PATH that is not ours: the user's own install, used as it is."""
    found = shutil.which("pulumi")
    if found and Path(found).resolve().parent != bin_dir().resolve():
        return Path(found)
    return None


def build_cli(runner: Runner) -> str:
    target = bin_dir() / "pulumi"
    user_cli = existing_pulumi()
    if user_cli:
        return f"upstream: {user_cli} from PATH"
    if target.exists():
        return f"upstream (built from the Go module proxy): {target}"
    pkg = module_info(runner, PKG_MODULE, f"v{PULUMI_VERSION}")
    module_info(runner, SDK_MODULE, f"v{PULUMI_VERSION}")
    work = writable_copy(str(pkg["Dir"]), cache_dir() / "work" / "pulumi-cli")
    # Copy-out build: the local `sdk => ../sdk` replace points outside the module zip, so require the
    # same sdk version from the proxy instead; pkg's other (non-local) replaces stay in force.
    runner.run(
        ["go", "mod", "edit", f"-dropreplace={SDK_MODULE}", f"-require={SDK_MODULE}@v{PULUMI_VERSION}"],
        cwd=work,
        env=go_env(),
    )
    bin_dir().mkdir(parents=True, exist_ok=True)
    flags = ldflag("github.com/pulumi/pulumi/sdk/v3/go/common/version.Version", f"v{PULUMI_VERSION}")
    runner.run(
        ["go", "build", "-tags", "osusergo,grpcnotrace", *flags, "-o", str(target), "./cmd/pulumi"],
        cwd=work,
        env=go_env(),
    )
    shutil.rmtree(work, ignore_errors=True)
    return f"upstream (built from the Go module proxy): {target}"


def build_language_host(runner: Runner) -> str:
    """The project's own Python language host (plugins/language_python), next to the CLI.

    Upstream's host is a Go module the proxy refuses; where a user's own `pulumi` is installed, its
    bundled host is used and nothing is written.
    """
    if existing_pulumi():
        return "upstream: the installed CLI's own host"
    target = bin_dir() / "pulumi-language-python"
    snapshot = plugin_snapshot(runner)
    exec_script = bin_dir() / "pulumi-language-python-exec"
    write_launcher(
        target,
        snapshot,
        "plugins.language_python",
        [f"--host-version={PULUMI_VERSION}", f"--exec-script={exec_script}"],
    )
    return f"project: {target}"


@cache
def source_hash() -> str:
    """A digest of the code and requirements the project's engine parts run, to key their copies."""
    digest = hashlib.sha256()
    files = [ROOT / "plugins" / "requirements.txt"]
    for package in PLUGIN_PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def engine_venv(runner: Runner) -> Path:
    """The small venv the project's host and plugins run from (plugins/requirements.txt)."""
    venv = cache_dir() / "engine-venv"
    requirements = (ROOT / "plugins" / "requirements.txt").read_text()
    stamp = venv / "requirements.txt"
    if stamp.exists() and stamp.read_text() == requirements:
        return venv
    if venv.exists():
        shutil.rmtree(venv)
    runner.run([sys.executable, "-m", "venv", str(venv)])
    runner.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q",
         "-r", str(ROOT / "plugins" / "requirements.txt")]
    )  # fmt: skip
    stamp.write_text(requirements)
    return venv


def plugin_snapshot(runner: Runner) -> Path:
    """A copy of plugins/ and the pure modules they import, keyed by content: clones never clash."""
    snapshot = cache_dir() / "project-plugins" / source_hash()
    if (snapshot / "run_plugin.py").exists():
        return snapshot
    tmp = snapshot.with_name(snapshot.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for package in PLUGIN_PACKAGES:
        shutil.copytree(ROOT / package, tmp / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (tmp / "run_plugin.py").write_text(RUN_PLUGIN)
    tmp.rename(snapshot)
    runner.note(f"plugin snapshot {snapshot}")
    prune_snapshots(keep=KEPT_SNAPSHOTS)
    return snapshot


KEPT_SNAPSHOTS = 8
"""Copies of plugins/ kept in the cache: the newest ones, since other clones may still run them."""


def prune_snapshots(keep: int) -> None:
    """Remove all but the `keep` newest snapshots (about 1 MB each), oldest first."""
    snapshots = sorted(
        (
            p
            for p in (cache_dir() / "project-plugins").iterdir()
            if p.is_dir() and not p.name.endswith(".partial")
        ),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in snapshots[keep:]:
        shutil.rmtree(old, ignore_errors=True)


RUN_PLUGIN = """\
# Generated by scripts/toolchain.py: runs one of the project's engine parts from this snapshot.
# `python run_plugin.py <module> <args>`: this directory is sys.path[0], nothing leaks into PYTHONPATH.
import runpy
import sys

module = sys.argv.pop(1)
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def write_launcher(target: Path, snapshot: Path, module: str, extra: list[str]) -> None:
    """A `#!/bin/sh` launcher for one engine part, run by the engine with its own arguments."""
    python = engine_venv_python()
    args = " ".join(_quote(a) for a in [str(python), str(snapshot / "run_plugin.py"), module, *extra])
    text = (
        "#!/bin/sh\n"
        "# Generated by scripts/toolchain.py: the sovereign-ai project's own engine part\n"
        "# (plugins/README.md), used only where upstream's cannot be installed.\n"
        f'exec {args} "$@"\n'
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_text() != text:
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.rename(target)


def engine_venv_python() -> Path:
    return cache_dir() / "engine-venv" / "bin" / "python"


def install_helper_scripts(runner: Runner) -> str:
    """The exec script and the dynamic-provider plugin script, from the sdk/v3 module zip, 0755."""
    if existing_pulumi():
        return "upstream: the installed CLI's own"
    sdk = Path(str(module_info(runner, SDK_MODULE, f"v{PULUMI_VERSION}")["Dir"]))
    bin_dir().mkdir(parents=True, exist_ok=True)
    for relative in ("python/cmd/pulumi-language-python-exec", "python/dist/pulumi-resource-pulumi-python"):
        dest = bin_dir() / Path(relative).name
        shutil.copyfile(sdk / relative, dest)
        dest.chmod(0o755)
    return f"upstream (sdk/v3 module): {bin_dir()}"


def plugin_dir(name: str, version: str) -> Path:
    return pulumi_home() / "plugins" / f"resource-{name}-v{version}"


def plugin_installed(name: str, version: str) -> bool:
    """Is `resource <name> v<version>` in the plugin cache the engine will use?"""
    return (plugin_dir(name, version) / f"pulumi-resource-{name}").exists()


def plugin_source(name: str, version: str) -> str | None:
    """`project` or `upstream` for an installed plugin, None when it is not installed."""
    if not plugin_installed(name, version):
        return None
    return "project" if (plugin_dir(name, version) / MARKER).exists() else "upstream"


MARKER = "sovereign-ai-plugin.json"
"""Written into each of the project's plugin directories: its source hash; upstream's have none."""


def install_project_plugin(runner: Runner, name: str, version: str) -> str:
    """Install the project's `<name>` plugin at `version`, unless upstream's (or a current copy) is there.

    The plugin directory holds a launcher `pulumi-resource-<name>` and the marker; `pulumi plugin
    install --file <dir>` copies it into PULUMI_HOME, where the engine finds it by exact version.
    """
    if existing_pulumi():
        return "not installed: a user's own pulumi uses upstream's plugins (pulumi plugin install)"
    source = plugin_source(name, version)
    if source == "upstream":
        return f"upstream: {plugin_dir(name, version)}"
    digest = source_hash()
    installed_marker = plugin_dir(name, version) / MARKER
    if source == "project" and json.loads(installed_marker.read_text()).get("source") == digest:
        return f"project: {plugin_dir(name, version)} (current)"
    snapshot = plugin_snapshot(runner)
    staging = plugin_build_dir() / f"{name}-{version}"
    shutil.rmtree(staging, ignore_errors=True)
    write_launcher(staging / f"pulumi-resource-{name}", snapshot, f"plugins.{name}", [])
    (staging / MARKER).write_text(json.dumps({"source": digest, "snapshot": str(snapshot)}) + "\n")
    cli = bin_dir() / "pulumi"
    runner.run(
        [str(cli), "plugin", "install", "resource", name, version, "--file", str(staging), "--reinstall"],
        env=dict(os.environ) | engine_env(),
    )
    return f"project: {plugin_dir(name, version)}"


def engine_env() -> dict[str, str]:
    """What a shell needs to run the engine offline on the local backend."""
    path_head = [] if existing_pulumi() else [str(bin_dir())]
    return {
        "PATH": os.pathsep.join([*path_head, os.environ.get("PATH", "")]),
        "PULUMI_HOME": str(pulumi_home()),  # the user's own home when the CLI is theirs
        # A backend the caller already chose (CI's shared one, say) is kept, as the passphrase is.
        "PULUMI_BACKEND_URL": os.environ.get("PULUMI_BACKEND_URL") or f"file://{ROOT / '.state'}",
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", "sovereign-ai-local"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


def build() -> int:
    if shutil.which("go") is None and existing_pulumi() is None:
        print(
            "toolchain: `go` not found on PATH, and no `pulumi` either: install Go >= 1.26.6 "
            "(the Pulumi CLI and plugins are built from the Go module proxy), or install pulumi",
            file=sys.stderr,
        )
        return 1
    log_path().parent.mkdir(parents=True, exist_ok=True)
    log_path().write_text(f"toolchain build {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
    cache_dir().mkdir(parents=True, exist_ok=True)
    (ROOT / ".state").mkdir(exist_ok=True)  # the local backend of `make -s env` (PULUMI_BACKEND_URL)
    runner = Runner(log_path())
    started = time.monotonic()
    cli_ok = runner.step(f"pulumi CLI v{PULUMI_VERSION}", lambda: build_cli(runner))
    runner.step("language host helper scripts", lambda: install_helper_scripts(runner))
    if not existing_pulumi():
        runner.step("engine venv (plugins/requirements.txt)", lambda: str(engine_venv(runner)))
    runner.step("python language host", lambda: build_language_host(runner))
    if cli_ok:
        for name, version in (("tailscale", TAILSCALE_VERSION), ("command", COMMAND_VERSION)):
            runner.step(f"{name} provider {version}", partial(install_project_plugin, runner, name, version))
    status_path().write_text(json.dumps(runner.results, indent=2) + "\n")
    failed = [name for name, result in runner.results.items() if result["state"] == "failed"]
    blocked = [name for name, result in runner.results.items() if result["state"] == "blocked"]
    print(f"==> toolchain: {time.monotonic() - started:.1f}s; log {log_path()}; status {status_path()}")
    if blocked:
        print(
            f"    refused by the module proxy, engine tests that need them will not run: {', '.join(blocked)}"
        )
    if failed:
        print(f"    FAILED: {', '.join(failed)}; see {log_path()}", file=sys.stderr)
        return 1
    return 0


def print_env() -> int:
    for key, value in engine_env().items():
        print(f"export {key}={_quote(value)}")
    return 0


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def print_status() -> int:
    """One line per engine part: its state, then `upstream` or `project` and where it is."""
    if not status_path().exists():
        print("toolchain not built yet: run `make setup`")
        return 1
    for name, result in json.loads(status_path().read_text()).items():
        print(f"{name}: {result['state']}: {result['detail']}")
    return 0


def engine_gaps() -> list[str]:
    """What keeps `pulumi preview` of this program from running here; empty when it can run."""
    if not status_path().exists():
        return ["the toolchain has not been built: run `make setup`"]
    results = json.loads(status_path().read_text())
    return [
        f"{name}: {result['state']}: {result['detail']}"
        for name, result in results.items()
        if result["state"] != "ok"
    ]


def print_ready() -> int:
    gaps = engine_gaps()
    if not gaps:
        return 0
    print("The Pulumi engine is incomplete on this machine, so this command cannot run:", file=sys.stderr)
    for gap in gaps:
        print(f"  - {gap}", file=sys.stderr)
    print(f"Details: {log_path()} (rebuild with `make setup`)", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    commands = {"build": build, "env": print_env, "status": print_status, "ready": print_ready}
    if len(argv) != 2 or argv[1] not in commands:
        print(f"usage: {argv[0]} {'|'.join(commands)}", file=sys.stderr)
        return 2
    return commands[argv[1]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
