"""The LanguageRuntime service: what the engine asks a Python language host, answered as upstream does.

Upstream: `pythonLanguageHost` in main.go (citations as in `plugins/language_python/__init__.py`).
An error upstream returns as a plain Go error reaches the engine as gRPC `Unknown` with its text, so
every failure here aborts with `UNKNOWN` and upstream's wording.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import NoReturn, TypeVar

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

from plugins.language_python import about, packages, python_env
from plugins.language_python.engine_output import EngineWriters
from plugins.language_python.install import (
    InstallError,
    ensure_venv,
    install_dependencies,
    install_package,
    is_buildable_package,
)
from plugins.language_python.plugin_run import PluginError, plugin_command, run_plugin
from plugins.language_python.policy_proxy import run_policy_pack
from plugins.language_python.processes import Writer
from plugins.language_python.program import RunningPrograms, run_arguments, run_environment, run_response

M = TypeVar("M")

FAILURES = (python_env.PythonEnvError, InstallError, packages.PackagesError, about.AboutError, PluginError)
"""What upstream returns as an error; each aborts the call with its message."""

NO_ENGINE = "when debugging or running explicitly, must call Handshake before Run"
"""`connectToEngine` (main.go:308-324)."""


def fail(context: grpc.ServicerContext, error: Exception | str) -> NoReturn:
    """Abort the call as a Go error would reach the engine: `Unknown` with the text."""
    context.abort(grpc.StatusCode.UNKNOWN, str(error))
    raise AssertionError("unreachable")  # context.abort raises


class PythonLanguageRuntime(language_pb2_grpc.LanguageRuntimeServicer):
    """Runs Python programs and plugins for the engine, as upstream's host does."""

    def __init__(
        self, engine: str, version: str, exec_script: str, logger: logging.Logger, tracing: str = ""
    ) -> None:
        self.engine = engine
        self.version = version
        self.exec_script = exec_script
        self.tracing = tracing
        self.logger = logger
        self.programs = RunningPrograms()

    # -- identity -------------------------------------------------------------------------------

    def GetPluginInfo(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> plugin_pb2.PluginInfo:
        return plugin_pb2.PluginInfo(version=self.version)

    def Handshake(
        self, request: language_pb2.LanguageHandshakeRequest, context: grpc.ServicerContext
    ) -> language_pb2.LanguageHandshakeResponse:
        self.engine = request.engine_address  # main.go:1890, even when empty
        return language_pb2.LanguageHandshakeResponse()

    # -- plugins the program needs --------------------------------------------------------------

    def _resolve(self, info: language_pb2.ProgramInfo, is_plugin: bool = False) -> python_env.PythonEnv:
        """`parseOptions` then `ResolveToolchain`; raises `PythonEnvError`."""
        options = python_env.parse_options(
            info.root_directory, info.program_directory, python_env.options_dict(info.options), is_plugin
        )
        return python_env.resolve(options)

    def GetRequiredPackages(
        self, request: language_pb2.GetRequiredPackagesRequest, context: grpc.ServicerContext
    ) -> language_pb2.GetRequiredPackagesResponse:
        """main.go:326-368: create a missing venv (pip's output to the engine), then read the packages."""
        try:
            env = self._resolve(request.info)
            writers = EngineWriters(self.engine, self.logger)
            try:
                ensure_venv(env, request.info.program_directory, writers.info, writers.error)
            finally:
                writers.close()
            about.validate_version(env)
            found = packages.required_packages(env)
        except FAILURES as exc:
            fail(context, exc)
        self.logger.info("required packages: %s", [(p.name, p.version) for p in found])
        return language_pb2.GetRequiredPackagesResponse(packages=[_dependency(p) for p in found])

    def GetRequiredPlugins(
        self, request: language_pb2.GetRequiredPluginsRequest, context: grpc.ServicerContext
    ) -> language_pb2.GetRequiredPluginsResponse:
        """main.go:371-375: upstream answers only `GetRequiredPackages`; the engine falls back to this
        older call only when that one is unimplemented (pkg `resource/plugin/langruntime_plugin.go:243`)."""
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "method GetRequiredPlugins not implemented")
        raise AssertionError("unreachable")

    # -- running --------------------------------------------------------------------------------

    def Run(
        self, request: language_pb2.RunRequest, context: grpc.ServicerContext
    ) -> language_pb2.RunResponse:
        """main.go:997-1202."""
        if not self.engine:
            fail(context, NO_ENGINE)
        if request.attach_debugger:  # upstream's debugCommand errors come back as a RunResponse error
            return language_pb2.RunResponse(error=_not_supported("attaching a debugger"))
        try:
            env = self._resolve(request.info)
            env.validate()
            python_env.refuse_typechecker(env.options)
            argv = env.command(*run_arguments(request, self.engine, self.exec_script, self.tracing))
        except FAILURES as exc:
            fail(context, exc)
        self.logger.info("run %s (dry_run=%s)", request.stack, request.dryRun)
        code, error = self.programs.run(
            argv, run_environment(request, env.command_env()), context.add_callback
        )
        self.logger.info("program exited %s %s", code, error)
        return run_response(code, error)

    def RunPlugin(
        self, request: language_pb2.RunPluginRequest, context: grpc.ServicerContext
    ) -> Iterator[language_pb2.RunPluginResponse]:
        """main.go:1528-1728: a policy pack behind the proxy (`policy_proxy.py`), else `plugin_run.py`."""
        if not self.engine:
            fail(context, NO_ENGINE)
        try:
            command = plugin_command(request)
        except PluginError as exc:
            fail(context, exc)
        self.logger.info("run plugin %s (%s): %s", request.name, request.kind, command.argv)
        if command.analyzer:
            yield from run_policy_pack(command, context)
        else:
            yield from run_plugin(command, context)

    def InstallDependencies(
        self, request: language_pb2.InstallDependenciesRequest, context: grpc.ServicerContext
    ) -> Iterator[language_pb2.InstallDependenciesResponse]:
        """main.go:1311-1377 (`pulumi install`), pip's output streamed back as it comes."""
        info = request.info
        try:
            options = python_env.parse_options(
                info.root_directory,
                info.program_directory,
                python_env.options_dict(info.options),
                request.is_plugin,
            )
        except FAILURES as exc:
            fail(context, exc)

        def work(stdout: Writer, stderr: Writer) -> None:
            stdout(b"Installing dependencies...\n\n")
            env = python_env.resolve(options)
            tools = request.use_language_version_tools
            if request.is_plugin and _buildable(info.program_directory):
                install_package(env, info.program_directory, tools, stdout, stderr)
            install_dependencies(env, info.program_directory, tools, stdout, stderr)
            stdout(b"Finished installing dependencies\n\n")

        yield from _streamed_work(work, context)

    # -- describing -----------------------------------------------------------------------------

    def About(
        self, request: language_pb2.AboutRequest, context: grpc.ServicerContext
    ) -> language_pb2.AboutResponse:
        """main.go:1453-1485; without `info`, upstream's old default (pip, ambient Python)."""
        try:
            if request.HasField("info"):
                env = self._resolve(request.info)
            else:
                env = python_env.resolve(python_env.PythonOptions("", "", toolchain="pip"))
            found = about.about(env)
        except FAILURES as exc:
            fail(context, exc)
        metadata = {
            "toolchain": env.options.toolchain_name,
            "toolchainVersion": found.toolchain_version,
            "typechecker": env.options.typechecker_name,
        }
        return language_pb2.AboutResponse(
            executable=found.executable, version=found.version, metadata=metadata
        )

    def GetProgramDependencies(
        self, request: language_pb2.GetProgramDependenciesRequest, context: grpc.ServicerContext
    ) -> language_pb2.GetProgramDependenciesResponse:
        """main.go:1487-1515: `pip list`, top-level packages only unless transitive ones are asked for."""
        try:
            env = self._resolve(request.info)
            listed = packages.list_packages(env, request.transitiveDependencies)
        except packages.PackagesError as exc:
            fail(context, f"failed to get python dependencies: {exc}")
        except FAILURES as exc:
            fail(context, exc)
        dependencies = [language_pb2.DependencyInfo(name=name, version=version) for name, version in listed]
        return language_pb2.GetProgramDependenciesResponse(dependencies=dependencies)

    def Cancel(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> empty_pb2.Empty:
        """main.go:2032-2035: for good; running programs get SIGINT (`program.py`)."""
        self.logger.info("cancel")
        self.programs.cancel()
        return empty_pb2.Empty()


def _dependency(package: packages.Package) -> plugin_pb2.PackageDependency:
    return plugin_pb2.PackageDependency(
        name=package.name,
        kind=package.kind,
        version=package.version,
        server=package.server,
        parameterization=_parameterization(package.parameterization),
        extension=_parameterization(package.extension),
    )


def _parameterization(value: packages.Parameterization | None) -> plugin_pb2.PackageParameterization | None:
    if value is None:
        return None
    return plugin_pb2.PackageParameterization(name=value.name, version=value.version, value=value.value)


def _buildable(directory: str) -> bool:
    try:
        return is_buildable_package(directory)
    except InstallError as exc:
        raise InstallError(f"checking if plugin is a buildable package: {exc}") from exc


def _not_supported(what: str) -> str:
    return (
        f"{what} is not supported by this project's build of the Python language host; "
        + python_env.UPSTREAM_HOST
    )


def _streamed_work(
    work: Callable[[Writer, Writer], None], context: grpc.ServicerContext
) -> Iterator[language_pb2.InstallDependenciesResponse]:
    """Run `work` in a thread, yielding what it writes; its failure aborts the call with its message."""
    output: queue.Queue[object] = queue.Queue()

    def run() -> None:
        try:
            work(
                lambda chunk: output.put(language_pb2.InstallDependenciesResponse(stdout=chunk)),
                lambda chunk: output.put(language_pb2.InstallDependenciesResponse(stderr=chunk)),
            )
            output.put(None)
        except Exception as exc:  # a failure, or a bug: either way the call must end, with its text
            output.put(exc)

    threading.Thread(target=run, daemon=True).start()
    while (item := output.get()) is not None:
        if isinstance(item, Exception):
            fail(context, item)
        assert isinstance(item, language_pb2.InstallDependenciesResponse)
        yield item
