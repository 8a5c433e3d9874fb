"""The resource plugins a program needs, found from the packages installed in its Python.

Upstream (`GetRequiredPackages` in github.com/pulumi/pulumi
`sdk/python/cmd/pulumi-language-python/main.go`) lists the installed distributions and keeps those
that ship a `pulumi-plugin.json` or are named `pulumi-*`, except `pulumi-policy`, `pulumi-esc-sdk`
and those whose JSON says `"resource": false`. Name, version and server come from the JSON, else
from the distribution (name minus `pulumi-`). Versions get a `v` prefix. Here that yields
`tailscale v0.29.2` and `command v1.2.1`.

Listing runs one small script in the program's interpreter (importlib.metadata), which finds the
same distributions as `pip list` in a fraction of its time.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass

from plugins.language_python.python_env import PythonEnv

EXCLUDED = {"pulumi-policy", "pulumi-esc-sdk"}

_LIST_SCRIPT = r"""
import importlib.metadata as md, json, sys
out = []
for dist in md.distributions():
    name = dist.metadata["Name"] or ""
    plugin = None
    for f in dist.files or []:
        if f.name == "pulumi-plugin.json":
            try:
                plugin = json.loads(f.read_text())
            except Exception:
                plugin = None
            break
    out.append({"name": name, "version": dist.version, "plugin": plugin})
json.dump(out, sys.stdout)
"""


@dataclass(frozen=True)
class Package:
    """One resource plugin the program needs."""

    name: str
    version: str
    server: str = ""
    kind: str = "resource"


def installed_distributions(env: PythonEnv, cwd: str) -> list[dict[str, object]]:
    """Every distribution in the interpreter, with its parsed `pulumi-plugin.json` if any."""
    proc = subprocess.run(
        [env.python, "-c", _LIST_SCRIPT],
        cwd=cwd or None,
        env=env.environ(dict(os.environ)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"listing the packages of {env.python} failed: {proc.stderr.strip()}")
    result: list[dict[str, object]] = json.loads(proc.stdout)
    return result


def required_packages(distributions: list[dict[str, object]]) -> list[Package]:
    """Upstream's selection rules over the installed distributions, sorted by name."""
    found: dict[str, Package] = {}
    for dist in distributions:
        name = str(dist["name"]).lower().replace("_", "-")
        plugin = dist.get("plugin")
        if name in EXCLUDED or not (isinstance(plugin, dict) or name.startswith("pulumi-")):
            continue
        if name == "pulumi":
            continue
        info: dict[str, object] = plugin if isinstance(plugin, dict) else {}
        if info.get("resource") is False:
            continue
        plugin_name = str(info.get("name") or name.removeprefix("pulumi-"))
        version = str(info.get("version") or dist["version"])
        found[plugin_name] = Package(
            name=plugin_name,
            version=version if version.startswith("v") else f"v{version}",
            server=str(info.get("server") or ""),
        )
    return [found[key] for key in sorted(found)]
