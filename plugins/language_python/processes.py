"""A child process whose stdout and stderr are copied, as they come, to two writers.

This is what Go's `exec.Cmd` does when `Stdout`/`Stderr` are writers (a goroutine per stream, chunks
as read, `Wait` returning after both are drained), which upstream's host relies on for pip's output
and a plugin's. No new session or process group: upstream sets no `SysProcAttr`, so every child of
the host stays in the host's process group, where the engine's SIGINT at shutdown reaches it.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from typing import IO

Writer = Callable[[bytes], None]
"""Where a stream's chunks go (an engine `Log`, a gRPC response stream, a buffer)."""

CHUNK = 32 * 1024
"""io.Copy's buffer size."""


class Streamed:
    """A started process with a pump thread per output stream."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str] | None,
        cwd: str,
        stdout: Writer,
        stderr: Writer,
        stdin: int | None = subprocess.DEVNULL,
    ) -> None:
        """Start `argv`; an `OSError` means it could not be started (Go's `fork/exec` error)."""
        self.argv = argv
        self.process = subprocess.Popen(
            argv, env=env, cwd=cwd or None, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self.stdout = self.process.stdout
        self._stdout_writer = stdout
        self._pumps = [threading.Thread(target=pump, args=(self.process.stderr, stderr), daemon=True)]
        self._pumps[0].start()

    def pump_stdout(self) -> Streamed:
        """Copy stdout from now on (a caller may read a first line of it itself before)."""
        thread = threading.Thread(target=pump, args=(self.stdout, self._stdout_writer), daemon=True)
        self._pumps.append(thread)
        thread.start()
        return self

    def wait(self) -> int:
        """The exit code (negative: the signal), once both streams are drained."""
        code = self.process.wait()
        for thread in self._pumps:
            thread.join()
        return code

    def kill(self) -> None:
        """`exec.CommandContext`'s default cancel: SIGKILL, if it is still running."""
        if self.process.poll() is None:
            self.process.kill()


def pump(stream: IO[bytes], write: Writer) -> None:
    """Copy `stream` to `write` chunk by chunk, as `io.Copy` does, until end of file."""
    read = getattr(stream, "read1", stream.read)  # read1: what is there now, buffered bytes included
    while chunk := read(CHUNK):
        write(chunk)


def run_streamed(
    argv: list[str], env: dict[str, str] | None, cwd: str, stdout: Writer, stderr: Writer
) -> int:
    """Run to completion with both streams copied; the exit code."""
    return Streamed(argv, env, cwd, stdout, stderr).pump_stdout().wait()
