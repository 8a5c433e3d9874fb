"""Requests the Aperture provider sends, counted from the emulator's audit log.

Prints one count line per operation: a create, an unchanged update (the second `pulumi up`, which
should mutate nothing), a model change, and a delete. Counts, not timings: they do not depend on
the machine. Run: `make bench`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from components.gateway.aperture_config import ApertureConfigProvider
from sandbox.aperture.app import serve

PROPS: dict[str, Any] = {
    "providers": {
        "spark": {
            "baseurl": "http://127.100.0.1:8000",
            "models": ["model-a"],
            "compatibility": {"openai_chat": True},
        }
    },
    "grants": [
        {"src": ["admin@example.com"], "app": {"tailscale.com/cap/aperture": [{"role": "admin"}]}},
        {
            "src": ["alice@example.com"],
            "app": {"tailscale.com/cap/aperture": [{"role": "user"}, {"models": "spark/**"}]},
        },
    ],
    "environment": "development",
}


def counted(audit: Path, action: Callable[[], object]) -> tuple[int, int]:
    before = len(audit.read_text().splitlines()) if audit.exists() else 0
    action()
    lines = [json.loads(line) for line in audit.read_text().splitlines()[before:]]
    return len(lines), sum(1 for line in lines if line["mutating"])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        audit = Path(tmp) / "audit.jsonl"
        server, _ = serve(default_identity="admin@example.com", audit_path=audit)
        os.environ["SOVEREIGN_AI_GATEWAY_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            provider = ApertureConfigProvider()
            changed = json.loads(json.dumps(PROPS))
            changed["providers"]["spark"]["models"] = ["model-b"]
            steps: list[tuple[str, Callable[[], object]]] = [
                ("create", lambda: provider.create(PROPS)),
                ("unchanged update", lambda: provider.update("id", PROPS, PROPS)),
                ("model change", lambda: provider.update("id", PROPS, changed)),
                ("delete", lambda: provider.delete("id", changed)),
            ]
            for name, action in steps:
                total, mutating = counted(audit, action)
                print(f"aperture provider {name:>16}: {total} requests, {mutating} mutating")
        finally:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    main()
