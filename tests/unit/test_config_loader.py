"""Reading the stack config: unknown keys, key files, and secrets that stay secret."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pulumi
import pytest

from tests.unit.program_harness import run_program
from tests.unit.test_program import PRIVATE_KEY, RAW, SECRETS, secret_value


def with_host(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(RAW)
    raw["hosts"][0].update(changes)
    return raw


def test_host_key_file_is_read_and_pinned(tmp_path: Path) -> None:
    key_file = tmp_path / "ssh_host_ed25519_key.pub"
    key_file.write_text("ssh-ed25519 AAAAFROMFILE sandbox\n")
    mocks, _ = run_program(with_host(hostKey=f"file:{key_file}"), SECRETS)
    connection = secret_value(mocks.named("spark-preflight").inputs["connection"])
    assert connection["hostKey"] == "ssh-ed25519 AAAAFROMFILE"


def problems(error: pytest.ExceptionInfo[pulumi.RunError]) -> list[str]:
    """The problems a config error lists, one `  - ` line each (the program raises a RunError)."""
    head, *lines = str(error.value).splitlines()
    assert head == "invalid sovereign-ai configuration:"
    return [line.removeprefix("  - ") for line in lines]


def test_missing_host_key_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(pulumi.RunError) as info:
        run_program(with_host(hostKey=f"file:{tmp_path}/absent.pub"), SECRETS)
    assert problems(info) == [
        f"sovereign-ai:hosts[0].hostKey: cannot read {tmp_path}/absent.pub (No such file or directory); "
        "for the sandbox, run `make sandbox-up` first"
    ]


def test_private_key_path_is_read_as_a_secret(tmp_path: Path) -> None:
    key_file = tmp_path / "id_ed25519"
    key_file.write_text(PRIVATE_KEY)
    raw = dict(copy.deepcopy(RAW), sshPrivateKeyPath=str(key_file))
    mocks, _ = run_program(raw, {})
    connection = secret_value(mocks.named("spark-preflight").inputs["connection"])
    assert connection["privateKey"] == PRIVATE_KEY


def test_private_key_path_and_secret_together_are_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "id_ed25519"
    key_file.write_text(PRIVATE_KEY)
    with pytest.raises(pulumi.RunError) as info:
        run_program(dict(copy.deepcopy(RAW), sshPrivateKeyPath=str(key_file)), SECRETS)
    assert problems(info) == [
        "sovereign-ai:sshPrivateKeyPath: set together with sshPrivateKey: keep one of them"
    ]


def test_misspelled_top_level_key_is_named() -> None:
    raw = dict(copy.deepcopy(RAW), enviroment="production")
    with pytest.raises(pulumi.RunError) as info:
        run_program(raw, SECRETS)
    assert problems(info)[0].startswith("sovereign-ai:enviroment: is not a known setting (known: ")


def test_placeholders_left_from_the_example_stack_file_are_each_named() -> None:
    raw = copy.deepcopy(RAW)
    raw["tailnet"]["admins"] = ["<you@example.com>"]
    raw["hosts"][0]["user"] = "<ubuntu>"
    with pytest.raises(pulumi.RunError) as info:
        run_program(raw, SECRETS)
    assert [p for p in problems(info) if "placeholder" in p] == [
        "sovereign-ai:tailnet.admins[0]: is still the placeholder <you@example.com>: replace it with your own "
        "value (README.md#configuration)",
        "sovereign-ai:hosts[0].user: is still the placeholder <ubuntu>: replace it with your own value "
        "(README.md#configuration)",
    ]
