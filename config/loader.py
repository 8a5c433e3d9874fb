"""Reads the `sovereign-ai:*` stack config once, validates it, and keeps secrets as secrets.

The one reader of the stack's config. `namespace_values` turns the engine's values (full keys, objects
as JSON text) into the model's input; the program (`load_stack_config`), the policy pack
(`policies.common.stack_context`) and the Aperture dynamic provider (its Configure request) all go
through it. The program's load runs before any resource is registered, so a bad value stops
`pulumi preview` with a list of every problem and no change made.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pulumi
from pulumi.runtime import config as runtime_config

from config.fields import NAMESPACE, SECRET_KEYS
from config.model import ConfigError, StackConfig, parse_config

OBJECT_KEYS = ("tailnet", "hosts", "gateway")
PLAIN_KEYS = ("environment", "sshPrivateKeyPath")
FILE_PREFIX = "file:"
"""`hosts[].hostKey: file:<path>` reads the pinned key from a file (relative to the project)."""


@dataclass(frozen=True)
class StackSecrets:
    """Secret settings as Pulumi secret Outputs; their values never pass through Python code."""

    ssh_private_key: pulumi.Output[str]
    huggingface_token: pulumi.Output[str] | None
    vllm_api_key: pulumi.Output[str] | None
    gateway_api_key: pulumi.Output[str] | None


def stack_values() -> dict[str, Any]:
    """Every config value of the running stack, by full key (`sovereign-ai:tailnet`, ...).

    The program and the policy pack both get the stack's config from the engine this way: set
    explicitly in the runtime, or through `PULUMI_CONFIG`.
    """
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env() or {})
    return {key: runtime_config.get_config(key) for key in sorted(keys)}


class ConfigSource(Protocol):
    """Full key -> value, as the engine passes config: a dict, or a dynamic provider's `Config`."""

    def get(self, key: str) -> Any: ...


def namespace_values(values: ConfigSource) -> tuple[dict[str, object], list[str]]:
    """The `sovereign-ai:*` settings (not the secrets) by short key, objects decoded; and the problems.

    `values` gives full keys' values as the engine passes them: an object setting (`tailnet`,
    `hosts`, `gateway`) as JSON text or already decoded. One that is not valid JSON is a problem
    naming its key.
    """
    raw: dict[str, object] = {}
    problems: list[str] = []
    for key in PLAIN_KEYS:
        value = values.get(f"{NAMESPACE}:{key}")
        if value is not None:
            raw[key] = value
    for key in OBJECT_KEYS:
        value = values.get(f"{NAMESPACE}:{key}")
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                problems.append(f"{NAMESPACE}:{key}: is not a YAML object or list ({exc})")
                continue
        if value is not None:
            raw[key] = value
    return raw, problems


def load_stack_config() -> tuple[StackConfig, StackSecrets]:
    """Validate the namespace; raise ConfigError (one line per bad key) before any resource exists."""
    config = pulumi.Config(NAMESPACE)
    raw, problems = namespace_values(stack_values())
    problems += _unknown_keys()
    problems += _placeholders(raw)
    problems += _read_host_key_files(raw)
    key_path = raw.pop("sshPrivateKeyPath", None)
    present = {field: _raw_secret(key) is not None for key, field in SECRET_KEYS.items()}
    if key_path is not None and present["ssh_private_key"]:
        problems.append(f"{NAMESPACE}:sshPrivateKeyPath: set together with sshPrivateKey: keep one of them")
    elif key_path is not None and not Path(str(key_path)).is_file():
        problems.append(
            f"{NAMESPACE}:sshPrivateKeyPath: {key_path} is not a file: point it at your deploy key "
            "(for the sandbox, run `make sandbox-up` first)"
        )
    raw["secrets"] = {
        "sshPrivateKey": present["ssh_private_key"] or key_path is not None,
        "huggingfaceToken": present["huggingface_token"],
        "vllmApiKey": present["vllm_api_key"],
        "gatewayApiKeyEmpty": _raw_secret("gatewayApiKey") == "",
    }
    try:
        stack = parse_config(raw)
    except ConfigError as exc:
        raise ConfigError(problems + exc.problems) from None
    if problems:
        raise ConfigError(problems)
    private_key = (
        pulumi.Output.secret(Path(str(key_path)).read_text())
        if key_path is not None
        else config.require_secret("sshPrivateKey")
    )
    secrets = StackSecrets(
        ssh_private_key=private_key,
        huggingface_token=config.get_secret("huggingfaceToken"),
        vllm_api_key=config.get_secret("vllmApiKey"),
        gateway_api_key=config.get_secret("gatewayApiKey"),
    )
    return stack, secrets


PLACEHOLDER = re.compile(r"^<[^<>]+>$")
"""A value still as Pulumi.dev.yaml ships it, e.g. `<you@example.com>`."""


def _placeholders(value: object, path: str = NAMESPACE) -> list[str]:
    """One problem per value that is still an example placeholder (`<...>`), naming its key."""
    if isinstance(value, str):
        if PLACEHOLDER.match(value.strip()):
            return [
                f"{path}: is still the placeholder {value.strip()}: replace it with your own value (README.md#configuration)"
            ]
        return []
    if isinstance(value, dict):
        sep = ":" if path == NAMESPACE else "."
        found = []
        for key, item in value.items():
            found += (
                _placeholders(key, f"{path}{sep}{key} (a key)")
                if isinstance(key, str) and PLACEHOLDER.match(key)
                else []
            )
            found += _placeholders(item, f"{path}{sep}{key}")
        return found
    if isinstance(value, list):
        return [
            problem for index, item in enumerate(value) for problem in _placeholders(item, f"{path}[{index}]")
        ]
    return []


def _read_host_key_files(raw: dict[str, object]) -> list[str]:
    """Replace `hostKey: file:<path>` with the key the file holds (first line, `type base64`)."""
    problems = []
    hosts = raw.get("hosts")
    if not isinstance(hosts, list):
        return []
    for index, host in enumerate(hosts):
        value = host.get("hostKey") if isinstance(host, dict) else None
        if not isinstance(value, str) or not value.startswith(FILE_PREFIX):
            continue
        path = Path(value[len(FILE_PREFIX) :])
        try:
            fields = path.read_text().split()
        except OSError as exc:
            problems.append(
                f"{NAMESPACE}:hosts[{index}].hostKey: cannot read {path} ({exc.strerror}); "
                "for the sandbox, run `make sandbox-up` first"
            )
            continue
        if len(fields) < 2:
            problems.append(f"{NAMESPACE}:hosts[{index}].hostKey: {path} holds no `type base64` key")
            continue
        host["hostKey"] = f"{fields[0]} {fields[1]}"
    return problems


def _raw_secret(key: str) -> str | None:
    """The decrypted value, only to test presence and emptiness; never logged or returned."""
    value = runtime_config.get_config(f"{NAMESPACE}:{key}")
    return None if value is None else str(value)


def _unknown_keys() -> list[str]:
    known = set(OBJECT_KEYS) | set(PLAIN_KEYS) | set(SECRET_KEYS)
    problems = []
    for full_key in stack_values():
        namespace, _, key = full_key.partition(":")
        if namespace == NAMESPACE and key not in known:
            problems.append(
                f"{full_key}: is not a known setting (known: {', '.join(sorted(known))}); "
                "check the spelling against README.md#configuration"
            )
    return problems
