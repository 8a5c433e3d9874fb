"""Which Python runs a program or a plugin, from the `runtime.options` of Pulumi.yaml, as upstream decides.

Upstream: `parseOptions` (main.go:233-291) and the toolchain package (`toolchain.go`, `pip.go`; citations
as in `plugins/language_python/__init__.py`). `virtualenv` is relative to the project root; its
`bin/python` runs with the host's environment "activated" (`ActivateVirtualEnv`); without it,
`PULUMI_PYTHON_CMD` or `python3`/`python` from PATH runs with the host's environment as it is. Only the
pip toolchain is implemented: poetry and uv (named, or detected from a lock file as upstream's `Auto`
does) and typecheckers are refused, naming the upstream host.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plugins.language_python.gostyle import quote

TOOLCHAINS = {"": "Auto", "pip": "Pip", "poetry": "Poetry", "uv": "Uv"}
"""Option value -> `toolchain.Name` (toolchain.go:116), which `About` reports."""

TYPECHECKERS = {"": "None", "mypy": "Mypy", "pyright": "Pyright"}
"""Option value -> `toolchain.TypeCheckerName` (toolchain.go:131)."""

UPSTREAM_HOST = "install the upstream language host (https://www.pulumi.com/docs/install/)"


class PythonEnvError(Exception):
    """The program's Python cannot be used; the message is upstream's, or says what to do."""


@dataclass(frozen=True)
class PythonOptions:
    """`toolchain.PythonOptions`: where the project is and what Pulumi.yaml asks for."""

    root: str
    program_dir: str
    virtualenv: str = ""
    toolchain: str = ""
    typechecker: str = ""

    @property
    def toolchain_name(self) -> str:
        return TOOLCHAINS[self.toolchain]

    @property
    def typechecker_name(self) -> str:
        return TYPECHECKERS[self.typechecker]


def options_dict(options: Any) -> dict[str, Any]:
    """`ProgramInfo.options` (a protobuf Struct) as a plain dict."""
    return {key: options[key] for key in options} if options is not None else {}


def parse_options(root: str, program_dir: str, options: dict[str, Any], is_plugin: bool) -> PythonOptions:
    """`parseOptions` (main.go:233-291), with its error texts; a plugin defaults to `virtualenv: venv`."""
    virtualenv = _string_option(options, "virtualenv", "virtualenv option must be a string")
    typechecker = _string_option(options, "typechecker", "typechecker option must be a string")
    if typechecker not in TYPECHECKERS:
        raise PythonEnvError(f"unsupported typechecker option: {typechecker}")
    toolchain = _string_option(options, "toolchain", "toolchain option must be a string")
    if toolchain not in TOOLCHAINS:
        raise PythonEnvError(f"unsupported toolchain option: {toolchain}")
    # main.go:285-288: plugins never run on the ambient Python; pip and Auto default to `venv`.
    if is_plugin and toolchain in ("", "pip") and not virtualenv:
        virtualenv = "venv"
    return PythonOptions(root, program_dir, virtualenv, toolchain, typechecker)


def _string_option(options: dict[str, Any], key: str, error: str) -> str:
    value = options.get(key, "")
    if not isinstance(value, str):
        raise PythonEnvError(error)
    return value


@dataclass(frozen=True)
class PythonEnv:
    """The pip toolchain (`pip.go`): the virtualenv as Pulumi.yaml names it and as resolved."""

    options: PythonOptions
    virtualenv: str
    """`resolveVirtualEnvironmentPath` (pip.go:607): joined to the root unless absolute; "" for none."""

    def python(self) -> str:
        """`pip.Command` (pip.go:202): the venv's `bin/python`, else `CommandPath()`."""
        if self.virtualenv:
            return os.path.join(self.virtualenv, "bin", "python")
        return command_path()

    def command_env(self) -> dict[str, str] | None:
        """The environment of `pip.Command`: activated for a venv, else None (the host's, inherited)."""
        if self.virtualenv:
            return activate(dict(os.environ), self.virtualenv)
        return None

    def command(self, *args: str) -> list[str]:
        """`tc.Command(args...)`: the interpreter and its arguments."""
        return [self.python(), *args]

    def validate(self) -> None:
        """`ValidateVenv` (pip.go:265): a configured virtualenv must hold `bin/python`."""
        if self.options.virtualenv and not is_virtualenv(self.virtualenv):
            raise PythonEnvError(virtualenv_error(self.options.virtualenv, self.virtualenv))


def resolve(options: PythonOptions) -> PythonEnv:
    """`ResolveToolchain` (toolchain.go:144): pip, unless a lock file or the option asks for another."""
    toolchain = options.toolchain
    if toolchain == "":
        for lock, detected in (("uv.lock", "uv"), ("poetry.lock", "poetry")):
            if searchup(options.program_dir, lock):
                _refuse(f"toolchain: {detected} (found {lock}, which upstream's host detects)")
    elif toolchain != "pip":
        _refuse(f"toolchain: {toolchain}")
    virtualenv = options.virtualenv
    if virtualenv and not os.path.isabs(virtualenv):
        virtualenv = os.path.normpath(os.path.join(options.root, virtualenv))
    return PythonEnv(options, virtualenv)


def refuse_typechecker(options: PythonOptions) -> None:
    """Run's typechecker step (main.go:1096-1145) is not implemented: refuse rather than skip it."""
    if options.typechecker:
        _refuse(f"typechecker: {options.typechecker}")


def _refuse(what: str) -> None:
    raise PythonEnvError(
        f"the Pulumi.yaml runtime option {what} is not supported by this project's build of the Python "
        f"language host (pip only, no typechecker); use `toolchain: pip`, or {UPSTREAM_HOST}"
    )


def searchup(directory: str, name: str) -> bool:
    """`searchup` (toolchain.go:275): `name` in `directory` or any of its parents."""
    while True:
        if os.path.exists(os.path.join(directory, name)):
            return True
        parent = os.path.dirname(directory)
        if parent == directory:
            return False
        directory = parent


def command_path() -> str:
    """`CommandPath` (pip.go:331): `$PULUMI_PYTHON_CMD`, else `python3`, else `python`, from PATH."""
    names = (
        [os.environ["PULUMI_PYTHON_CMD"]] if os.environ.get("PULUMI_PYTHON_CMD") else ["python3", "python"]
    )
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    listed = " ".join(quote(name) for name in names)
    raise PythonEnvError(
        f"failed to locate any of [{listed}] on your PATH. Have you installed Python 3.10 or greater?"
    )


def is_virtualenv(directory: str) -> bool:
    """`IsVirtualEnv` (pip.go:317): `<dir>/bin/python` exists and is not a directory."""
    python = os.path.join(directory, "bin", "python")
    return os.path.exists(python) and not os.path.isdir(python)


def activate(environ: dict[str, str], virtualenv: str) -> dict[str, str]:
    """`ActivateVirtualEnv` (toolchain.go:180): `bin` first on PATH, PYTHONHOME dropped, VIRTUAL_ENV set."""
    bin_dir = os.path.join(virtualenv, "bin")
    result: dict[str, str] = {}
    has_path = False
    for key, value in environ.items():
        upper = key.upper()
        if upper == "PATH":
            has_path = True
            result[key] = f"{bin_dir}{os.pathsep}{value}"
        elif upper not in ("PYTHONHOME", "VIRTUAL_ENV"):
            result[key] = value
    if not has_path:
        result["PATH"] = bin_dir
    result["VIRTUAL_ENV"] = virtualenv
    return result


def virtualenv_error(option: str, full_path: str) -> str:
    """`NewVirtualEnvError` (pip.go:443), word for word."""
    state = "doesn't exist" if not os.path.exists(full_path) else "doesn't appear to be a virtual environment"
    python = os.path.join(full_path, "bin", "python")
    commands = (
        f"    1. python3 -m venv {full_path}\n"
        f"    2. {python} -m pip install --upgrade pip setuptools wheel\n"
        f"    3. {python} -m pip install -r requirements.txt\n"
    )
    return (
        f"The 'virtualenv' option in Pulumi.yaml is set to {quote(option)}, but {quote(full_path)} {state}; "
        "run the following commands to create the virtual environment and install dependencies into it:"
        f"\n\n{commands}\n\n"
        "For more information see: https://www.pulumi.com/docs/intro/languages/python/#virtual-environments"
    )


def is_dir_empty(path: str) -> bool:
    """`fsutil.IsDirEmpty`."""
    return not any(Path(path).iterdir())
