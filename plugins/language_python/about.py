"""What upstream's host says about a Python: `About` (main.go:1453-1485, pip.go:224-263) and the
version warning of `GetRequiredPackages` (`validateVersion`, main.go:1273-1309).

`About` runs `python --version`, `python -c "import sys; print(sys.executable)"` and `python -m pip
--version`; only the executable is required, an unreadable version is reported as `0.0.0`. Versions are
semver strings (`3.11.7`, pip's `24.0` as `24.0.0`); the metadata names the toolchain and typechecker
as upstream spells them (`Pip`, `Auto`, `None`, ...), which `pulumi about` prints.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from typing import TextIO

from plugins.language_python.gostyle import exit_error, start_error
from plugins.language_python.python_env import PythonEnv, PythonEnvError

ZERO_VERSION = "0.0.0"
MINIMUM_SUPPORTED = (3, 7, 0)
"""`minimumSupportedPythonVersion` (main.go:105)."""

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$"
)


class AboutError(Exception):
    """`About` failed; the message is upstream's."""


@dataclass(frozen=True)
class PythonAbout:
    """`toolchain.Info`."""

    executable: str
    version: str
    toolchain_version: str


def _output(env: PythonEnv, *args: str) -> tuple[str, str]:
    """`cmd.Output()`: stdout, or "" and Go's error text."""
    argv = env.command(*args)
    try:
        proc = subprocess.run(
            argv, env=env.command_env(), capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
    except OSError as exc:
        return "", start_error(argv[0], exc)
    if proc.returncode != 0:
        return "", exit_error(proc.returncode)
    return proc.stdout, ""


def about(env: PythonEnv) -> PythonAbout:
    """`pip.About` (pip.go:224-263)."""
    executable, error = _output(env, "-c", "import sys; print(sys.executable)")
    if error:
        raise AboutError(f"failed to get python executable path: {error}")
    version, _ = _output(env, "--version")
    pip, _ = _output(env, "-m", "pip", "--version")
    return PythonAbout(executable.strip(), parse_python_version(version), parse_pip_version(pip))


def parse_python_version(text: str) -> str:
    """`ParsePythonVersion` (toolchain.go:303-343), as semver; `0.0.0` when it is not one."""
    text = text.strip().removeprefix("Python ")
    match = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:(a|b|rc|dev)(\d+))?", text)
    if match is None:
        return ZERO_VERSION
    major, minor, patch, kind, number = match.groups()
    version = f"{major}.{minor}.{patch or '0'}"
    if kind:
        version += {"a": "-alpha.", "b": "-beta.", "rc": "-rc.", "dev": "-dev."}[kind] + number
    return version if _SEMVER.match(version) else ZERO_VERSION


def parse_pip_version(text: str) -> str:
    """`ParsePipVersion` (pip.go:630-646) with `semver.ParseTolerant`; `0.0.0` when it fails."""
    match = re.match(r"^pip\s+(\d+(?:\.\d+)*(?:\.\d+)?)", text.strip())
    if match is None:
        return ZERO_VERSION
    parts = match.group(1).split(".", 2)
    parts += ["0"] * (3 - len(parts))
    version = ".".join(parts)
    return version if _SEMVER.match(version) else ZERO_VERSION


def validate_version(env: PythonEnv, stderr: TextIO = sys.stderr) -> None:
    """`validateVersion` (main.go:1273-1309): a warning on the host's stderr, which the engine shows."""
    try:
        out, error = _output(env, "--version")
    except PythonEnvError as exc:
        stderr.write(f"Failed to create python version command: {exc}\n")
        return
    if error:
        stderr.write(f"Failed to resolve python version command: {error}\n")
        return
    version = re.sub(r"-?rc\d+$", "", out.removeprefix("Python ").strip())
    match = _SEMVER.match(version)
    if match is None:
        stderr.write(f"Failed to parse python version: '{version}'\n")
        return
    numbers = tuple(int(part) for part in match.groups()[:3])
    if numbers < MINIMUM_SUPPORTED or (numbers == MINIMUM_SUPPORTED and match.group(4)):
        stderr.write(f"Pulumi does not support Python {version}. Please upgrade to at least 3.7.0\n")
    stderr.flush()
