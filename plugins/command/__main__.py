"""`python -m plugins.command [flags] <engine address>`: serve the command plugin as the engine expects."""

from __future__ import annotations

import sys

from plugins.command.provider import register
from plugins.serve import serve

if __name__ == "__main__":
    sys.exit(serve("command", register, max_workers=16))
