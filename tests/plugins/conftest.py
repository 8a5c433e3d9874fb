"""Fixtures of the plugin tests: the emulated host's (shared with tests/sandbox, not copied), and
`plugin`, one `command` plugin process per test module (command_harness.py)."""

from collections.abc import Iterator

import pytest

from tests.plugins.command_harness import Plugin, command_plugin
from tests.sandbox.conftest import audit_path, client_key, control, host

__all__ = ["audit_path", "client_key", "control", "host", "plugin"]


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plugin]:
    """The command plugin, started once for the test module, as the engine would for a deployment."""
    with command_plugin(tmp_path_factory.mktemp("plugin-logs")) as running:
        yield running
