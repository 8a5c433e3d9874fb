"""The packages a program's Python holds, and the resource plugins they ask for, found as upstream finds them.

Upstream: `ListPackages` (pip.go:170-200: `python -m pip list --format json`, `--not-required` unless
transitive, names normalized per PEP 503), `readAllPulumiPluginJSONPaths` (main.go:557-598: one small
script finds each package's `pulumi-plugin.json` beside its module), `listPulumiPackageInfos`
(main.go:608-650) and `packageDependencyFromPluginJSON` (main.go:658-727). A package counts when it
ships a `pulumi-plugin.json` or is named `pulumi-*`, except `pulumi-policy` and `pulumi-esc-sdk`; a
JSON without `"resource": true` means no plugin; name, version and server come from the JSON, else
from the package (name minus `pulumi-`, its PEP 440 version as semver). Here that yields `command
v1.2.1` and `tailscale v0.29.2`.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from dataclasses import dataclass, field

from plugins.language_python.gostyle import exit_error, start_error
from plugins.language_python.python_env import PythonEnv

PACKAGES_WITHOUT_PLUGINS = {"pulumi-policy", "pulumi-esc-sdk"}
"""`packagesWithoutPlugins` (main.go:549)."""

PLUGIN_JSON_PATHS_SCRIPT = (
    "import importlib.metadata, importlib.util, os, sys, json\n"
    "result = {}\n"
    "for pkg_name in sys.argv[1:]:\n"
    "\ttry:\n"
    "\t\tdist = importlib.metadata.distribution(pkg_name)\n"
    "\t\tmodule = dist.metadata['Name'].replace('-', '_')\n"
    "\t\tspec = importlib.util.find_spec(module)\n"
    "\t\tlocs = list(spec.submodule_search_locations or []) if spec else []\n"
    "\t\tfound = [p for l in locs for p in [os.path.join(str(l), 'pulumi-plugin.json')] if os.path.isfile(p)]\n"
    "\t\tresult[pkg_name] = found[0] if found else ''\n"
    "\texcept Exception:\n"
    "\t\tresult[pkg_name] = ''\n"
    "print(json.dumps(result))"
)
"""`pulumiPluginJSONPathsScript` (main.go:557-569), verbatim."""


class PackagesError(Exception):
    """Listing or reading the packages failed; the message is upstream's."""


@dataclass(frozen=True)
class Parameterization:
    """`PackageParameterization` from the JSON's `parameterization` / `extensionParameterization`."""

    name: str
    version: str
    value: bytes


@dataclass(frozen=True)
class Package:
    """One resource plugin the program needs (`PackageDependency`)."""

    name: str
    version: str
    server: str = ""
    kind: str = "resource"
    parameterization: Parameterization | None = None
    extension: Parameterization | None = field(default=None)


def normalize(name: str) -> str:
    """`normalizePythonPackageName` (toolchain.go:370): PEP 503."""
    return re.sub(r"[-_.]+", "-", name.lower())


def list_packages(env: PythonEnv, transitive: bool) -> list[tuple[str, str]]:
    """`ListPackages` (pip.go:170-200): `(name, version)` as pip lists them, names normalized."""
    argv = env.command("-m", "pip", "list", "--format", "json", *([] if transitive else ["--not-required"]))
    try:
        proc = subprocess.run(argv, env=env.command_env(), capture_output=True, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise PackagesError(f"calling `{' '.join(argv)}`: {start_error(argv[0], exc)}") from exc
    if proc.returncode != 0:
        raise PackagesError(f"calling `{' '.join(argv)}`: {exit_error(proc.returncode)}")
    try:
        raw = json.JSONDecoder().raw_decode(proc.stdout.decode().lstrip())[0]
        return [(normalize(str(item["name"])), str(item["version"])) for item in raw]
    except (ValueError, TypeError, KeyError) as exc:
        raise PackagesError(f"parsing `python {' '.join(argv)}` output: {exc}") from exc


def plugin_json_paths(env: PythonEnv, names: list[str]) -> dict[str, str]:
    """`readAllPulumiPluginJSONPaths` (main.go:571-598): a script failure means no paths at all."""
    if not names:
        return {}
    try:
        proc = subprocess.run(
            env.command("-c", PLUGIN_JSON_PATHS_SCRIPT, *names),
            env=env.command_env(), capture_output=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, ValueError):
        return {}
    if proc.returncode != 0:
        return {}
    try:
        paths = json.loads(proc.stdout)
    except ValueError as exc:
        raise PackagesError(f"failed to parse pulumi-plugin.json paths: {exc}") from exc
    return {str(key): str(value) for key, value in paths.items()}


def package_infos(env: PythonEnv) -> list[tuple[str, str, dict[str, object] | None]]:
    """`listPulumiPackageInfos` (main.go:608-650): Pulumi packages, each with its parsed JSON if any."""
    packages = list_packages(env, transitive=True)
    paths = plugin_json_paths(env, [name for name, _ in packages])
    result = []
    for name, version in packages:
        if name in PACKAGES_WITHOUT_PLUGINS:
            continue
        plugin = _read_plugin_json(name, paths.get(name, ""))
        if plugin is None and not name.startswith("pulumi-"):
            continue
        result.append((name, version, plugin))
    return result


def _read_plugin_json(package: str, path: str) -> dict[str, object] | None:
    """The JSON at `path`; unreadable is none (upstream logs it), unparsable an error."""
    if not path:
        return None
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError:
        return None
    try:
        parsed = json.loads(data)
        if not isinstance(parsed, dict):
            raise ValueError(
                f"json: cannot unmarshal {type(parsed).__name__} into Go value of type plugin.PulumiPluginJSON"
            )
        if not isinstance(parsed.get("resource", False), bool):
            raise ValueError(
                "json: cannot unmarshal into Go struct field PulumiPluginJSON.resource of type bool"
            )
    except ValueError as exc:
        raise PackagesError(f"failed to parse pulumi-plugin.json for {package}: {exc}") from exc
    return parsed


def required_packages(env: PythonEnv) -> list[Package]:
    """What `GetRequiredPackages` answers, in pip's order."""
    found = (package_dependency(name, version, plugin) for name, version, plugin in package_infos(env))
    return [package for package in found if package is not None]


def package_dependency(name: str, version: str, plugin: dict[str, object] | None) -> Package | None:
    """`packageDependencyFromPluginJSON` (main.go:658-727)."""
    info = plugin or {}
    if plugin is not None and plugin.get("resource") is not True:
        return None
    plugin_name = str(info.get("name") or "") or name.removeprefix("pulumi-")
    plugin_version = str(info.get("version") or "")
    if not plugin_version:
        converted = determine_plugin_version(version)
        if converted is None:
            return None
        plugin_version = converted
    if not plugin_version.startswith("v"):
        plugin_version = "v" + plugin_version
    return Package(
        name=plugin_name,
        version=plugin_version,
        server=str(info.get("server") or ""),
        parameterization=_parameterization(info.get("parameterization")),
        extension=_parameterization(info.get("extensionParameterization")),
    )


def _parameterization(value: object) -> Parameterization | None:
    """`PulumiParameterizationJSON`: `value` is base64, as Go encodes a `[]byte`."""
    if not isinstance(value, dict):
        return None
    raw = value.get("value")
    return Parameterization(
        name=str(value.get("name") or ""),
        version=str(value.get("version") or ""),
        value=base64.b64decode(raw) if isinstance(raw, str) else b"",
    )


_PRE_RELEASES = (("rc", "-rc."), ("a", "-alpha."), ("b", "-beta."))


def determine_plugin_version(package_version: str) -> str | None:
    """`determinePluginVersion` (main.go:751-847): a PEP 440 version as semver, None if it cannot be."""
    if not package_version or not package_version.isascii():
        return None
    if re.match(r"^\d+!", package_version):
        return None  # epochs are not supported
    match = re.match(r"^(\d+(?:\.\d+)*)(\.?)", package_version)
    segments = match.group(1).split(".") if match else []
    rest = package_version[match.end(1) :] if match else package_version
    segments += ["0"] * (3 - len(segments))
    if not rest:
        return ".".join(segments)
    pre_release = ""
    for prefix, label in _PRE_RELEASES:
        if rest.startswith(prefix):
            number, rest = _number(rest[len(prefix) :])
            pre_release = label + number
            break
    post_release = ""
    if rest.startswith(".post"):
        number, rest = _number(rest[5:])
        post_release = "+post" + number
    development = ""
    if rest.startswith(".dev"):
        number, rest = _number(rest[4:])
        development = ("" if post_release else "+") + "dev" + number
    if rest:
        return None
    return ".".join(segments) + pre_release + post_release + development


def _number(text: str) -> tuple[str, str]:
    """`parseNumber`: the leading digits and the rest."""
    digits = re.match(r"^\d*", text)
    assert digits is not None
    return digits.group(0), text[digits.end() :]
