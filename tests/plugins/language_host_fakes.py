"""Helpers of the language host tests: a host started as the engine starts it, an engine that records
`Log` calls with their stream ids, and small fakes (a Python, an exec script, a policy pack, a plugin)
that record what the host made them do.

Set `SOVEREIGN_AI_UPSTREAM_LANGUAGE_HOST` to upstream's `pulumi-language-python` binary to run the same
tests against it (e.g. `~/.cache/upstream-engine/bin/pulumi-language-python`): that is how these tests
were checked to describe upstream's behaviour, not the stand-in's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc, language_pb2, language_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PYTHON = ROOT / "venv" / "bin" / "python"
UPSTREAM_HOST = os.environ.get("SOVEREIGN_AI_UPSTREAM_LANGUAGE_HOST", "")


@dataclass
class LogCall:
    """One engine `Log` call."""

    severity: int
    message: str
    ephemeral: bool
    stream_id: int
    urn: str


@dataclass
class Engine(engine_pb2_grpc.EngineServicer):
    """The engine's `Log` endpoint, keeping every call."""

    calls: list[LogCall] = field(default_factory=list)

    def Log(self, request: engine_pb2.LogRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.calls.append(
            LogCall(request.severity, request.message, request.ephemeral, request.streamId, request.urn)
        )
        return empty_pb2.Empty()

    def text(self) -> str:
        return "".join(call.message for call in self.calls)


@dataclass
class Host:
    """A running language host, its stub, the recording engine and the host's own output."""

    process: subprocess.Popen[bytes]
    stub: language_pb2_grpc.LanguageRuntimeStub
    engine: Engine
    address: str
    stdout: bytearray
    stderr: bytearray


def _drain(stream: object, into: bytearray) -> None:
    read = stream.read1  # type: ignore[attr-defined]
    while chunk := read(65536):
        into.extend(chunk)


@contextmanager
def language_host(
    env: dict[str, str] | None = None,
    exec_script: Path | None = None,
    extra_args: list[str] | None = None,
    with_engine: bool = True,
) -> Iterator[Host]:
    """The host in a process group of its own, as the engine starts it; SIGINT to the group at the end.

    `with_engine=False` starts it without the engine's address, as a debugger would (then only
    `Handshake` tells it where the engine is)."""
    engine = Engine()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    server.start()
    if UPSTREAM_HOST:
        argv = [UPSTREAM_HOST, *([f"-use-executor={exec_script}"] if exec_script else [])]
    else:
        argv = [sys.executable, "-m", "plugins.language_python"]
        argv += [f"--exec-script={exec_script}"] if exec_script else []
    full_env = dict(os.environ) | {"PYTHONPATH": str(ROOT), "GRPC_VERBOSITY": "ERROR"} | (env or {})
    process = subprocess.Popen(
        [*argv, *(extra_args or []), *([address] if with_engine else [])],
        cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    port = process.stdout.readline().decode().strip()
    assert port.isdigit(), f"the host printed {port!r} instead of its port"
    out, err = bytearray(), bytearray()
    for stream, into in ((process.stdout, out), (process.stderr, err)):
        threading.Thread(target=_drain, args=(stream, into), daemon=True).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=10)
    try:
        yield Host(process, language_pb2_grpc.LanguageRuntimeStub(channel), engine, address, out, err)
    finally:
        channel.close()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        server.stop(0)


def program_info(root: Path, **options: str) -> language_pb2.ProgramInfo:
    """`ProgramInfo` as the engine sends it for a project (or plugin directory) at `root`."""
    struct = struct_pb2.Struct()
    struct.update(options)
    return language_pb2.ProgramInfo(
        root_directory=str(root), program_directory=str(root), entry_point=".", options=struct
    )


def project_dir(tmp_path: Path, name: str = "project") -> Path:
    """A directory whose `venv` is the project's own virtualenv (a symlink, as the engine tests do)."""
    work = tmp_path / name
    work.mkdir()
    (work / "venv").symlink_to(ROOT / "venv")
    return work


def write_script(path: Path, body: str) -> Path:
    """An executable Python script run by the project's interpreter."""
    path.write_text(f"#!{PROJECT_PYTHON}\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def read_records(path: Path) -> list[dict[str, object]]:
    """The JSON lines a fake appended to `path`."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


FAKE_PYTHON = """
import json, os, shutil, subprocess, sys
args = sys.argv[1:]
with open(os.environ["FAKE_PYTHON_LOG"], "a") as log:
    log.write(json.dumps({"python": sys.argv[0], "args": args, "cwd": os.getcwd(),
                          "virtual_env": os.environ.get("VIRTUAL_ENV")}) + "\\n")
if args[:2] == ["-m", "venv"]:
    os.makedirs(os.path.join(args[2], "bin"))
    shutil.copy(sys.argv[0], os.path.join(args[2], "bin", "python"))
elif args[:3] == ["-m", "pip", "install"]:
    print("pip: installing " + " ".join(args[3:]), flush=True)
    print("pip: a warning", file=sys.stderr, flush=True)
    sys.exit(int(os.environ.get("FAKE_PIP_EXIT", "0")))
elif args[:3] == ["-m", "pip", "list"]:
    print("[]")
elif args[:1] == ["--version"]:
    print("Python 3.11.7")
else:
    sys.exit(subprocess.call([sys.executable, *args]))
"""
"""A Python for `PULUMI_PYTHON_CMD`: `-m venv` makes a venv whose `bin/python` is this fake again; pip
calls are logged and answered; anything else runs on the real interpreter."""


FAKE_EXEC = """
import json, os, signal, sys, time
args = sys.argv[1:]
while args and args[0].startswith("--"):
    args = args[2:]
entry, mode, out = args[0], args[1], args[2]
def record(**extra):
    with open(out, "a") as file:
        file.write(json.dumps(extra) + "\\n")
env = {k: os.environ.get(k) for k in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS", "VIRTUAL_ENV")}
record(event="start", argv=sys.argv[1:], pgid=os.getpgid(0), ppid=os.getppid(), env=env)
if mode == "wait-for-sigint":
    def interrupted(*_):
        record(event="SIGINT")
        sys.exit(7)
    signal.signal(signal.SIGINT, interrupted)
    time.sleep(60)
elif mode == "ignore-sigint":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    time.sleep(60)
elif mode == "die-by-signal":
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)
"""
"""A `pulumi-language-python-exec`: skips the host's flags, then `<entry> <mode> <record file>`."""


FAKE_PACK = """
import json, os, sys, time
from concurrent import futures
import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, plugin_pb2
RECORD = os.environ.get("FAKE_PACK_RECORD", "/dev/null")
MODE = os.environ.get("FAKE_PACK_MODE", "serve")
KEYS = ("PATH", "VIRTUAL_ENV", "PULUMI_ORGANIZATION", "PULUMI_PROJECT", "PULUMI_STACK", "PULUMI_DRY_RUN",
        "PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS", "FROM_REQUEST")
def record(**extra):
    with open(RECORD, "a") as file:
        file.write(json.dumps(extra) + "\\n")
record(event="start", argv=sys.argv[1:], cwd=os.getcwd(), pgid=os.getpgid(0),
       env={k: os.environ[k] for k in KEYS if k in os.environ})
class Pack(analyzer_pb2_grpc.AnalyzerServicer):
    def ConfigureStack(self, request, context):
        record(event="ConfigureStack", stack=request.stack, project=request.project,
               config=dict(request.config))
        if MODE == "configure-fails":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad config")
        if MODE == "configure-unimplemented":
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "no")
        return analyzer_pb2.AnalyzerStackConfigureResponse()
    def GetAnalyzerInfo(self, request, context):
        record(event="GetAnalyzerInfo")
        return analyzer_pb2.AnalyzerInfo(name="fake-pack")
    def Cancel(self, request, context):
        record(event="Cancel")
        return empty_pb2.Empty()
if MODE == "no-port":
    print("Traceback: the pack failed", flush=True)
    sys.exit(1)
server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
analyzer_pb2_grpc.add_AnalyzerServicer_to_server(Pack(), server)
print(server.add_insecure_port("127.0.0.1:0"), flush=True)
server.start()
if MODE.startswith("exit:"):
    time.sleep(1)
    print("pack: bye", flush=True)
    print("pack: bye on stderr", file=sys.stderr, flush=True)
    sys.exit(int(MODE.split(":")[1]))
time.sleep(120)
"""
"""A policy pack (`python -u -m pulumi.policy <engine> <dir>`) that records its start and its calls."""


def plugin_dir(tmp_path: Path, main: str, name: str = "plugin") -> Path:
    """A plugin directory with a `__main__.py` and a `venv/bin/python` that runs `FAKE_PACK` for
    `-u -m pulumi.policy` and the project's interpreter for anything else."""
    directory = tmp_path / name
    (directory / "venv" / "bin").mkdir(parents=True)
    (directory / "__main__.py").write_text(textwrap.dedent(main))
    pack = tmp_path / f"{name}_fake_pack.py"
    pack.write_text(textwrap.dedent(FAKE_PACK))
    python = directory / "venv" / "bin" / "python"
    python.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-u" ] && [ "$2" = "-m" ] && [ "$3" = "pulumi.policy" ]; then\n'
        f'  shift 3; exec {PROJECT_PYTHON} {pack} "$@"\n'
        "fi\n"
        f'exec {PROJECT_PYTHON} "$@"\n'
    )
    python.chmod(0o755)
    return directory
