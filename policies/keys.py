"""Guardrails for Tailscale auth keys (`tailscale:index/tailnetKey:TailnetKey`).

A host joins the tailnet with one key (DESIGN.md §1): tagged, so that the policy file's tag rules
apply to it and not its creator's user rules; pre-authorized, so no one approves it by hand; single
use, so a leaked key cannot add more devices; and, in production, short-lived, because it only has
to survive the join. The maximum lifetime is the policy config property `maxExpirySeconds`.
"""

from __future__ import annotations

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from policies.common import (
    TAILNET_KEY,
    explained_unknowns,
    message,
    production_only,
    stack_context,
    strings,
    subject,
)

DEFAULT_EXPIRY_SECONDS = 7776000
"""Tailscale's lifetime for a key created without `expiry` (90 days)."""

MAX_EXPIRY_SECONDS = 86400
"""The longest lifetime a production key may have (also `sovereign-ai:tailnet.keyExpirySeconds`' limit)."""


def auth_key_tagged_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Reports an auth key without tags."""
    if args.resource_type != TAILNET_KEY:
        return
    context = stack_context()
    who = subject(args.resource_type, args.name)
    with explained_unknowns(who):
        tags = strings(args.props.get("tags"))
    if not tags:
        text = (
            "has no tags, so the device joins as the key's creator and the policy file's tag rules "
            f'do not apply to it; set tags=["{context.plan.gpu_tag}"]'
        )
        report_violation(message(who, None, text, context), None)


auth_key_tagged = ResourceValidationPolicy(
    name="auth-key-tagged",
    description="Requires every Tailscale auth key to carry tags (the device joins as a tagged node).",
    validate=auth_key_tagged_validator,
)


def auth_key_preauthorized_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Reports an auth key that is not pre-authorized."""
    if args.resource_type != TAILNET_KEY:
        return
    context = stack_context()
    who = subject(args.resource_type, args.name)
    with explained_unknowns(who):
        preauthorized = args.props.get("preauthorized")
    if preauthorized is not True:
        text = (
            "is not pre-authorized, so the host waits for someone to approve it in the admin console "
            "and the deploy stalls; set preauthorized=True"
        )
        report_violation(message(who, None, text, context), None)


auth_key_preauthorized = ResourceValidationPolicy(
    name="auth-key-preauthorized",
    description="Requires every Tailscale auth key to be pre-authorized (no manual device approval).",
    validate=auth_key_preauthorized_validator,
)


def auth_key_single_use_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Reports a reusable auth key."""
    if args.resource_type != TAILNET_KEY:
        return
    context = stack_context()
    who = subject(args.resource_type, args.name)
    with explained_unknowns(who):
        reusable = args.props.get("reusable")
    if reusable is True:
        text = (
            "is reusable, so anyone who obtains it can join any number of devices under its tags; "
            "set reusable=False (one key per host)"
        )
        report_violation(message(who, None, text, context), None)


auth_key_single_use = ResourceValidationPolicy(
    name="auth-key-single-use",
    description="Prohibits reusable Tailscale auth keys.",
    validate=auth_key_single_use_validator,
)


def auth_key_short_expiry_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """In production, reports an auth key that lives longer than `maxExpirySeconds`."""
    if args.resource_type != TAILNET_KEY:
        return
    context = stack_context()
    production_only(args, context)
    limit = args.get_config().get("maxExpirySeconds", MAX_EXPIRY_SECONDS)
    limit = min(int(limit), MAX_EXPIRY_SECONDS)
    who = subject(args.resource_type, args.name)
    with explained_unknowns(who):
        expiry = args.props.get("expiry")
    if not isinstance(expiry, (int, float)) or isinstance(expiry, bool) or expiry <= 0:
        lifetime = f"is not set, so Tailscale's default applies ({DEFAULT_EXPIRY_SECONDS} s, 90 days)"
    elif expiry > limit:
        lifetime = f"is {int(expiry)} s"
    else:
        return
    text = (
        f"expiry {lifetime}; a key only has to survive the join, so in production set expiry to at "
        f"most {limit} s (sovereign-ai:tailnet.keyExpirySeconds, default 3600)"
    )
    report_violation(message(who, None, text, context), None)


auth_key_short_expiry = ResourceValidationPolicy(
    name="auth-key-short-expiry",
    description="Requires, in production, Tailscale auth keys to expire within maxExpirySeconds (default one day).",
    validate=auth_key_short_expiry_validator,
    config_schema=PolicyConfigSchema(
        properties={
            "maxExpirySeconds": {
                "type": "integer",
                "minimum": 300,
                "maximum": MAX_EXPIRY_SECONDS,
                "default": MAX_EXPIRY_SECONDS,
                "description": "Longest lifetime of a production auth key, in seconds (at most a day).",
            }
        }
    ),
)


POLICIES = [auth_key_tagged, auth_key_preauthorized, auth_key_single_use, auth_key_short_expiry]
"""The auth key guardrails, in the order the pack lists them."""
