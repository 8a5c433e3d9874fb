"""The layers of docs/architecture.md §2, read from the imports: who may import which project package.

Each rule is checked on every `.py` file of the package, with the imports found by `ast` (function
level imports included), so a new file or a lazy import cannot slip past.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("components", "config", "tailnet_policy", "hujson", "policies", "plugins", "sandbox", "scripts")
PROJECT = (*PRODUCT, "testing", "tests", "bench")
PURE_FORBIDDEN = ("pulumi", "pulumi_policy", "pulumi_tailscale", "pulumi_command")

ALLOWED: dict[str, set[str]] = {
    "hujson": {"hujson"},
    "tailnet_policy": {"tailnet_policy", "hujson"},
    "config": {"config", "tailnet_policy", "hujson"},
    "components": {"components", "config", "tailnet_policy", "hujson"},
    "policies": {"policies", "config", "tailnet_policy", "hujson"},
    "plugins": {"plugins", "hujson"},
    "sandbox": {"sandbox", "tailnet_policy", "hujson"},
    "scripts": {"config"},
    "testing": {"testing", "config", "tailnet_policy", "hujson", "sandbox", "policies"},
    "bench": {"bench", "testing", "components", "config", "tailnet_policy", "hujson", "sandbox", "policies"},
}
"""Project packages each package may import (its own included). Nothing but the program, its
tests and the benchmarks imports `components`; the plugins import only `plugins` and `hujson`."""

PURE = ("hujson", "tailnet_policy")
"""Packages that import no Pulumi at all (the config model is pure too, but its loader reads
`pulumi.Config`)."""


def imports(path: Path) -> set[str]:
    """The top-level names of every module `path` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def sources(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "venv" not in p.parts)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_the_layers_below_it(package: str) -> None:
    wrong = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sources(package)
        for name in imports(path) & set(PROJECT)
        if name not in ALLOWED[package]
    }
    assert not wrong, "\n".join(sorted(wrong))


@pytest.mark.parametrize("package", PURE)
def test_pure_packages_import_no_pulumi(package: str) -> None:
    wrong = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sources(package)
        for name in imports(path) & set(PURE_FORBIDDEN)
    }
    assert not wrong, "\n".join(sorted(wrong))


def test_config_model_and_plan_import_no_pulumi() -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports pulumi"
        for path in sources("config")
        if path.name != "loader.py" and imports(path) & set(PURE_FORBIDDEN)
    ]
    assert not wrong, "\n".join(wrong)


def test_the_program_imports_only_the_program_packages() -> None:
    found = imports(ROOT / "__main__.py") & set(PROJECT)
    assert found <= {"components", "config", "tailnet_policy", "hujson"}, found


def test_the_layer_rules_fail_on_a_forbidden_import(tmp_path: Path) -> None:
    """The checker itself: a plugin module importing the program is reported."""
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from components.host import InferenceHost\n    import config.model\n")
    assert imports(module) == {"components", "config"}
