"""Figure 3's bare stack: the deployed sandbox stack's state without its component layer.

The real stack is exported (`pulumi stack export --show-secrets`), every component resource is
dropped, every URN loses its parent types and is moved to stack `bare`, and the result is imported
into a new stack of `bench/bare/`, a program that registers the same resources raw (`resources.json`,
written here from the same export). A preview of it is then the real program's no-op preview minus
the components, the config model and the validation.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bench.measure import timed
from testing.engine import PROGRAM_PACKAGES

BARE = Path(__file__).resolve().parent / "bare"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
STACK = "bare"


def flat_urn(urn: str, stack: str = STACK) -> str:
    """`urn:pulumi:S::P::A$B$T::name` -> `urn:pulumi:<stack>::P::T::name`."""
    head, _, name = urn.rpartition("::")
    prefix, _, types = head.rpartition("::")
    _, _, project = prefix.rpartition("::")
    return f"urn:pulumi:{stack}::{project}::{types.split('$')[-1]}::{name}"


def _flat_ref(ref: str) -> str:
    urn, _, id_ = ref.rpartition("::")
    return f"{flat_urn(urn)}::{id_}"


def _plain_secrets(value: Any) -> Any:
    """Secret envelopes of an export as `{"secret": value}` (what `bare/__main__.py` revives)."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270" and "plaintext" in value:
            # A secret may hold secrets (pulumi-command's `connection` keeps its `privateKey` one).
            return {"secret": _plain_secrets(json.loads(value["plaintext"]))}
        return {k: _plain_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_secrets(v) for v in value]
    return value


def flatten(export: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the export for stack `bare`, the `resources.json` of the bare program)."""
    resources = export["deployment"]["resources"]
    kept = [r for r in resources if r.get("custom") or r["type"] == "pulumi:pulumi:Stack"]
    custom = {r["urn"] for r in kept}
    names = {r["urn"]: r["urn"].rpartition("::")[2] for r in kept}
    stack_urn = ""
    flat = []
    spec: list[dict[str, Any]] = []
    outputs: dict[str, Any] = {}
    for resource in kept:
        r = dict(resource)
        r["urn"] = flat_urn(r["urn"])
        if r["type"] == "pulumi:pulumi:Stack":
            stack_urn = r["urn"] = r["urn"].rpartition("::")[0] + f"::sovereign-ai-{STACK}"
            outputs = _plain_secrets(r.get("outputs") or {})
        if r.get("provider"):
            r["provider"] = _flat_ref(r["provider"])
        deps = [d for d in r.get("dependencies") or [] if d in custom]
        r["dependencies"] = [flat_urn(d) for d in deps]
        r["propertyDependencies"] = {
            k: [flat_urn(d) for d in v if d in custom]
            for k, v in (r.get("propertyDependencies") or {}).items()
        }
        r.pop("sourcePosition", None)
        r.pop("aliases", None)
        flat.append(r)
        if r.get("custom") and not r["type"].startswith("pulumi:providers:"):
            ref = resource.get("provider") or ""
            spec.append(
                {
                    "type": r["type"],
                    "name": names[resource["urn"]],
                    "inputs": _plain_secrets(r.get("inputs") or {}),
                    "dependsOn": [names[d] for d in deps],
                    "version": _version(ref.split("::")[-2]) if ref.count("::") >= 2 else None,
                    "additionalSecretOutputs": r.get("additionalSecretOutputs"),
                    "ignoreChanges": r.get("ignoreChanges"),
                    "deleteBeforeReplace": r.get("deleteBeforeReplace"),
                }
            )
    for r in flat:
        if r.get("parent"):
            r["parent"] = stack_urn
    document = json.loads(json.dumps(export))
    document["deployment"]["resources"] = flat
    return document, {"resources": spec, "outputs": outputs}


def _version(default_name: str) -> str | None:
    """`default_0_29_2` -> `0.29.2`; `default` (the dynamic provider) -> None."""
    parts = default_name.split("_")[1:]
    return ".".join(parts) if parts else None


def build(stack: Any, where: Path) -> Path:
    """The bare project next to `stack`'s project, its stack imported; returns its directory."""
    exported = stack.pulumi("stack", "export", "--show-secrets")
    assert exported.returncode == 0, exported.stderr
    document, spec = flatten(json.loads(exported.stdout))
    where.mkdir(parents=True, exist_ok=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(BARE / name, where / name)
    (where / "venv").symlink_to(stack.project / "venv")
    # The dynamic providers are pickled by reference (`components.gateway.aperture_config...`): the
    # provider process imports them, and what they import, from its working directory. The bare
    # program itself never imports them.
    for package in PROGRAM_PACKAGES:
        (where / package).symlink_to(stack.project / package)
    shutil.copy(stack.project / "Pulumi.sandbox.yaml", where / f"Pulumi.{STACK}.yaml")
    (where / "resources.json").write_text(json.dumps(spec, indent=1))
    (where / "state.json").write_text(json.dumps(document))
    for args in (["stack", "init", STACK], ["stack", "import", "--file", "state.json", "--stack", STACK]):
        result = bare_pulumi(stack, where, *args)
        assert result.returncode == 0, result.stdout + result.stderr
    return where


def bare_pulumi(stack: Any, where: Path, *args: str) -> Any:
    """`pulumi <args>` in the bare project with the sandbox stack's environment."""
    import subprocess

    return subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=where, env=stack.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def preview_seconds(stack: Any, where: Path) -> float:
    """Wall time of one no-op `pulumi preview` of the bare stack (asserting it plans no change)."""
    holder: list[Any] = []
    seconds = timed(lambda: holder.append(bare_pulumi(stack, where, "preview", "--stack", STACK)))
    result = holder[0]
    assert result.returncode == 0 and "unchanged" in result.stdout, result.stdout + result.stderr
    return seconds
