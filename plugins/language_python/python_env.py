"""Which Python runs a program or a plugin, from the `runtime.options` of Pulumi.yaml.

Upstream's rules (github.com/pulumi/pulumi `sdk/python/toolchain/`, `pip.go` and `toolchain.go`):
`virtualenv` is relative to the project root and its interpreter runs the program with
`VIRTUAL_ENV` set, its `bin` first on PATH and PYTHONHOME dropped; without it, `PULUMI_PYTHON_CMD`
or `python3` from PATH. Only the `pip` toolchain is implemented: poetry and uv projects are refused
with what to do.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPPORTED_TOOLCHAINS = ("pip", "")


class PythonEnvError(Exception):
    """The program's Python cannot be used; the message says what to run."""


@dataclass(frozen=True)
class PythonEnv:
    """An interpreter and the environment variables a process started with it needs."""

    python: str
    virtualenv: Path | None
    toolchain: str

    def environ(self, base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        if self.virtualenv is not None:
            env["VIRTUAL_ENV"] = str(self.virtualenv)
            env["PATH"] = os.pathsep.join([str(self.virtualenv / "bin"), env.get("PATH", "")])
            env.pop("PYTHONHOME", None)
        return env


def options_dict(options: Any) -> dict[str, Any]:
    """`ProgramInfo.options` (a protobuf Struct) as a plain dict."""
    return {key: options[key] for key in options} if options is not None else {}


def resolve(root: str, options: dict[str, Any], program_dir: str = "") -> PythonEnv:
    """The interpreter for a project rooted at `root` with these runtime options."""
    toolchain = str(options.get("toolchain") or "")
    if toolchain not in SUPPORTED_TOOLCHAINS:
        raise PythonEnvError(
            f"the Pulumi.yaml runtime option toolchain: {toolchain} is not supported by this project's "
            "build of the Python language host (pip only); use `toolchain: pip`, or install the upstream "
            "language host (https://www.pulumi.com/docs/install/)"
        )
    virtualenv = options.get("virtualenv")
    if virtualenv:
        path = Path(str(virtualenv))
        if not path.is_absolute():
            path = Path(root or program_dir or ".") / path
        return PythonEnv(str(path / "bin" / "python"), path, "pip")
    command = os.environ.get("PULUMI_PYTHON_CMD") or shutil.which("python3") or shutil.which("python")
    if not command:
        raise PythonEnvError("no python3 on PATH: install Python 3, or set PULUMI_PYTHON_CMD")
    return PythonEnv(command, None, "pip")


def validate(env: PythonEnv, requirements_dir: str) -> None:
    """Upstream's ValidateVenv: a configured virtualenv must exist and hold a Python."""
    if env.virtualenv is None or Path(env.python).exists():
        return
    venv = env.virtualenv
    state = "doesn't appear to be a virtual environment" if venv.is_dir() else "doesn't exist"
    raise PythonEnvError(
        f'The \'virtualenv\' option in Pulumi.yaml is set to "{venv}", but "{venv}" {state}.\n'
        "Run the following commands to create the virtual environment and install dependencies into it:\n"
        f"    1. python3 -m venv {venv}\n"
        f"    2. {venv}/bin/python -m pip install --upgrade pip setuptools wheel\n"
        f"    3. {venv}/bin/python -m pip install -r {Path(requirements_dir) / 'requirements.txt'}\n"
        "or run `pulumi install`."
    )
