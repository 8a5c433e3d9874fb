"""A project's virtualenv: created by `GetRequiredPackages` when missing (pip.go:272 `EnsureVenv`, from
main.go:339-346), by `InstallDependencies`, and refused by `Run` with upstream's instructions.

A fake `python3` (`PULUMI_PYTHON_CMD`) records every command the host runs, so the tests see the exact
command lines, directories and progress lines, without the network.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from pulumi.runtime.proto import engine_pb2, language_pb2

from tests.plugins.language_host_fakes import (
    FAKE_PYTHON,
    Host,
    language_host,
    program_info,
    read_records,
    write_script,
)

PROGRESS = [
    "Creating virtual environment...\n",
    "Finished creating virtual environment\n",
    "Updating pip, setuptools, and wheel in virtual environment...\n",
    "pip: installing --upgrade pip setuptools wheel\n",
    "Finished updating\n",
    "Installing dependencies in virtual environment...\n",
    "pip: installing -r requirements.txt\n",
    "Finished installing dependencies\n",
]
"""pip.go:468-583's lines, with the fake pip's stdout between them."""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    work = tmp_path / "project"
    work.mkdir()
    (work / "requirements.txt").write_text("pulumi\n")
    return work


@pytest.fixture
def fake_log(tmp_path: Path) -> Path:
    return tmp_path / "python.log"


@pytest.fixture
def host(tmp_path: Path, fake_log: Path) -> Iterator[Host]:
    fake = write_script(tmp_path / "python3", FAKE_PYTHON)
    env = {"PULUMI_PYTHON_CMD": str(fake), "FAKE_PYTHON_LOG": str(fake_log), "FAKE_PIP_EXIT": "0"}
    with language_host(env=env) as running:
        yield running


def commands(fake_log: Path) -> list[tuple[str, list[str], str, str | None]]:
    """What the fake Python ran: interpreter, arguments, directory, VIRTUAL_ENV."""
    ran = []
    for record in read_records(fake_log):
        args = record["args"]
        assert isinstance(args, list)
        virtual_env = str(record["virtual_env"]) if record["virtual_env"] is not None else None
        ran.append(
            (
                str(record["python"]),
                [str(a) for a in args],
                str(record["cwd"]),
                virtual_env,
            )
        )
    return ran


def test_get_required_packages_creates_a_missing_virtualenv_showing_pips_progress(
    host: Host, project: Path, fake_log: Path, tmp_path: Path
) -> None:
    """Upstream creates it (the old host failed with instructions): `python3 -m venv`, pip's upgrade,
    `-r requirements.txt` in the program directory; progress as ephemeral engine logs of one stream."""
    request = language_pb2.GetRequiredPackagesRequest(
        info=program_info(project, toolchain="pip", virtualenv="venv")
    )
    assert list(host.stub.GetRequiredPackages(request).packages) == []
    venv = project / "venv"
    python = str(venv / "bin" / "python")
    ran = commands(fake_log)
    assert ran[0] == (
        str(tmp_path / "python3"),
        ["-m", "venv", str(venv)],
        str(Path.cwd()),
        os.environ.get("VIRTUAL_ENV"),
    )
    assert ran[1] == (
        python,
        ["-m", "pip", "install", "--upgrade", "pip", "setuptools", "wheel"],
        str(project),
        str(venv),
    )
    assert ran[2] == (python, ["-m", "pip", "install", "-r", "requirements.txt"], str(project), str(venv))
    assert [args for _, args, _, _ in ran[3:5]] == [["--version"], ["-m", "pip", "list", "--format", "json"]]
    info = "".join(c.message for c in host.engine.calls if c.severity == engine_pb2.INFO)
    assert info == "".join(PROGRESS)  # pip's output comes in chunks as written: compare the text
    assert (
        "".join(c.message for c in host.engine.calls if c.severity == engine_pb2.ERROR)
        == "pip: a warning\n" * 2
    )
    assert all(c.ephemeral and c.urn == "" for c in host.engine.calls)
    assert len({c.stream_id for c in host.engine.calls}) == 1


def test_a_failed_install_fails_with_pips_command_and_stderr(
    tmp_path: Path, project: Path, fake_log: Path
) -> None:
    fake = write_script(tmp_path / "python3", FAKE_PYTHON)
    env = {"PULUMI_PYTHON_CMD": str(fake), "FAKE_PYTHON_LOG": str(fake_log), "FAKE_PIP_EXIT": "1"}
    with language_host(env=env) as host:
        request = language_pb2.GetRequiredPackagesRequest(info=program_info(project, virtualenv="venv"))
        with pytest.raises(grpc.RpcError) as error:
            host.stub.GetRequiredPackages(request)
    python = project / "venv" / "bin" / "python"
    assert error.value.code() == grpc.StatusCode.UNKNOWN
    assert error.value.details() == (
        f"updating pip, setuptools, and wheel via '{python} -m pip install --upgrade pip setuptools wheel': "
        "exit status 1: pip: a warning"
    )


def test_a_directory_that_is_not_a_virtualenv_is_left_alone(
    host: Host, project: Path, fake_log: Path
) -> None:
    """`EnsureVenv` creates only a missing or empty one; then running its Python fails, naming it."""
    (project / "venv").mkdir()
    (project / "venv" / "something").write_text("")
    request = language_pb2.GetRequiredPackagesRequest(info=program_info(project, virtualenv="venv"))
    with pytest.raises(grpc.RpcError) as error:
        host.stub.GetRequiredPackages(request)
    python = project / "venv" / "bin" / "python"
    assert error.value.details() == (
        f"calling `{python} -m pip list --format json`: fork/exec {python}: no such file or directory"
    )
    assert read_records(fake_log) == []
    assert f"Failed to resolve python version command: fork/exec {python}" in host.stderr.decode()


def test_run_with_a_missing_virtualenv_fails_with_upstreams_instructions(host: Host, project: Path) -> None:
    """`ValidateVenv` and `NewVirtualEnvError` (pip.go:265, 443), word for word."""
    request = language_pb2.RunRequest(info=program_info(project, virtualenv="venv"), project="p", stack="dev")
    with pytest.raises(grpc.RpcError) as error:
        host.stub.Run(request)
    venv = project / "venv"
    assert error.value.code() == grpc.StatusCode.UNKNOWN
    assert error.value.details() == (
        f'The \'virtualenv\' option in Pulumi.yaml is set to "venv", but "{venv}" doesn\'t exist; run the '
        "following commands to create the virtual environment and install dependencies into it:\n\n"
        f"    1. python3 -m venv {venv}\n"
        f"    2. {venv}/bin/python -m pip install --upgrade pip setuptools wheel\n"
        f"    3. {venv}/bin/python -m pip install -r requirements.txt\n\n\n"
        "For more information see: https://www.pulumi.com/docs/intro/languages/python/#virtual-environments"
    )


def test_pulumi_install_streams_upstreams_progress(
    host: Host, project: Path, fake_log: Path, tmp_path: Path
) -> None:
    """`InstallDependencies` (main.go:1311-1377): the venv comes from `python3 -m venv` (the old host
    used its own interpreter), and the lines are upstream's."""
    request = language_pb2.InstallDependenciesRequest(
        directory=str(project), info=program_info(project, toolchain="pip", virtualenv="venv")
    )
    responses = list(host.stub.InstallDependencies(request))
    stdout = b"".join(r.stdout for r in responses).decode()
    assert (
        stdout
        == "Installing dependencies...\n\n" + "".join(PROGRESS) + "Finished installing dependencies\n\n"
    )
    assert b"".join(r.stderr for r in responses).decode() == "pip: a warning\n" * 2
    assert commands(fake_log)[0][:2] == (str(tmp_path / "python3"), ["-m", "venv", str(project / "venv")])


def test_the_fake_python_makes_a_venv_of_itself(tmp_path: Path) -> None:
    """The fakes of language_host_fakes.py that these tests rely on: a check of the one with most logic."""
    fake = write_script(tmp_path / "python3", FAKE_PYTHON)
    env = dict(os.environ, FAKE_PYTHON_LOG=str(tmp_path / "log"))
    subprocess.run([str(fake), "-m", "venv", str(tmp_path / "v")], env=env, check=True)
    assert (tmp_path / "v" / "bin" / "python").exists()
    assert read_records(tmp_path / "log")[0]["args"] == ["-m", "venv", str(tmp_path / "v")]
