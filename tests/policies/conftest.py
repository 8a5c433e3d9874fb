"""Every policy test starts on the happy-path production stack, outside a preview."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pulumi.runtime import config as runtime_config

from testing.policies import CONFIG, SECRETS, config_with, set_stack_config


@pytest.fixture(autouse=True)
def production_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("PULUMI_DRY_RUN", raising=False)
    set_stack_config(monkeypatch, CONFIG, SECRETS)
    yield
    runtime_config.set_all_config({})


@pytest.fixture
def development_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    set_stack_config(monkeypatch, config_with(environment="development"), SECRETS)


@pytest.fixture
def no_stack_config(monkeypatch: pytest.MonkeyPatch) -> None:
    set_stack_config(monkeypatch, None)


@pytest.fixture
def preview(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_DRY_RUN", "true")
