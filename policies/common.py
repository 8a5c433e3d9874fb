"""What the rule modules share: resource types, the stack's environment and config, message wording,
preview-unknown handling, and the prelude of every validator (`resource_validator`, `stack_validator`).

The stack's config reaches a policy pack through `PULUMI_CONFIG` (the engine passes it, decrypted,
to the analyzer process; `pulumi.Config` reads it). Without it (`pulumi policy publish`, unit tests
without config) every policy takes the safe reading: production rules apply, the tailnet values
are the config model's defaults, and each message says so.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache, wraps
from types import MappingProxyType
from typing import Any, TypeVar

from pulumi.runtime import config as runtime_config
from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    StackValidation,
    StackValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError

from config.fields import DEFAULT_PORT, DEFAULT_TAILNET_RANGE, NAMESPACE, SECRET_KEYS
from config.loader import namespace_values
from config.model import ConfigError, StackConfig, TailnetConfig, parse_config
from config.plan import PolicyPlan
from tailnet_policy.policy_file import PolicyFile, parse

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
"""Secret config keys (as in `config.fields.SECRET_KEYS`, plus the Tailscale provider's)
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
    # The program's own reader (config.loader), so the pack sees the config exactly as the program does.
    values, problems = namespace_values({f"{NAMESPACE}:{key}": value for key, value in raw})
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
    model: dict[str, Any] = {key: values[key] for key in ("tailnet", "hosts", "gateway") if key in values}
    config: StackConfig | None = None
    if not problems:
        try:
            config = parse_config({**model, "secrets": {"sshPrivateKey": True}})
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


T = TypeVar("T")
K = TypeVar("K")


class UnknownTracker:
    """Lets a validator check every known item and report the unknown ones once, at the end.

    Use `with tracker.item():` around each independent check (or `collect`) and call `finish()`
    last: violations already reported stay reported, and the first unknown value becomes one advisory.
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

    def collect(self, keys: Iterable[K], read: Callable[[K], T | None]) -> list[T]:
        """`read(key)` for each key, leaving out None and each key whose read meets an unknown value."""
        found = []
        for key in keys:
            with self.item():
                value = read(key)
                if value is not None:
                    found.append(value)
        return found

    def finish(self) -> None:
        """Raise the first unknown value met, if any, as one `PreviewUnknownError`."""
        if isinstance(self.first, PreviewUnknownError):
            raise self.first
        if self.first is not None:
            raise PreviewUnknownError(self.first, self.who) from None


# -- reading props (plain values or pulumi-policy's proxies) ----------------------------------


def is_list(value: Any) -> bool:
    """A JSON array: a list or pulumi-policy's list proxy, not a string."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def is_object(value: Any) -> bool:
    """A JSON object: a dict or pulumi-policy's dict proxy."""
    return isinstance(value, Mapping)


def array_indexes(value: Any) -> range:
    """The indexes of a JSON array (none for anything else)."""
    return range(len(value) if is_list(value) else 0)


def object_keys(value: Any) -> list[Any]:
    """The keys of a JSON object (none for anything else)."""
    return list(value) if is_object(value) else []


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


# -- the validators' prelude ------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceCheck:
    """One resource a resource validator checks: its args, the stack context, and how to report."""

    args: ResourceValidationArgs
    context: StackContext
    who: str
    """How messages name the resource, e.g. `auth key "spark-key"`."""

    tracker: UnknownTracker
    """Its preview-unknown values; wrap independent checks in `tracker.item()` or `tracker.collect`."""

    report_violation: ReportViolation

    @property
    def props(self) -> Any:
        """The resource's props (behind pulumi-policy's unknown-checking proxy)."""
        return self.args.props

    def report(self, where: str | None, text: str, uses_config: bool = False) -> None:
        """Report `<who> <where>: <text><note>` (see `message`)."""
        self.report_violation(message(self.who, where, text, self.context, uses_config), None)


@dataclass(frozen=True)
class StackCheck:
    """The stack a stack validator checks: its resources, the stack context, and how to report."""

    args: StackValidationArgs
    context: StackContext
    tracker: UnknownTracker
    """The stack's preview-unknown values (named "the stack" in the advisory)."""

    report_violation: ReportViolation

    def of_type(self, resource_type: str) -> list[PolicyResource]:
        """The stack's resources of one type, in stack order."""
        return [r for r in self.args.resources if r.resource_type == resource_type]

    def report(
        self,
        about: PolicyResource,
        where: str | None,
        text: str,
        uses_config: bool = False,
        urn: str | None = None,
    ) -> None:
        """Report `<about> <where>: <text><note>` against `urn` (default: `about`'s)."""
        who = subject(about.resource_type, about.name)
        self.report_violation(message(who, where, text, self.context, uses_config), urn or about.urn)

    @contextmanager
    def resource(self, resource: PolicyResource) -> Iterator[UnknownTracker]:
        """Check one resource: an unknown value ends its check and is reported in its name, at the end."""
        tracker = UnknownTracker(subject(resource.resource_type, resource.name))
        with tracker.item():
            yield tracker
        with self.tracker.item():
            tracker.finish()


@contextmanager
def _checking(
    args: ResourceValidationArgs | StackValidationArgs, production: bool, who: str
) -> Iterator[tuple[StackContext, UnknownTracker]]:
    """What every validator does around its check: read the stack context, stop on a development
    stack if `production`, and report the first preview-unknown value (in `who`'s name) last."""
    context = stack_context()
    if production:
        production_only(args, context)
    tracker = UnknownTracker(who)
    with tracker.item():
        yield context, tracker
    tracker.finish()


def resource_validator(
    resource_type: str, production: bool = False
) -> Callable[[Callable[[ResourceCheck], None]], ResourceValidation]:
    """Make `check(resource)` a pulumi-policy validator that checks each resource of `resource_type`.

    Other types pass. The check reads the resource's props, stack context and tracker from its
    `ResourceCheck` and reports through it; a value unknown in preview ends the check (or, inside
    `tracker.item()`, one item of it) and becomes one advisory naming the resource.

    :param production: the rule applies to production stacks only (not applicable in development).
    """

    def decorate(check: Callable[[ResourceCheck], None]) -> ResourceValidation:
        @wraps(check)
        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if args.resource_type != resource_type:
                return
            who = subject(args.resource_type, args.name)
            with _checking(args, production, who) as (context, tracker):
                check(ResourceCheck(args, context, who, tracker, report_violation))

        return validate

    return decorate


def stack_validator(production: bool = False) -> Callable[[Callable[[StackCheck], None]], StackValidation]:
    """Make `check(stack)` a pulumi-policy stack validator (see `resource_validator`); a value
    unknown in preview becomes one advisory naming the stack, or the resource checked in
    `StackCheck.resource`."""

    def decorate(check: Callable[[StackCheck], None]) -> StackValidation:
        @wraps(check)
        def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
            with _checking(args, production, "the stack") as (context, tracker):
                check(StackCheck(args, context, tracker, report_violation))

        return validate

    return decorate


def tailnet_policies(stack: StackCheck) -> list[tuple[PolicyResource, PolicyFile]]:
    """Each tailnet policy of the stack, with its policy file when it parses."""

    def read(resource: PolicyResource) -> tuple[PolicyResource, PolicyFile] | None:
        text = resource.props.get("acl")
        try:
            return (resource, parse(text)) if isinstance(text, str) else None
        except ValueError:
            return None  # tailnet-policy-readable reports it

    return stack.tracker.collect(stack.of_type(ACL), read)
