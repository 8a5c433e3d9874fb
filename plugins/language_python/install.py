"""Creating a virtualenv and installing requirements, as upstream's pip toolchain does.

Upstream: `InstallDependencies` (pip.go:468-583) and `EnsureVenv` (pip.go:272-310). Both
`GetRequiredPackages` (through `EnsureVenv`, main.go:339-346) and the `InstallDependencies` call
(`pulumi install`, main.go:1311-1377) use them, so a project whose virtualenv is missing gets it
created on its first `pulumi preview`, with the same progress lines:

    Creating virtual environment...
    Finished creating virtual environment
    Updating pip, setuptools, and wheel in virtual environment...
    <pip's output>
    Finished updating
    Installing dependencies in virtual environment...
    <pip's output>
    Finished installing dependencies

The venv is made by `python3 -m venv <abs path>` (`CommandPath`, not the host's own Python), pip runs
in the program directory with `-r requirements.txt`, and a pip failure whose stderr says `because the
GET request got Content-Type` is tried again, 3 attempts in all, as upstream does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable

from plugins.language_python.gostyle import exit_error, quote, start_error
from plugins.language_python.processes import Writer, run_streamed
from plugins.language_python.python_env import (
    UPSTREAM_HOST,
    PythonEnv,
    PythonEnvError,
    activate,
    command_path,
    is_dir_empty,
    is_virtualenv,
    searchup,
)

PIP_ATTEMPTS = 3
TRANSIENT_PIP_ERRORS = ("because the GET request got Content-Type",)
"""`pipErrorIsTransient` (pip.go:587)."""


class InstallError(Exception):
    """An install step failed; the message is upstream's."""


def ensure_venv(
    env: PythonEnv, cwd: str, info: Writer, error: Writer, use_language_version_tools: bool = False
) -> None:
    """`EnsureVenv` (pip.go:272-310): create a configured virtualenv that is missing or empty."""
    if not env.options.virtualenv or is_virtualenv(env.virtualenv):
        return
    if os.path.exists(env.virtualenv):
        if not os.path.isdir(env.virtualenv):
            raise InstallError(
                f"the 'virtualenv' option in Pulumi.yaml is set to {quote(env.virtualenv)} but it is not a directory"
            )
        if not is_dir_empty(env.virtualenv):
            return  # upstream leaves it; running its `bin/python` fails later, naming the path
    install_dependencies(env, cwd, use_language_version_tools, info, error)


def install_dependencies(
    env: PythonEnv, cwd: str, use_language_version_tools: bool, info: Writer, error: Writer
) -> None:
    """`InstallDependencies` (pip.go:468-583): the venv (if configured), pip's upgrade, requirements."""
    if use_language_version_tools:
        refuse_pyenv(cwd)
    printmsg = _printer(info)
    venv = env.virtualenv
    if venv:
        printmsg("Creating virtual environment...")
        if not os.path.isabs(venv):
            raise InstallError(f"virtual environment path must be absolute: {venv}")
        _create_venv(venv, error)
        printmsg("Finished creating virtual environment")
    printmsg("Updating pip, setuptools, and wheel in virtual environment...")
    _pip_install(
        venv,
        cwd,
        info,
        error,
        "updating pip, setuptools, and wheel",
        "--upgrade",
        "pip",
        "setuptools",
        "wheel",
    )
    printmsg("Finished updating")
    if not os.path.exists(os.path.join(cwd, "requirements.txt")):
        return
    printmsg("Installing dependencies in virtual environment...")
    _pip_install(venv, cwd, info, error, "installing dependencies", "-r", "requirements.txt")
    printmsg("Finished installing dependencies")


def install_package(
    env: PythonEnv, directory: str, use_language_version_tools: bool, info: Writer, error: Writer
) -> None:
    """A plugin that is a buildable package gets itself installed too (main.go:1344-1367)."""
    try:
        ensure_venv(env, directory, info, error, use_language_version_tools)
    except (InstallError, PythonEnvError) as exc:
        raise InstallError(f"creating virtual environment: {exc}") from exc
    argv = env.command("-m", "pip", "install", directory)
    try:
        code = run_streamed(argv, env.command_env(), "", info, error)
    except OSError as exc:
        raise InstallError(f"installing package: {start_error(argv[0], exc)}") from exc
    if code != 0:
        raise InstallError(f"installing package: {exit_error(code)}")


def is_buildable_package(directory: str) -> bool:
    """`IsBuildablePackage` (pyproject.go:45): a pyproject.toml with a project name and a build backend."""
    pyproject = load_pyproject(directory)
    if pyproject is None:
        return False
    return bool(pyproject.get("project", {}).get("name")) and bool(
        pyproject.get("build-system", {}).get("build-backend")
    )


def load_pyproject(directory: str) -> dict[str, dict[str, object]] | None:
    """`LoadPyproject` (pyproject.go:57); None when there is no pyproject.toml."""
    path = os.path.join(directory, "pyproject.toml")
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        return None
    except tomllib.TOMLDecodeError as exc:
        raise InstallError(f"parsing pyproject.toml: unmarshaling pyproject.toml: {exc}") from exc


def refuse_pyenv(cwd: str) -> None:
    """`installPython` (toolchain.go:246) runs `pyenv install` where a `.python-version` and pyenv are
    found; this host does not, so it refuses where upstream would act (and does nothing otherwise)."""
    if searchup(cwd, ".python-version") and shutil.which("pyenv"):
        raise InstallError(
            "installing the Python of .python-version with pyenv is not supported by this project's build "
            f"of the Python language host; run `pyenv install`, or {UPSTREAM_HOST}"
        )


def _printer(info: Writer) -> Callable[[str], None]:
    """`printmsg` (pip.go:471): one line to the info writer."""
    return lambda message: info(f"{message}\n".encode())


def _create_venv(venv: str, error: Writer) -> None:
    """`python3 -m venv <venv>` with its output combined, shown only on failure (pip.go:484-502)."""
    argv = [command_path(), "-m", "venv", venv]
    try:
        proc = subprocess.run(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    except OSError as exc:
        raise InstallError(f"creating virtual environment at '{venv}': {start_error(argv[0], exc)}") from exc
    if proc.returncode != 0:
        if proc.stdout:
            error(proc.stdout + b"\n")
        raise InstallError(f"creating virtual environment at '{venv}': {exit_error(proc.returncode)}")


def _pip_install(venv: str, cwd: str, info: Writer, error: Writer, what: str, *args: str) -> None:
    """`runPipInstall` (pip.go:505-554): `python -m pip install <args>` in `cwd`, retried if transient."""
    argv = [os.path.join(venv, "bin", "python") if venv else command_path(), "-m", "pip", "install", *args]
    env = activate(dict(os.environ), venv)  # upstream activates even "" (PATH gains `bin`)
    for attempt in range(PIP_ATTEMPTS):
        stderr = bytearray()

        def both(chunk: bytes, buffer: bytearray = stderr) -> None:
            error(chunk)
            buffer.extend(chunk)

        try:
            code = run_streamed(argv, env, cwd, info, both)
        except OSError as exc:
            raise InstallError(f"{what} via '{' '.join(argv)}': {start_error(argv[0], exc)}") from exc
        if code == 0:
            return
        text = stderr.decode(errors="replace")
        if attempt < PIP_ATTEMPTS - 1 and any(pattern in text for pattern in TRANSIENT_PIP_ERRORS):
            error(f"Retrying ({attempt + 1}/{PIP_ATTEMPTS})...\n".encode())
            continue
        detail = f": {text.strip()}" if text.strip() else ""
        raise InstallError(f"{what} via '{' '.join(argv)}': {exit_error(code)}{detail}")
