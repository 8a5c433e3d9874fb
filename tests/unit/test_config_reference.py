"""README.md's configuration reference is the one the config model generates, and every key has docs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import config_reference  # noqa: E402

from config.model import HostConfig  # noqa: E402


class _Documented(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    port: int = 1
    """A documented key."""


class _Undocumented(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    port: int = 1
    """A documented key."""

    shiny: bool = False


class _HostWithNewKey(HostConfig):
    """One GB10 box, with a key the README does not know yet."""

    turbo: bool = False
    """Go faster."""


def test_readme_matches_the_model() -> None:
    assert config_reference.problems((ROOT / "README.md").read_text()) == []


def test_every_key_of_the_model_has_a_description() -> None:
    assert config_reference.undocumented() == []
    assert config_reference.unreferenced() == []


def test_a_key_without_a_description_is_reported() -> None:
    sections: list[tuple[str, type[BaseModel]]] = [("x", _Documented), ("y", _Undocumented)]
    assert config_reference.undocumented(sections) == ["y: shiny"]


def test_a_key_added_to_the_model_makes_the_readme_out_of_date(monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text()
    sections = [(t, _HostWithNewKey if m is HostConfig else m) for t, m in config_reference.SECTIONS]
    monkeypatch.setattr(config_reference, "SECTIONS", sections)
    assert "| `turbo` | boolean | `false` | Go faster. |" in config_reference.render()
    assert config_reference.problems(readme) == [
        "README.md's configuration reference is out of date: run `make docs`"
    ]


def test_a_model_without_its_section_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    sections = [s for s in config_reference.SECTIONS if s[1] is not HostConfig]
    assert config_reference.unreferenced(sections) == ["StackConfig.hosts -> HostConfig"]


def test_check_and_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{config_reference.BEGIN}\nstale\n{config_reference.END}\n\n## after\n")
    monkeypatch.setattr(config_reference, "README", readme)
    assert config_reference.main(["--check"]) == 1
    assert "out of date: run `make docs`" in capsys.readouterr().err
    assert config_reference.main(["--write"]) == 0
    assert config_reference.main(["--check"]) == 0
    text = readme.read_text()
    assert text.startswith("# x\n\n") and text.endswith("\n\n## after\n")
    assert "| `readinessTimeoutMinutes` | integer (>= 1, <= 240) | `30` |" in text


def test_check_without_markers_says_where_the_block_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no block\n")
    monkeypatch.setattr(config_reference, "README", readme)
    assert config_reference.main(["--check"]) == 1
    assert "README.md has no generated block" in capsys.readouterr().err
