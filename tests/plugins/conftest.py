"""Fixtures of the plugin tests: the emulated host's (shared with tests/sandbox, not copied),
`plugin`, one `command` plugin process per test module, and `conn`, the connection a program
sends for that host (command_harness.py)."""

from collections.abc import Iterator
from typing import Any

import asyncssh
import pytest

from sandbox.host import HostHandle
from tests.plugins.command_harness import Plugin, command_plugin, connection
from tests.sandbox.conftest import audit_path, client_key, control, host

__all__ = ["audit_path", "client_key", "conn", "control", "host", "plugin"]


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plugin]:
    """The command plugin, started once for the test module, as the engine would for a deployment."""
    with command_plugin(tmp_path_factory.mktemp("plugin-logs")) as running:
        yield running


@pytest.fixture
def conn(host: HostHandle, client_key: asyncssh.SSHKey) -> dict[str, Any]:
    """`connection(host, client_key)`: the test's emulated host, logged in to with its client key."""
    return connection(host, client_key)
