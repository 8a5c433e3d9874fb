"""Figure 5: HTTP calls per changed Aperture config, and attempts to converge with concurrent writers.

In-process: the Aperture emulator (`sandbox.aperture.app.serve`) and `ApertureConfigProvider`, the
code the dynamic resource runs. A changed config is one `update` with a new model id; its requests are
read from the emulator's audit log. Concurrent writers: N providers, each owning a provider entry of
its own (N stacks sharing one gateway), start an update at the same instant; each writer's attempts
are its PUTs (one per GET -> validate -> PUT round; a 412 starts another round, at most
`MAX_ATTEMPTS`). Each N runs `ROUNDS` times.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure import lines
from components.gateway.aperture_client import ApertureClient, ApertureError, ConfigSnapshot, GatewaySettings
from components.gateway.aperture_config import MAX_ATTEMPTS, ApertureConfigProvider
from sandbox.aperture.app import serve

ROUNDS = 5
WRITERS = (1, 2, 4)
CAP = "tailscale.com/cap/aperture"
GRANTS = [{"src": ["admin@example.com"], "app": {CAP: [{"role": "admin"}, {"models": "**"}]}}]


def props(provider: str, model: str) -> dict[str, Any]:
    """The resource's inputs for one provider entry serving `model`."""
    return {
        "providers": {
            provider: {
                "baseurl": "http://127.100.0.1:8000",
                "models": [model],
                "compatibility": {"openai_chat": True},
            }
        },
        "grants": GRANTS,
        "environment": "development",
    }


class CountingClient(ApertureClient):
    """An `ApertureClient` that counts its PUTs (one per attempt)."""

    def __init__(self, settings: GatewaySettings) -> None:
        super().__init__(settings)
        self.puts = 0

    def put_config(self, text: str, etag: str) -> ConfigSnapshot:
        self.puts += 1
        return super().put_config(text, etag)


class CountingProvider(ApertureConfigProvider):
    """The dynamic provider with one `CountingClient` for all its requests."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.client = CountingClient(GatewaySettings(url=url))

    def _client(self) -> ApertureClient:
        return self.client


@dataclass
class Convergence:
    """Attempts per writer over every round for one number of concurrent writers."""

    writers: int
    attempts: list[int]
    failures: int


def calls_per_change(url: str, audit: Path) -> dict[str, int]:
    """Requests of one changed config (a model id change of a deployed entry), by kind."""
    provider = CountingProvider(url)
    old, new = props("spark", "model-a"), props("spark", "model-b")
    provider.create(old)
    before = len(lines(audit))
    provider.update("id", old, new)
    kinds: dict[str, int] = {"GET": 0, "validate": 0, "PUT": 0, "other": 0}
    for call in lines(audit)[before:]:
        kind = "validate" if "validate" in call["path"] else call["method"]
        kinds[kind if kind in kinds else "other"] += 1
    return kinds


def converge(url: str, writers: int, round_: int) -> tuple[list[int], int]:
    """N writers update at once; (attempts of each writer, writers that gave up)."""
    providers = [CountingProvider(url) for _ in range(writers)]
    names = [f"w{round_}-{i}" for i in range(writers)]
    for provider, name in zip(providers, names, strict=True):
        provider.create(props(name, "model-a"))
        provider.client.puts = 0
    barrier = threading.Barrier(writers)
    failures: list[str] = []

    def write(provider: CountingProvider, name: str) -> None:
        barrier.wait()
        try:
            provider.update("id", props(name, "model-a"), props(name, "model-b"))
        except ApertureError as exc:
            failures.append(str(exc))

    threads = [threading.Thread(target=write, args=pair) for pair in zip(providers, names, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [p.client.puts for p in providers], len(failures)


def run() -> tuple[dict[str, int], list[Convergence]]:
    """Figure 5's counts, against a fresh in-process emulator."""
    with tempfile.TemporaryDirectory() as tmp:
        audit = Path(tmp) / "audit.jsonl"
        server, _ = serve(default_identity="admin@example.com", audit_path=audit)
        url = f"http://127.0.0.1:{server.server_address[1]}"
        saved = os.environ.get("SOVEREIGN_AI_GATEWAY_URL")
        os.environ["SOVEREIGN_AI_GATEWAY_URL"] = url  # the in-process providers' gateway
        try:
            kinds = calls_per_change(url, audit)
            results = []
            for writers in WRITERS:
                attempts: list[int] = []
                failures = 0
                for round_ in range(ROUNDS):
                    each, failed = converge(url, writers, round_ * 10 + writers)
                    attempts += each
                    failures += failed
                results.append(Convergence(writers, attempts, failures))
            return kinds, results
        finally:
            server.shutdown()
            server.server_close()
            # The figures after this one start stacks whose environment is this process's.
            if saved is None:
                os.environ.pop("SOVEREIGN_AI_GATEWAY_URL", None)
            else:
                os.environ["SOVEREIGN_AI_GATEWAY_URL"] = saved


if __name__ == "__main__":
    kinds, results = run()
    print(json.dumps(kinds), MAX_ATTEMPTS)
    for r in results:
        print(r)
