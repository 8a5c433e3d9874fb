#!/usr/bin/env python3
"""Build or locate the Pulumi engine and the plugins this project needs.

Why this exists: get.pulumi.com and GitHub releases are unreachable on the machines this project
targets, while the Go module proxy is. The engine and its plugins are Go modules, so they are built
here once per machine into a cache outside the repository, keyed by version, and reused by every
clone (CI included). A user who already has `pulumi` on PATH keeps it; only what is missing is built.

Each part is a step that prints what it does and how long it took. The full output of every step
goes to the log file; a failed step names itself and the log. A part that the module proxy refuses
is recorded in `status.json` (see `status_path`) so that `make test` can say which engine tests it
could not run, instead of failing for a reason nobody can fix here.

Usage: python3 scripts/toolchain.py build | env | status | ready
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PULUMI_VERSION = "3.274.1"
"""CLI and language host version; not older than the `pulumi` pin in requirements.txt."""

TAILSCALE_VERSION = "0.29.2"
"""`pulumi-tailscale` on PyPI asks the engine for exactly this plugin version."""

COMMAND_VERSION = "1.2.1"
"""`pulumi-command` on PyPI asks the engine for exactly this plugin version."""

PKG_MODULE = "github.com/pulumi/pulumi/pkg/v3"
SDK_MODULE = "github.com/pulumi/pulumi/sdk/v3"
LANGUAGE_MODULE = "github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3"
TAILSCALE_ROOT = "github.com/pulumi/pulumi-tailscale"
TAILSCALE_MODULE = "github.com/pulumi/pulumi-tailscale/provider"
COMMAND_ROOT = "github.com/pulumi/pulumi-command"
COMMAND_MODULE = "github.com/pulumi/pulumi-command/provider"

ROOT = Path(__file__).resolve().parent.parent


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


def origin_hash(runner: Runner, module: str, version: str) -> str | None:
    """The commit of a tag, from the proxy's `.info` `Origin.Hash`, when the proxy reports it."""
    try:
        info_file = module_info(runner, module, version).get("Info")
    except StepFailed as exc:
        runner.note(f"no commit for {module}@{version}: {exc}")
        return None
    if not isinstance(info_file, str):
        return None
    origin = json.loads(Path(info_file).read_text()).get("Origin") or {}
    value = origin.get("Hash")
    return str(value) if value else None


def resolve_nested(runner: Runner, module: str, commit: str | None) -> dict[str, object]:
    """A nested module without tags of its own: the tag commit's pseudo-version, else the newest.

    These are the two routes pulumi-toolchain.md names. When the proxy refuses both, the step is
    blocked and the message quotes both refusals.
    """
    errors = []
    for query in ([commit] if commit else []) + ["latest"]:
        try:
            return module_info(runner, module, query)
        except StepFailed as exc:
            errors.append(str(exc))
    if not commit:
        errors.insert(0, "no tag commit known (the proxy gave no Origin.Hash for it)")
    raise StepFailed("; ".join(errors), blocked=all(_is_refusal(e) for e in errors[-1:]))


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
        return f"using {user_cli} from PATH"
    if target.exists():
        return f"cached {target}"
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
    return f"built {target}"


def build_language_host(runner: Runner) -> str:
    target = bin_dir() / "pulumi-language-python"
    if existing_pulumi() and shutil.which("pulumi-language-python"):
        return "using pulumi-language-python from PATH"
    if target.exists():
        return f"cached {target}"
    commit = origin_hash(runner, PKG_MODULE, f"v{PULUMI_VERSION}")
    info = resolve_nested(runner, LANGUAGE_MODULE, commit)
    work = writable_copy(str(info["Dir"]), cache_dir() / "work" / "language-python")
    runner.run(
        [
            "go", "mod", "edit",
            f"-dropreplace={SDK_MODULE}", f"-dropreplace={PKG_MODULE}",
            f"-require={SDK_MODULE}@v{PULUMI_VERSION}", f"-require={PKG_MODULE}@v{PULUMI_VERSION}",
        ],
        cwd=work,
        env=go_env(),
    )  # fmt: skip
    bin_dir().mkdir(parents=True, exist_ok=True)
    flags = ldflag("github.com/pulumi/pulumi/sdk/v3/go/common/version.Version", f"v{PULUMI_VERSION}")
    runner.run(["go", "build", *flags, "-o", str(target), "."], cwd=work, env=go_env())
    shutil.rmtree(work, ignore_errors=True)
    return f"built {target}"


def install_helper_scripts(runner: Runner) -> str:
    """The exec script and the dynamic-provider plugin script, from the sdk/v3 module zip, 0755."""
    if existing_pulumi():
        return "using the helper scripts of the installed CLI"
    sdk = Path(str(module_info(runner, SDK_MODULE, f"v{PULUMI_VERSION}")["Dir"]))
    bin_dir().mkdir(parents=True, exist_ok=True)
    for relative in ("python/cmd/pulumi-language-python-exec", "python/dist/pulumi-resource-pulumi-python"):
        dest = bin_dir() / Path(relative).name
        shutil.copyfile(sdk / relative, dest)
        dest.chmod(0o755)
    return f"in {bin_dir()}"


def plugin_installed(name: str, version: str) -> bool:
    """Is `resource <name> v<version>` in the plugin cache the engine will use?"""
    return (pulumi_home() / "plugins" / f"resource-{name}-v{version}" / f"pulumi-resource-{name}").exists()


def build_tailscale(runner: Runner) -> str:
    target = plugin_build_dir() / f"tailscale-{TAILSCALE_VERSION}" / "pulumi-resource-tailscale"
    if plugin_installed("tailscale", TAILSCALE_VERSION):
        return f"already installed in {pulumi_home()}"
    if target.exists():
        return f"cached {target}"
    commit = origin_hash(runner, TAILSCALE_ROOT, f"v{TAILSCALE_VERSION}")
    info = resolve_nested(runner, TAILSCALE_MODULE, commit)
    work = writable_copy(str(info["Dir"]), cache_dir() / "work" / "tailscale")
    cmd_dir = work / "cmd" / "pulumi-resource-tailscale"
    # schema-embed.json is generated and git-ignored upstream, so absent from the module zip.
    env = go_env() | {"VERSION": TAILSCALE_VERSION}
    runner.run(["go", "run", "./generate.go"], cwd=cmd_dir, env=env)
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = ldflag("github.com/pulumi/pulumi-tailscale/provider/pkg/version.Version", TAILSCALE_VERSION)
    runner.run(
        ["go", "build", *flags, "-o", str(target), "./cmd/pulumi-resource-tailscale"], cwd=work, env=env
    )
    shutil.rmtree(work, ignore_errors=True)
    return f"built {target}"


def build_command(runner: Runner) -> str:
    target = plugin_build_dir() / f"command-{COMMAND_VERSION}" / "pulumi-resource-command"
    if plugin_installed("command", COMMAND_VERSION):
        return f"already installed in {pulumi_home()}"
    if target.exists():
        return f"cached {target}"
    commit = origin_hash(runner, COMMAND_ROOT, f"v{COMMAND_VERSION}")
    info = resolve_nested(runner, COMMAND_MODULE, commit)
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = ldflag("github.com/pulumi/pulumi-command/provider/pkg/version.Version", f"v{COMMAND_VERSION}")
    package = f"{COMMAND_MODULE}/cmd/pulumi-resource-command@{info['Version']}"
    runner.run(["go", "install", *flags, package], env=go_env() | {"GOBIN": str(target.parent)})
    return f"built {target}"


def install_plugins(runner: Runner) -> str:
    """`pulumi plugin install --file` into PULUMI_HOME: offline, exact versions."""
    cli = existing_pulumi() or bin_dir() / "pulumi"
    if not cli.exists():
        raise StepFailed("no pulumi CLI to install plugins with")
    env = dict(os.environ) | engine_env()
    installed, missing = [], []
    for name, version in (("tailscale", TAILSCALE_VERSION), ("command", COMMAND_VERSION)):
        binary = plugin_build_dir() / f"{name}-{version}" / f"pulumi-resource-{name}"
        if plugin_installed(name, version):
            installed.append(f"{name} {version}")
        elif binary.exists():
            runner.run(
                [str(cli), "plugin", "install", "resource", name, version, "--file", str(binary)], env=env
            )
            installed.append(f"{name} {version}")
        else:
            missing.append(f"{name} {version}")
    if missing:
        hint = ""
        if existing_pulumi():
            hint = "; with network access: " + " && ".join(
                f"pulumi plugin install resource {m}" for m in missing
            )
        raise StepFailed(f"not built, so not installed: {', '.join(missing)}{hint}", blocked=True)
    return ", ".join(installed)


def engine_env() -> dict[str, str]:
    """What a shell needs to run the engine offline on the local backend."""
    path_head = [] if existing_pulumi() else [str(bin_dir())]
    return {
        "PATH": os.pathsep.join([*path_head, os.environ.get("PATH", "")]),
        "PULUMI_HOME": str(pulumi_home()),  # the user's own home when the CLI is theirs
        "PULUMI_BACKEND_URL": f"file://{ROOT / '.state'}",
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
    runner = Runner(log_path())
    started = time.monotonic()
    cli_ok = runner.step(f"pulumi CLI v{PULUMI_VERSION}", lambda: build_cli(runner))
    runner.step("python language host", lambda: build_language_host(runner))
    runner.step("language host helper scripts", lambda: install_helper_scripts(runner))
    runner.step(f"tailscale provider {TAILSCALE_VERSION}", lambda: build_tailscale(runner))
    runner.step(f"command provider {COMMAND_VERSION}", lambda: build_command(runner))
    if cli_ok:
        runner.step("install resource plugins", lambda: install_plugins(runner))
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
    if not status_path().exists():
        print("toolchain not built yet: run `make setup`")
        return 1
    print(status_path().read_text(), end="")
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
