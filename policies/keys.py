"""Guardrails for Tailscale auth keys (`tailscale:index/tailnetKey:TailnetKey`).

A host joins the tailnet with one key (docs/architecture.md §1): tagged, so that the policy file's
tag rules apply to it and not its creator's user rules; pre-authorized, so no one approves it by
hand; single use, so a leaked key cannot add more devices; and, in production, short-lived, because
it only has to survive the join. The maximum lifetime is the policy config property
`maxExpirySeconds`.
"""

from __future__ import annotations

from pulumi_policy import PolicyConfigSchema, ResourceValidationPolicy

from policies.common import TAILNET_KEY, ResourceCheck, resource_validator, strings

DEFAULT_EXPIRY_SECONDS = 7776000
"""Tailscale's lifetime for a key created without `expiry` (90 days)."""

MAX_EXPIRY_SECONDS = 86400
"""The longest lifetime a production key may have (also `sovereign-ai:tailnet.keyExpirySeconds`' limit)."""


@resource_validator(TAILNET_KEY)
def auth_key_tagged_validator(key: ResourceCheck) -> None:
    """Reports an auth key without tags."""
    if not strings(key.props.get("tags")):
        text = (
            "has no tags, so the device joins as the key's creator and the policy file's tag rules "
            f'do not apply to it; set tags=["{key.context.plan.gpu_tag}"]'
        )
        key.report(None, text)


@resource_validator(TAILNET_KEY)
def auth_key_preauthorized_validator(key: ResourceCheck) -> None:
    """Reports an auth key that is not pre-authorized."""
    if key.props.get("preauthorized") is not True:
        text = (
            "is not pre-authorized, so the host waits for someone to approve it in the admin console "
            "and the deploy stalls; set preauthorized=True"
        )
        key.report(None, text)


@resource_validator(TAILNET_KEY)
def auth_key_single_use_validator(key: ResourceCheck) -> None:
    """Reports a reusable auth key."""
    if key.props.get("reusable") is True:
        text = (
            "is reusable, so anyone who obtains it can join any number of devices under its tags; "
            "set reusable=False (one key per host)"
        )
        key.report(None, text)


@resource_validator(TAILNET_KEY, production=True)
def auth_key_short_expiry_validator(key: ResourceCheck) -> None:
    """In production, reports an auth key that lives longer than `maxExpirySeconds`."""
    limit = key.args.get_config().get("maxExpirySeconds", MAX_EXPIRY_SECONDS)
    limit = min(int(limit), MAX_EXPIRY_SECONDS)
    expiry = key.props.get("expiry")
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
    key.report(None, text)


# -- the policies: name, description, validator --------------------------------------------------

auth_key_tagged = ResourceValidationPolicy(
    "auth-key-tagged",
    "Requires every Tailscale auth key to carry tags (the device joins as a tagged node).",
    auth_key_tagged_validator,
)
auth_key_preauthorized = ResourceValidationPolicy(
    "auth-key-preauthorized",
    "Requires every Tailscale auth key to be pre-authorized (no manual device approval).",
    auth_key_preauthorized_validator,
)
auth_key_single_use = ResourceValidationPolicy(
    "auth-key-single-use",
    "Prohibits reusable Tailscale auth keys.",
    auth_key_single_use_validator,
)
auth_key_short_expiry = ResourceValidationPolicy(
    "auth-key-short-expiry",
    "Requires, in production, Tailscale auth keys to expire within maxExpirySeconds (default one day).",
    auth_key_short_expiry_validator,
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
