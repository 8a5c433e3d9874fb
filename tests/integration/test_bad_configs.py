"""The bad-input corpus through the real `pulumi preview`: each config fails before any resource call.

Each `tests/fixtures/bad_configs/<case>.yaml` breaks one rule of the config model (or of the stack
file itself) and says, under `expect`, what the error must contain: the key and the fix. A case is
applied to the sandbox stack's config (`host`/`second_host`/`tailnet`/`gateway` merge into those
objects, `top` sets whole keys, `remove` drops keys, `raw` replaces the stack file) and previewed
as a stack of its own, two sandboxes side by side, one case at a time each. No case may make a call:
no config error may be found after a Tailscale, Aperture or SSH call.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from testing.engine import FIXTURES
from testing.sandbox_stack import SandboxStack

pytestmark = pytest.mark.engine

CORPUS = FIXTURES / "bad_configs"
CASES = sorted(path.stem for path in CORPUS.glob("*.yaml"))


def case(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((CORPUS / f"{name}.yaml").read_text()))


def stack_file(base: dict[str, Any], spec: dict[str, Any]) -> str:
    """The text of `Pulumi.<case>.yaml`: the sandbox stack with the case's change."""
    if "raw" in spec:
        return str(spec["raw"])
    document = yaml.safe_load(yaml.safe_dump(base))
    config = document["config"]
    hosts = config["sovereign-ai:hosts"]
    for key, target in (("tailnet", config["sovereign-ai:tailnet"]), ("gateway", config["sovereign-ai:gateway"]),
                        ("host", hosts[0])):  # fmt: skip
        target.update(spec.get(key) or {})  # a null value is written as null: "not set"
    if "second_host" in spec:
        hosts.append({**hosts[0], "sshPort": hosts[0]["sshPort"], **spec["second_host"]})
    config.update(spec.get("top") or {})
    for key in spec.get("remove") or []:
        config.pop(key)
    return yaml.safe_dump(document, sort_keys=False)


def preview(stack: SandboxStack, name: str, text: str) -> subprocess.CompletedProcess[str]:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=stack.project, env=stack.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    created = run("stack", "init", name)
    assert created.returncode == 0, created.stderr
    (stack.project / f"Pulumi.{name}.yaml").write_text(text)
    return run("preview", "--stack", name)


Result = tuple[str, int, list[dict[str, Any]]]
"""A case's preview: its output, its exit status and the sandbox calls made while it ran."""


def preview_all(tmp: Path, names: list[str]) -> dict[str, Result]:
    """Preview `names` one after another against a sandbox of their own; attribute its calls."""
    stack = SandboxStack.start(tmp)
    try:
        shutil.copytree(CORPUS, stack.project / "bad_configs")
        base = yaml.safe_load((stack.project / "Pulumi.sandbox.yaml").read_text())
        results: dict[str, Result] = {}
        for name in names:
            stack.mark()
            result = preview(stack, name, stack_file(base, case(name)))
            results[name] = (result.stdout + result.stderr, result.returncode, stack.since_mark())
        return results
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def previews(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    """Every case previewed once, in two sandboxes side by side (one per core)."""
    halves = [CASES[0::2], CASES[1::2]]
    tmps = [tmp_path_factory.mktemp(f"bad-configs-{i}") for i in range(2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(preview_all, tmps, halves))
    return {name: result for part in parts for name, result in part.items()}


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30, CASES


@pytest.mark.parametrize("name", CASES)
def test_a_bad_config_fails_the_preview_naming_the_key_and_the_fix(
    previews: dict[str, Result], name: str
) -> None:
    output, status, calls = previews[name]
    assert status != 0, output
    assert calls == [], f"{name}: the preview reached the sandbox before failing: {calls}"
    for text in case(name)["expect"]:
        assert text in output, f"{name}: expected {text!r} in:\n{output}"
    assert "Traceback" not in output, f"{name}: a traceback instead of a message:\n{output}"
