"""The host scripts in `components/host/scripts/`, with their non-secret inputs as leading `export` lines."""

from __future__ import annotations

import shlex
from pathlib import Path

SCRIPTS = Path(__file__).parent / "scripts"


def script(name: str, **env: str | int) -> str:
    """A script from components/host/scripts with its non-secret inputs as leading `export` lines."""
    exports = "".join(f"export {key}={shlex.quote(str(value))}\n" for key, value in env.items())
    return exports + (SCRIPTS / name).read_text()
