"""The building blocks of the stack config: names, defaults, identity and URL checks, the model base.

Pure module (no Pulumi). `config.model` and `config.gateway` build the sections on these.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from enum import StrEnum
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from tailnet_policy.reachability import ROLE_AUTOGROUPS

NAMESPACE = "sovereign-ai"
"""The Pulumi config namespace (the project name)."""

DEFAULT_IMAGE = "vllm/vllm-openai:v0.28.0"
"""Pinned upstream vLLM image (its entrypoint is `vllm serve`); GB10 recipes pin this tag."""

DEFAULT_MODEL = "Qwen/Qwen3.6-35B-A3B-FP8"
DEFAULT_PORT = 8000
DEFAULT_GPU_MEMORY_UTILIZATION = 0.8
MAX_GPU_MEMORY_UTILIZATION = 0.95
"""Above this vLLM claims (nearly) all of GB10's unified memory and the host runs out of memory."""

SECRET_KEYS = {
    "sshPrivateKey": "ssh_private_key",
    "huggingfaceToken": "huggingface_token",
    "vllmApiKey": "vllm_api_key",
    "gatewayApiKey": "gateway_api_key",
}
"""Secret config keys of the namespace -> their field names; set with `pulumi config set --secret`."""

DEFAULT_MAX_MODEL_LEN = 131072
DEFAULT_TAILNET_RANGE = "100.64.0.0/10"
API_KEY_PLACEHOLDER = "sovereign-ai-no-key"
"""Aperture's route test refuses a provider without `apikey`; vLLM without `--api-key` ignores it."""

TAG_RE = re.compile(r"^tag:[A-Za-z][A-Za-z0-9-]*$")
LOGIN_RE = re.compile(r"^[^@\s:]+@[^@\s:]+$")
GROUP_RE = re.compile(r"^group:[A-Za-z0-9][A-Za-z0-9._-]*$")
SCIM_GROUP_RE = re.compile(r"^group:[^@\s:]+@[^@\s:]+$")
"""A group synchronized from an identity provider (SCIM), e.g. `group:sales@example.com`."""
AUTOGROUPS = frozenset(
    {*ROLE_AUTOGROUPS, "autogroup:member", "autogroup:tagged", "autogroup:shared", "autogroup:danger-all"}
)
"""Autogroups a user entry may name (role autogroups come from the evaluator, which resolves them)."""
HOSTNAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
RESOURCE_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
SHORT_DNS_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

# vLLM flags that have a field of their own, so that the program can check and reuse them.
OWNED_FLAGS = {
    "--host": "hosts[].bindAddress (the host's tailnet address is the default)",
    "--port": "hosts[].port",
    "--served-model-name": "hosts[].servedModelName",
    "--gpu-memory-utilization": "hosts[].gpuMemoryUtilization",
    "--max-model-len": "hosts[].maxModelLen",
    "--api-key": "the secret sovereign-ai:vllmApiKey (a flag would put it on the command line)",
    "--hf-token": "the secret sovereign-ai:huggingfaceToken (a flag would put it on the command line)",
    "--tensor-parallel-size": "hosts[].tensorParallel.size (one GPU per DGX Spark, so the size of the group)",
    "-tp": "hosts[].tensorParallel.size (one GPU per DGX Spark, so the size of the group)",
    "--distributed-executor-backend": "hosts[].tensorParallel (a group always runs over Ray)",
}

PIPELINE_PARALLEL_FLAGS = frozenset({"--pipeline-parallel-size", "-pp"})
"""vLLM flags for pipeline parallelism, which the stack does not support (one GPU per DGX Spark;
`hosts[].tensorParallel` spreads one model over several Sparks instead)."""

LINK_INTERFACE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
"""A Linux network interface name: at most 15 characters (IFNAMSIZ - 1), no `/`, `:` or spaces."""


class Environment(StrEnum):
    """Which guardrails apply: production is what the policy pack protects with mandatory rules."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ConfigModel(BaseModel):
    """Base of every config section: camelCase keys, unknown keys refused, frozen."""

    # use_attribute_docstrings: the docstring under each field is its description, the single source
    # of README.md's configuration reference (scripts/config_reference.py).
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )


def is_identity(entry: str) -> bool:
    """True for a login (`user@domain`), a `group:` or a known `autogroup:`."""
    return bool(LOGIN_RE.match(entry) or GROUP_RE.match(entry)) or entry in AUTOGROUPS


def check_identities(values: Sequence[str], what: str) -> Sequence[str]:
    for value in values:
        if not is_identity(value):
            raise ValueError(
                f"{value!r} is not a {what}: use a login such as alice@example.com, "
                "a group such as group:ai-users, or an autogroup such as autogroup:member"
            )
    return values


def check_tag(value: str) -> str:
    return must_match(
        TAG_RE,
        value,
        "is not a tag: tags look like tag:name, and the name starts with a letter (for example tag:gpu)",
    )


def must_match(pattern: re.Pattern[str], value: str, problem: str) -> str:
    """`value` when `pattern` matches it, else a ValueError: `'<value>' <problem>`."""
    if not pattern.match(value):
        raise ValueError(f"{value!r} {problem}")
    return value


def check_private_url(value: str, tailnet: ipaddress.IPv4Network, what: str) -> str:
    """An http(s) URL whose host is a tailnet address, a loopback address or a MagicDNS name."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// URL; {what} looks like http://ai")
    host = parts.hostname
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if SHORT_DNS_NAME_RE.match(host) or host.endswith(".ts.net"):
            return value
        raise ValueError(
            f"{value!r} points at {host}, a public DNS name: {what} must be a tailnet address "
            f"({tailnet}) or a MagicDNS name (a short name such as ai, or <name>.<tailnet>.ts.net)"
        ) from None
    if address.is_loopback or (address.version == 4 and address in tailnet):
        return value
    raise ValueError(
        f"{value!r} points at {address}, which is outside the tailnet range {tailnet}: "
        f"{what} must be a tailnet address or a MagicDNS name, never a public or LAN address"
    )
