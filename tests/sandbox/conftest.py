"""Fixtures shared by the emulated-host tests: a client key, the stand-in control plane, a host.

asyncssh is first imported here through `sandbox` (never directly), so the sandbox's filter for
asyncssh's DSA deprecation warnings (sandbox/__init__.py) is in place before it loads.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sandbox.host import HostHandle, start_host
from sandbox.host.state import is_alive
from testing.host import StandInControl, Upstream, containers, new_client_key

if TYPE_CHECKING:
    import asyncssh


@pytest.fixture
def client_key() -> asyncssh.SSHKey:
    return new_client_key()


@pytest.fixture
def control() -> Iterator[StandInControl]:
    stand_in = StandInControl().start()
    yield stand_in
    stand_in.close()


@pytest.fixture
def audit_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


@pytest.fixture
def host(
    tmp_path: Path, client_key: asyncssh.SSHKey, control: StandInControl, audit_path: Path
) -> Iterator[HostHandle]:
    """A started host; on teardown it is stopped and every container process must be gone."""
    public = client_key.export_public_key().decode()
    handle = start_host(tmp_path / "sandbox", [public], control.url, audit_path=audit_path)
    yield handle
    handle.stop()
    for name, container in containers(handle).items():
        assert not is_alive(container.get("pid"), container.get("start_time")), f"container {name} still runs"


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """A stub OpenAI-compatible upstream for the emulated Aperture to route to."""
    server = Upstream()
    yield server
    server.close()
