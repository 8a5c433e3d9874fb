"""Fixtures of the plugin tests: the emulated host's (shared with tests/sandbox, not copied)."""

from tests.sandbox.conftest import audit_path, client_key, control, host

__all__ = ["audit_path", "client_key", "control", "host"]
