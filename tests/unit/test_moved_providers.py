"""Stacks deployed before the re-layout still refresh and destroy: their pickled providers' old paths import.

Pulumi's dynamic provider process unpickles the provider stored in the state's outputs (by reference:
module path and class name) in a fresh interpreter, with nothing of the program imported yet.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from components import MOVED

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("old", "name"),
    [("components.host_state", "HostStateProvider"), ("components.aperture", "ApertureConfigProvider")],
)
def test_a_provider_pickled_under_its_old_module_unpickles_in_a_fresh_process(old: str, name: str) -> None:
    code = (
        "import pickle, importlib\n"
        f"cls = pickle.loads(b'c{old}\\n{name}\\n.')\n"
        f"assert cls is getattr(importlib.import_module({MOVED[old]!r}), {name!r}), cls\n"
        "print(cls.__module__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == MOVED[old]


def test_an_unknown_old_path_still_fails() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import components.no_such_module"], cwd=ROOT, capture_output=True, text=True
    )
    assert "ModuleNotFoundError" in result.stderr
