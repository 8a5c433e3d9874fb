"""The emulated `pgrep` and `pkill` inside a container: only that container's processes.

A container's processes are those whose environment carries its `SANDBOX_CONTAINER_ID`
(state.CONTAINER_ID_ENV): its main process and everything `docker exec` started, with their
children, as a PID namespace would scope them. The tool's own process is never matched (procps
skips itself). `PATTERN` is an extended regular expression matched against the process name
(`/proc/PID/comm`), or with `-f` the full command line; `-x` requires a whole match. `pgrep` prints
one pid per line (`-l`: `PID NAME`, `-a`: `PID COMMAND LINE`); `pkill` sends SIGTERM (or `-SIGNAL`,
`--signal SIGNAL`) and prints nothing. Exit codes are procps': 0 something matched, 1 nothing did,
2 a syntax error. Pids are the host's (the sandbox has no PID namespace).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from sandbox.host.state import CONTAINER_ID_ENV, container_processes


def _signal(name: str) -> int | None:
    """A signal number from `9`, `KILL` or `SIGKILL`; None when unknown."""
    if name.isdigit():
        return int(name)
    name = name.upper()
    with contextlib.suppress(KeyError):
        return int(signal.Signals[name if name.startswith("SIG") else "SIG" + name])
    return None


def _command_line(pid: int) -> tuple[str, str] | None:
    """(name, full command line) of a process, or None when it is gone."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return comm, raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")


def run(program: str, argv: Sequence[str]) -> int:
    """`pgrep`/`pkill [-f] [-x] [-l] [-a] [-SIGNAL|--signal SIGNAL] PATTERN` in the current container."""
    full = exact = long = every = False
    sig = int(signal.SIGTERM)
    patterns: list[str] = []
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--signal" and program == "pkill" and i + 1 < len(words):
            number = _signal(words[i + 1])
            if number is None:
                print(f'{program}: Unknown signal "{words[i + 1]}".', file=sys.stderr)
                return 2
            sig, i = number, i + 2
            continue
        if word.startswith("-") and len(word) > 1 and not patterns:
            letters = word[1:]
            if program == "pkill" and _signal(letters) is not None and not set(letters) <= set("fxla"):
                sig = int(_signal(letters) or sig)
            elif set(letters) <= set("fxla"):
                full |= "f" in letters
                exact |= "x" in letters
                long |= "l" in letters
                every |= "a" in letters
            else:
                print(f"{program}: invalid option -- '{letters[0]}'", file=sys.stderr)
                print(f"\nUsage:\n {program} [options] <pattern>", file=sys.stderr)
                return 2
        else:
            patterns.append(word)
        i += 1
    if len(patterns) != 1:
        message = "no matching criteria specified" if not patterns else "only one pattern can be provided"
        print(f"{program}: {message}\nTry `{program} --help' for more information.", file=sys.stderr)
        return 2
    try:
        pattern = re.compile(patterns[0])
    except re.error as exc:
        print(f"{program}: regex error: {exc}", file=sys.stderr)
        return 2
    container_id = os.environ.get(CONTAINER_ID_ENV)
    if not container_id:
        print(f"{program}: sandbox: only emulated inside a container", file=sys.stderr)
        return 2
    matched = 0
    for pid in container_processes(container_id, exclude=(os.getpid(),)):
        described = _command_line(pid)
        if described is None:
            continue
        name, command = described
        target = command if full else name
        if not (pattern.fullmatch(target) if exact else pattern.search(target)):
            continue
        matched += 1
        if program == "pgrep":
            print(f"{pid} {command}" if every else f"{pid} {name}" if long else pid)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
    return 0 if matched else 1


def pgrep(argv: Sequence[str]) -> int:
    """`pgrep` (see the module docstring)."""
    return run("pgrep", argv)


def pkill(argv: Sequence[str]) -> int:
    """`pkill` (see the module docstring)."""
    return run("pkill", argv)
