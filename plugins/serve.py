"""How every plugin of this project starts, announces itself and stops, as the engine expects.

The engine starts a plugin with `[--logtostderr] [-v=N] [--tracing EP] <engine address>`, reads the
port from the first line of its stdout, dials `127.0.0.1:<port>`, and at the end calls `Cancel` and
sends SIGINT to the plugin's process group (SIGKILL 5 s later): github.com/pulumi/pulumi
`sdk/go/common/resource/plugin/plugin.go`, and docs/architecture.md §10.3, §10.5. Traps this module
avoids:

- the signal handlers are installed before the port is printed, and only set an event;
- after the port line, the plugin's own stdout/stderr are shown to the user (language host) or
  hidden (providers), so diagnostics go to a log file, never to the terminal;
- gRPC's own INFO lines are silenced (`GRPC_VERBOSITY=ERROR` is set by the launchers too);
- a plugin whose engine died (reparented process) exits instead of lingering.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent import futures
from pathlib import Path

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import grpc

MAX_MESSAGE_BYTES = 400 * 1024 * 1024
"""The engine sends whole state snapshots in some calls; upstream plugins allow 400 MiB."""

GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]


def engine_address(argv: list[str]) -> str:
    """The engine's address: the last positional argument (flags such as `-v=9` come first)."""
    positional = [arg for arg in argv if not arg.startswith("-")]
    return positional[-1] if positional else ""


def log_file(name: str) -> Path:
    """`$SOVEREIGN_AI_PLUGIN_LOG_DIR/<name>.log`, else under the user's cache; never the terminal."""
    base = os.environ.get("SOVEREIGN_AI_PLUGIN_LOG_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sovereign-ai" / "logs"
    )
    path = Path(base) / f"{name}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def setup_logging(name: str) -> logging.Logger:
    """A logger writing to the plugin's log file, one line per record with the process id."""
    logger = logging.getLogger(name)
    if logger.handlers:
        return logger
    handler = logging.FileHandler(log_file(name))
    handler.setFormatter(logging.Formatter(f"%(asctime)s {name}[%(process)d] %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if os.environ.get("SOVEREIGN_AI_PLUGIN_DEBUG") else logging.INFO)
    logger.propagate = False
    return logger


class Lifetime:
    """The plugin's stop signal: SIGINT, SIGTERM, `Cancel`, or the engine going away."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._parent = os.getppid()

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.stopping.set())

    def engine_gone(self) -> bool:
        return os.getppid() != self._parent

    def wait(self, poll_seconds: float = 0.5) -> None:
        """Block until asked to stop or the engine is gone (then the engine cannot ask any more)."""
        while not self.stopping.wait(poll_seconds):
            if self.engine_gone():
                return


def serve(
    name: str,
    register: Callable[[grpc.Server, Lifetime], None],
    max_workers: int = 8,
    stdout_to_log: bool = True,
) -> int:
    """Start a gRPC server on loopback, print its port, serve until stopped; the plugin's `main`.

    `register(server, lifetime)` adds the servicers. With `stdout_to_log`, file descriptors 1 and 2
    point at the plugin's log file once the port is printed, so a stray `print` or a C-level
    warning cannot reach the user's terminal or corrupt the port line.
    """
    logger = setup_logging(name)
    lifetime = Lifetime()
    lifetime.install_signal_handlers()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), options=GRPC_OPTIONS)
    register(server, lifetime)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    logger.info("serving on 127.0.0.1:%d (argv %s)", port, sys.argv[1:])
    if stdout_to_log:
        redirect_stdio(log_file(name))
    lifetime.wait()
    logger.info("stopping")
    server.stop(grace=1).wait(2)
    return 0


def redirect_stdio(path: Path) -> None:
    """Point fds 1 and 2 (and Python's sys.stdout/err) at `path`, appending."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
