"""`RunPlugin`: how upstream's host starts a plugin or a policy pack written in Python (main.go:1528-1728).

The engine starts a plugin directory whose `PulumiPlugin.yaml` / `PulumiPolicy.yaml` names the
`python` runtime by calling this host's `RunPlugin` (pkg `resource/plugin/plugin.go:559-601`), with
the directory as `info`, its own environment as `env` and, for a policy pack, `[<engine address>]` as
`args`. Upstream then:

- resolves the Python as for a program, but a non-analyzer plugin defaults to `virtualenv: venv`;
- runs `python -c "import pulumi.run.plugin"` to see whether the SDK can run a packaged plugin; a
  plugin without `__main__.py` then needs a buildable `pyproject.toml` and runs as
  `python -m pulumi.run.plugin <project name> <args>`;
- otherwise a policy pack runs as `python -u -m pulumi.policy <args> <directory>` in its directory,
  and any other plugin as `python <directory> <args>` in the engine's working directory;
- builds the environment as the toolchain's (activated for a venv, else none, i.e. inherited), then a
  policy pack's stack variables, then the request's `env` last, so the engine's values win;
- streams stdout and stderr as they come, and ends with an exit code only when it is not 0 (a
  signal reads -1); the engine hanging up kills the process (`exec.CommandContext`).
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
from pulumi.runtime.proto import language_pb2

from plugins.language_python import python_env
from plugins.language_python.gostyle import start_error, wait_status
from plugins.language_python.install import InstallError, is_buildable_package, load_pyproject
from plugins.language_python.processes import Streamed

ANALYZER = "analyzer"
NOT_STARTED = "problem executing plugin program (could not run language executor): "
"""main.go:1724: the plugin could not be started, or (a policy pack) not attached."""


class PluginError(Exception):
    """The plugin cannot be started; the message is upstream's."""


@dataclass(frozen=True)
class PluginCommand:
    """What `RunPlugin` starts: the command line, its directory and its environment's layers."""

    argv: list[str]
    cwd: str
    base_env: dict[str, str] | None
    request_env: list[str]
    analyzer: bool

    def environment(self, extra: list[tuple[str, str]] | None = None) -> dict[str, str] | None:
        """`cmd.Env` (main.go:1659-1679): the toolchain's, `extra`, then the request's `env` last."""
        pairs = [*(extra or []), *_split_env(self.request_env)]
        if self.base_env is None and not pairs:
            return None  # Go's nil `cmd.Env`: the host's own environment
        env = dict(self.base_env or {})
        env.update(pairs)
        return env


def _split_env(pairs: list[str]) -> list[tuple[str, str]]:
    split = (pair.split("=", 1) for pair in pairs if "=" in pair)
    return [(key, value) for key, value in split]


def plugin_command(request: language_pb2.RunPluginRequest) -> PluginCommand:
    """Upstream's choice of command for a plugin directory (main.go:1545-1642)."""
    info = request.info
    analyzer = request.kind == ANALYZER
    try:
        options = python_env.parse_options(
            info.root_directory, info.program_directory, python_env.options_dict(info.options), not analyzer
        )
        env = python_env.resolve(options)
        if request.attach_debugger:
            raise PluginError(
                "attaching a debugger is not supported by this project's build of the Python language host; "
                + python_env.UPSTREAM_HOST
            )
        args = _plugin_args(request, env, options.root)
        argv = env.command(*args)
    except python_env.PythonEnvError as exc:
        raise PluginError(str(exc)) from exc
    cwd = info.program_directory if analyzer else request.pwd
    return PluginCommand(argv, cwd, env.command_env(), list(request.env), analyzer)


def _plugin_args(request: language_pb2.RunPluginRequest, env: python_env.PythonEnv, root: str) -> list[str]:
    """`-m pulumi.run.plugin`, `-u -m pulumi.policy` or the directory itself (main.go:1552-1627)."""
    has_main = os.path.exists(os.path.join(root, "__main__.py"))
    if _has_plugin_run_module(env) and not has_main:
        try:
            buildable = is_buildable_package(root)
        except InstallError as exc:
            raise PluginError(f"checking if plugin is a buildable package: {exc}") from exc
        if not buildable:
            raise PluginError(
                "plugin is not runnable, it provides neither __main__.py nor a buildable pyproject.toml"
            )
        pyproject = load_pyproject(root) or {}
        return ["-m", "pulumi.run.plugin", str(pyproject["project"]["name"]), *request.args]
    if request.kind == ANALYZER:
        return ["-u", "-m", "pulumi.policy", *request.args, request.info.program_directory]
    return [request.info.program_directory, *request.args]


def _has_plugin_run_module(env: python_env.PythonEnv) -> bool:
    """main.go:1565-1576: only a `ModuleNotFoundError` in the output says no (not a failure to start)."""
    try:
        proc = subprocess.run(
            env.command("-c", "import pulumi.run.plugin"),
            env=env.command_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except OSError:
        return True
    return not (proc.returncode != 0 and b"ModuleNotFoundError" in proc.stdout)


@dataclass(frozen=True)
class Exited:
    """The process ended with this exit code (negative: the signal)."""

    code: int


def exit_response(code: int) -> list[language_pb2.RunPluginResponse]:
    """main.go:1711-1718: an exit code is sent only for a failure; 0 just ends the stream."""
    if code == 0:
        return []
    return [language_pb2.RunPluginResponse(exitcode=wait_status(code))]


def start_streamed(
    command: PluginCommand, env: dict[str, str] | None, output: queue.Queue[object]
) -> Streamed:
    """Start the plugin with stderr copied to `output` at once; `PluginError` if it cannot start."""
    try:
        return Streamed(
            command.argv, env, command.cwd,
            stdout=lambda chunk: output.put(language_pb2.RunPluginResponse(stdout=chunk)),
            stderr=lambda chunk: output.put(language_pb2.RunPluginResponse(stderr=chunk)),
        )  # fmt: skip
    except OSError as exc:
        raise PluginError(NOT_STARTED + start_error(command.argv[0], exc)) from exc


def run_plugin(
    command: PluginCommand, context: grpc.ServicerContext
) -> Iterator[language_pb2.RunPluginResponse]:
    """A non-analyzer plugin: stream its output, then its exit code if not 0."""
    output: queue.Queue[object] = queue.Queue()
    try:
        process = start_streamed(command, command.environment(), output)
    except PluginError as exc:
        context.abort(grpc.StatusCode.UNKNOWN, str(exc))
    context.add_callback(process.kill)
    process.pump_stdout()
    threading.Thread(target=lambda: output.put(Exited(process.wait())), daemon=True).start()
    while True:
        item = output.get()
        if isinstance(item, Exited):
            yield from exit_response(item.code)
            return
        assert isinstance(item, language_pb2.RunPluginResponse)
        yield item
