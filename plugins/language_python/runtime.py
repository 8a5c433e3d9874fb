"""The LanguageRuntime service: what the engine asks a Python language host, answered as upstream does.

Upstream: github.com/pulumi/pulumi `sdk/python/cmd/pulumi-language-python/main.go`
(docs/architecture.md §10.3).
"""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

from plugins.language_python import packages, python_env
from plugins.language_python.policy_proxy import PackLaunch, run_policy_pack
from plugins.language_python.program import RunningPrograms, run_arguments, run_environment, run_response

M = TypeVar("M")


class PythonLanguageRuntime(language_pb2_grpc.LanguageRuntimeServicer):
    """Runs Python programs and policy packs for the engine, as upstream's host does."""

    def __init__(self, engine: str, version: str, exec_script: str, logger: logging.Logger) -> None:
        self.engine = engine
        self.version = version
        self.exec_script = exec_script
        self.logger = logger
        self.programs = RunningPrograms()

    # -- identity -------------------------------------------------------------------------------

    def GetPluginInfo(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> plugin_pb2.PluginInfo:
        return plugin_pb2.PluginInfo(version=self.version)

    def Handshake(
        self, request: language_pb2.LanguageHandshakeRequest, context: grpc.ServicerContext
    ) -> language_pb2.LanguageHandshakeResponse:
        if request.engine_address:
            self.engine = request.engine_address
        return language_pb2.LanguageHandshakeResponse()

    # -- plugins the program needs --------------------------------------------------------------

    def _env(self, info: language_pb2.ProgramInfo, context: grpc.ServicerContext) -> python_env.PythonEnv:
        try:
            env = python_env.resolve(
                info.root_directory, python_env.options_dict(info.options), info.program_directory
            )
            python_env.validate(env, info.root_directory or info.program_directory)
        except python_env.PythonEnvError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        return env

    def _packages(
        self, info: language_pb2.ProgramInfo, context: grpc.ServicerContext
    ) -> list[packages.Package]:
        env = self._env(info, context)
        try:
            found = packages.required_packages(
                packages.installed_distributions(env, info.program_directory or info.root_directory)
            )
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            context.abort(grpc.StatusCode.UNKNOWN, str(exc))
        self.logger.info("required packages: %s", [(p.name, p.version) for p in found])
        return found

    def GetRequiredPackages(
        self, request: language_pb2.GetRequiredPackagesRequest, context: grpc.ServicerContext
    ) -> language_pb2.GetRequiredPackagesResponse:
        dependencies = _dependencies(self._packages(request.info, context), plugin_pb2.PackageDependency)
        return language_pb2.GetRequiredPackagesResponse(packages=dependencies)

    def GetRequiredPlugins(
        self, request: language_pb2.GetRequiredPluginsRequest, context: grpc.ServicerContext
    ) -> language_pb2.GetRequiredPluginsResponse:
        """The older form of `GetRequiredPackages`, which engines still call."""
        plugins = _dependencies(self._packages(request.info, context), plugin_pb2.PluginDependency)
        return language_pb2.GetRequiredPluginsResponse(plugins=plugins)

    # -- running --------------------------------------------------------------------------------

    def Run(
        self, request: language_pb2.RunRequest, context: grpc.ServicerContext
    ) -> language_pb2.RunResponse:
        env = self._env(request.info, context)
        argv = [env.python, *run_arguments(request, self.engine, self.exec_script)]
        self.logger.info("run %s (dry_run=%s)", request.stack, request.dryRun)
        code = self.programs.run(argv, run_environment(request, env), request.pwd)
        self.logger.info("program exited %d", code)
        return run_response(code)

    def RunPlugin(
        self, request: language_pb2.RunPluginRequest, context: grpc.ServicerContext
    ) -> Iterator[language_pb2.RunPluginResponse]:
        info = request.info
        plugin_dir = request.program or info.program_directory or info.root_directory
        options = python_env.options_dict(info.options)
        if request.kind != "analyzer":
            options.setdefault("virtualenv", "venv")
        try:
            env = python_env.resolve(info.root_directory or plugin_dir, options, plugin_dir)
            python_env.validate(env, plugin_dir)
        except python_env.PythonEnvError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        base_env = env.environ(_env_list(request.env))
        self.logger.info("run plugin %s (%s) from %s", request.name, request.kind, plugin_dir)
        if request.kind == "analyzer":
            launch = PackLaunch(env.python, plugin_dir, _last_positional(request.args), base_env)
            yield from run_policy_pack(launch, self.logger, context)
            return
        yield from _stream([env.python, plugin_dir, *request.args], base_env, request.pwd, context)

    def InstallDependencies(
        self, request: language_pb2.InstallDependenciesRequest, context: grpc.ServicerContext
    ) -> Iterator[language_pb2.InstallDependenciesResponse]:
        info = request.info
        root = info.root_directory or request.directory
        try:
            env = python_env.resolve(root, python_env.options_dict(info.options), request.directory)
        except python_env.PythonEnvError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        base = dict(os.environ)
        if env.virtualenv is not None and not Path(env.python).exists():
            yield language_pb2.InstallDependenciesResponse(
                stdout=f"Creating virtual environment {env.virtualenv}...\n".encode()
            )
            yield from _stream_install(
                [sys.executable, "-m", "venv", str(env.virtualenv)], base, root, context
            )
        requirements = Path(info.program_directory or root) / "requirements.txt"
        if not requirements.exists():
            requirements = Path(root) / "requirements.txt"
        if requirements.exists():
            yield from _stream_install(
                [env.python, "-m", "pip", "install", "-r", str(requirements)],
                env.environ(base),
                root,
                context,
            )
        yield language_pb2.InstallDependenciesResponse(stdout=b"Finished installing dependencies\n")

    # -- describing -----------------------------------------------------------------------------

    def About(
        self, request: language_pb2.AboutRequest, context: grpc.ServicerContext
    ) -> language_pb2.AboutResponse:
        env = self._env(request.info, context)
        version = subprocess.run(
            [env.python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True, text=True, timeout=60,
        ).stdout.strip() or platform.python_version()  # fmt: skip
        return language_pb2.AboutResponse(
            executable=env.python,
            version=version,
            metadata={"toolchain": env.toolchain, "toolchainVersion": _pip_version(env), "typechecker": ""},
        )

    def GetProgramDependencies(
        self, request: language_pb2.GetProgramDependenciesRequest, context: grpc.ServicerContext
    ) -> language_pb2.GetProgramDependenciesResponse:
        env = self._env(request.info, context)
        try:
            dists = packages.installed_distributions(env, request.info.program_directory or request.pwd)
        except RuntimeError as exc:
            context.abort(grpc.StatusCode.UNKNOWN, str(exc))
        return language_pb2.GetProgramDependenciesResponse(
            dependencies=[
                language_pb2.DependencyInfo(name=str(d["name"]), version=str(d["version"]))
                for d in sorted(dists, key=lambda d: str(d["name"]).lower())
            ]
        )

    def Cancel(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.logger.info("cancel")
        self.programs.interrupt()
        return empty_pb2.Empty()


def _dependencies(found: list[packages.Package], message: Callable[..., M]) -> list[M]:
    """Each package as a `PackageDependency` or (the older call's) `PluginDependency`."""
    return [message(name=p.name, kind=p.kind, version=p.version, server=p.server) for p in found]


def _env_list(pairs: list[str]) -> dict[str, str]:
    """`RunPluginRequest.env` (`K=V` strings) as a dict; the host's own environment when empty."""
    if not pairs:
        return dict(os.environ)
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


def _last_positional(args: list[str]) -> str:
    positional = [arg for arg in args if not arg.startswith("-")]
    return positional[-1] if positional else ""


def _pip_version(env: python_env.PythonEnv) -> str:
    proc = subprocess.run(
        [env.python, "-c", "import importlib.metadata as m; print(m.version('pip'))"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return proc.stdout.strip()


def _stream(
    argv: list[str], env: dict[str, str], cwd: str, context: grpc.ServicerContext
) -> Iterator[language_pb2.RunPluginResponse]:
    """Run a plugin process, streaming its stdout and stderr, then its exit code."""
    process = subprocess.Popen(argv, env=env, cwd=cwd or None, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    context.add_callback(process.kill)
    assert process.stdout is not None and process.stderr is not None
    err = process.stderr
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.extend(iter(err.readline, b"")), daemon=True)
    reader.start()
    for line in iter(process.stdout.readline, b""):
        yield language_pb2.RunPluginResponse(stdout=line)
    code = process.wait()
    reader.join(5)
    for line in errors:
        yield language_pb2.RunPluginResponse(stderr=line)
    yield language_pb2.RunPluginResponse(exitcode=code)


def _stream_install(
    argv: list[str], env: dict[str, str], cwd: str, context: grpc.ServicerContext
) -> Iterator[language_pb2.InstallDependenciesResponse]:
    for item in _stream(argv, env, cwd, context):
        kind = item.WhichOneof("output")
        if kind == "stdout":
            yield language_pb2.InstallDependenciesResponse(stdout=item.stdout)
        elif kind == "stderr":
            yield language_pb2.InstallDependenciesResponse(stderr=item.stderr)
        elif item.exitcode != 0:
            context.abort(grpc.StatusCode.UNKNOWN, f"`{' '.join(argv)}` exited {item.exitcode}")
