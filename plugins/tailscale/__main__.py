"""`python -m plugins.tailscale [flags] <engine address>`: the engine's entry point."""

from __future__ import annotations

import sys

from plugins.serve import serve
from plugins.tailscale import NAME
from plugins.tailscale.provider import register

if __name__ == "__main__":
    sys.exit(serve(NAME, register))
