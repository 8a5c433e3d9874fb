"""The Python side of the host shims: one module per emulated command, run as `python -m sandbox.host.tools`.

Each executable in `sandbox/host/shims/` records its argv, then `exec`s `python -m sandbox.host.tools
<command> "$@"` for the commands with state (`docker`, `tailscale`, `ufw`, `systemctl`, `nvidia-smi`,
`ip`). The shims in `sandbox/host/container_shims/` run `pip`, `ray`, `pkill`, `pgrep` and `vllm` the
same way, inside an emulated container (sandbox/host/container.py).
The modules read the host from `SANDBOX_HOST_DIR` and privilege from `SANDBOX_SUDO` (set by the
`sudo` shim), both set by the SSH server's environment.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence

from sandbox.host.state import HostPaths

Subcommand = Callable[[Sequence[str], HostPaths], int]
"""One emulated subcommand: its arguments and the host -> exit status."""


class ToolError(Exception):
    """A refused command: the message goes to stderr and the process exits with `status`."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def run_subcommand(commands: Mapping[str, Subcommand], words: Sequence[str], not_emulated: str) -> int:
    """Run `words[0]` of `commands` on the current host (`SANDBOX_HOST_DIR`) with the other words.

    An unknown subcommand prints `not_emulated` (formatted with `{name}` and `{emulated}`, the list of
    subcommands) and exits 1; a `ToolError` prints its message and exits with its status.
    """
    command = commands.get(words[0])
    if command is None:
        print(not_emulated.format(name=words[0], emulated=", ".join(commands)), file=sys.stderr)
        return 1
    paths = HostPaths.from_env()
    try:
        return command(list(words[1:]), paths)
    except ToolError as exc:
        print(str(exc), file=sys.stderr)
        return exc.status
