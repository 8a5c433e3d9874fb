"""What the rule modules share: resource types, the stack's environment and config, message wording,
and preview-unknown handling.

The stack's config reaches a policy pack through `PULUMI_CONFIG` (the engine passes it, decrypted,
to the analyzer process; `pulumi.Config` reads it). Without it (`pulumi policy publish`, unit tests
without config) every policy takes the safe reading: production rules apply, the tailnet values
are the config model's defaults, and each message says so.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from pulumi.runtime import config as runtime_config
from pulumi_policy import ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from config.fields import DEFAULT_PORT, DEFAULT_TAILNET_RANGE, NAMESPACE, SECRET_KEYS
from config.model import ConfigError, StackConfig, TailnetConfig, parse_config
from config.plan import PolicyPlan

ACL = "tailscale:index/acl:Acl"
TAILNET_KEY = "tailscale:index/tailnetKey:TailnetKey"
REMOTE_COMMAND = "command:remote:Command"
APERTURE_CONFIG = "pulumi-python:dynamic/aperture:Config"
APERTURE_CAP = "tailscale.com/cap/aperture"
"""The application capability Aperture reads, in its own config and in policy-file grants."""

LABELS = {
    ACL: "tailnet policy",
    TAILNET_KEY: "auth key",
    REMOTE_COMMAND: "remote command",
    APERTURE_CONFIG: "Aperture config",
}
"""How messages name each resource type, followed by the resource name."""

CONFIG_KEYS = ("environment", "tailnet", "hosts", "gateway")
"""The `sovereign-ai:*` keys the guardrails read (secrets are not among them)."""

SECRET_CONFIG_KEYS = (
    *(f"{NAMESPACE}:{key}" for key in SECRET_KEYS),
    "tailscale:apiKey",
    "tailscale:oauthClientSecret",
)
"""Secret config keys (as in `config.loader.SECRET_KEYS`, plus the Tailscale provider's)
whose values must never appear in a command line; only compared, never printed."""

PRODUCTION = "production"
DEVELOPMENT = "development"

DEFAULT_GPU_TAG: str = TailnetConfig.model_fields["gpu_tag"].default
DEFAULT_GATEWAY_TAG: str = TailnetConfig.model_fields["gateway_tag"].default


@dataclass(frozen=True)
class StackContext:
    """The facts about the stack that every rule needs: its environment and the tailnet plan."""

    production: bool
    """True unless `sovereign-ai:environment` is exactly `development` (the safe reading)."""

    plan: PolicyPlan
    """GPU tag, gateway selector, model ports, admins and groups: from the config, else defaults."""

    network: ipaddress.IPv4Network
    """The tailnet's address range."""

    config: StackConfig | None
    """The validated config, or None when it is missing or invalid."""

    environment_note: str | None = None
    """Why production was assumed, when `sovereign-ai:environment` did not say."""

    config_note: str | None = None
    """Which defaults were checked, when the tailnet config was missing or invalid."""

    @property
    def environment(self) -> str:
        return PRODUCTION if self.production else DEVELOPMENT

    def note(self, uses_config: bool = False) -> str:
        """` (note: ...)` saying what was assumed for this message, else empty."""
        notes = [self.environment_note, self.config_note if uses_config else None]
        present = [n for n in notes if n]
        return f" (note: {'; '.join(present)})" if present else ""

    @property
    def admin_logins(self) -> frozenset[str]:
        """Logins behind the configured admins (groups expanded with the configured groups)."""
        return frozenset(self.plan.logins(self.plan.admins, self.plan.groups))


def default_plan() -> PolicyPlan:
    """The plan the config model's defaults describe, with no admins and no model users."""
    return PolicyPlan(
        gpu_tag=DEFAULT_GPU_TAG,
        gateway=DEFAULT_GATEWAY_TAG,
        gateway_address=None,
        admins=(),
        model_users=(),
        groups=MappingProxyType({}),
        model_ports=(DEFAULT_PORT,),
    )


def stack_context() -> StackContext:
    """The current stack's context, read from `sovereign-ai:*` config (cached per config text)."""
    raw = tuple((key, _raw(f"{NAMESPACE}:{key}")) for key in CONFIG_KEYS)
    return _context_for(raw)


def _raw(full_key: str) -> str | None:
    value = runtime_config.get_config(full_key)
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


@lru_cache(maxsize=16)
def _context_for(raw: tuple[tuple[str, str | None], ...]) -> StackContext:
    values = dict(raw)
    environment_note: str | None = None
    config_note: str | None = None
    environment = values.get("environment")
    if environment == DEVELOPMENT:
        production = False
    elif environment == PRODUCTION:
        production = True
    else:
        production = True
        if environment is None:
            environment_note = f"{NAMESPACE}:environment is not set, so production rules apply"
        else:
            environment_note = (
                f"{NAMESPACE}:environment is {environment!r}, not development or production, "
                "so production rules apply"
            )
    # Read without the environment: the pack decides production itself, and the tailnet facts do
    # not depend on the program's production-only cross-checks (pinned host keys, ...).
    model: dict[str, Any] = {"secrets": {"sshPrivateKey": True}}
    for key in ("tailnet", "hosts", "gateway"):
        text = values.get(key)
        if text is None:
            continue
        try:
            model[key] = json.loads(text)
        except ValueError:
            model[key] = text  # parse_config reports it as the wrong type
    config: StackConfig | None
    try:
        config = parse_config(model)
    except ConfigError:
        config = None
    if config is None:
        plan = default_plan()
        network = ipaddress.IPv4Network(DEFAULT_TAILNET_RANGE)
        config_note = (
            f"{NAMESPACE}:tailnet and {NAMESPACE}:hosts are missing or invalid, so the defaults "
            f"were checked: GPU tag {plan.gpu_tag}, gateway {plan.gateway}, model port "
            f"{DEFAULT_PORT}, no admins"
        )
    else:
        plan = PolicyPlan.from_config(config)
        network = config.tailnet.network
    return StackContext(production, plan, network, config, environment_note, config_note)


def is_preview() -> bool:
    """True during `pulumi preview` (and the preview phase of `pulumi up`)."""
    return os.environ.get("PULUMI_DRY_RUN", "").lower() == "true"


def secret_config_values() -> list[tuple[str, str]]:
    """(key, value) of each secret config value long enough to recognise; for comparison only."""
    found = []
    for key in SECRET_CONFIG_KEYS:
        value = runtime_config.get_config(key)
        if isinstance(value, str) and len(value.strip()) >= 8:
            found.append((key, value.strip()))
    return found


# -- messages ------------------------------------------------------------------------------------


def subject(resource_type: str, name: str) -> str:
    """`auth key "spark-key"`: how a message names a resource."""
    return f'{LABELS.get(resource_type, resource_type)} "{name}"'


def message(who: str, where: str | None, text: str, context: StackContext, uses_config: bool = False) -> str:
    """`<who> <where>: <text><note>`; `text` says what is wrong and how to fix it.

    :param uses_config: the finding depends on the tailnet config (GPU tag, gateway, ports, admins,
        address range), so a note says when defaults stood in for it.
    """
    location = f"{who} {where}" if where else who
    return f"{location}: {text}{context.note(uses_config)}"


# -- values that are unknown during preview -------------------------------------------------------


class PreviewUnknownError(UnknownValueError):
    """An unknown value, with the resource named and the promise of a later check.

    pulumi-policy reports any `UnknownValueError` as an advisory "can't run policy ... during
    preview: <message>", whatever the policy's level, so a preview never fails on a value that
    only `pulumi up` will know.
    """

    def __init__(self, original: UnknownValueError, who: str) -> None:
        super().__init__(original.unknown_type_sentinel, original.props)
        self.message = (
            f"{original.message}; {who} is checked again during `pulumi up`, once the value is known"
        )


class UnknownTracker:
    """Lets a validator check every known item and report the unknown ones once, at the end.

    Use `with tracker.item():` around each independent check and call `finish()` last: violations
    already reported stay reported, and the first unknown value becomes one advisory.
    """

    def __init__(self, who: str) -> None:
        self.who = who
        self.first: UnknownValueError | None = None

    @contextmanager
    def item(self) -> Iterator[None]:
        try:
            yield
        except UnknownValueError as exc:
            if self.first is None:
                self.first = exc

    def finish(self) -> None:
        """Raise the first unknown value met, if any, as one `PreviewUnknownError`."""
        if isinstance(self.first, PreviewUnknownError):
            raise self.first
        if self.first is not None:
            raise PreviewUnknownError(self.first, self.who) from None


@contextmanager
def explained_unknowns(who: str) -> Iterator[None]:
    """Re-raise an unknown value with the resource named (see `PreviewUnknownError`)."""
    try:
        yield
    except PreviewUnknownError:
        raise
    except UnknownValueError as exc:
        raise PreviewUnknownError(exc, who) from None


# -- reading props (plain values or pulumi-policy's proxies) ----------------------------------


def is_list(value: Any) -> bool:
    """A JSON array: a list or pulumi-policy's list proxy, not a string."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def is_object(value: Any) -> bool:
    """A JSON object: a dict or pulumi-policy's dict proxy."""
    return isinstance(value, Mapping)


def strings(value: Any) -> list[str]:
    """The string items of a JSON array (a lone string counts as one item)."""
    if isinstance(value, str):
        return [value]
    if is_list(value):
        return [item for item in value if isinstance(item, str)]
    return []


def production_only(args: ResourceValidationArgs | StackValidationArgs, context: StackContext) -> None:
    """Mark a production-only rule not applicable on a development stack (raises)."""
    if not context.production:
        args.not_applicable(
            f"{NAMESPACE}:environment is development; this rule applies to production stacks only"
        )
