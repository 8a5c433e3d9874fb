"""Fixtures shared by the real-engine tests: the engine's environment, and a sandbox stack per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.engine import engine_env
from testing.sandbox_stack import SandboxStack


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The toolchain's exports with a local backend of the test's own."""
    return engine_env(tmp_path)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxStack]:
    """A sandbox on ports of its own and a copy of the project pointed at it, for one test module."""
    running = SandboxStack.start(tmp_path_factory.mktemp("stack"))
    try:
        yield running
    finally:
        running.stop()
