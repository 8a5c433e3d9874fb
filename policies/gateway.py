"""Guardrails for the Aperture gateway config: the `ApertureConfig` dynamic resource
(`pulumi-python:dynamic/aperture:Config`), whose `providers` say where the model is and whose
`grants` say who may administer the gateway and call which model.

Aperture grants give roles through the `tailscale.com/cap/aperture` capability, which can be granted
in the Aperture config or in the tailnet policy file; `too_wide_for_admin` is the one rule for both
places (and for the grants read back after a deploy, in `policies.stack`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from config.fields import check_private_url
from policies.common import (
    APERTURE_CAP,
    APERTURE_CONFIG,
    StackContext,
    UnknownTracker,
    is_list,
    is_object,
    message,
    production_only,
    stack_context,
    strings,
    subject,
)


def aperture_capabilities(app: Any) -> list[Mapping[str, Any]]:
    """The capability objects a grant's `app` gives under `tailscale.com/cap/aperture`."""
    if not is_object(app):
        return []
    caps = app.get(APERTURE_CAP)
    if not is_list(caps):
        return []
    return [cap for cap in caps if is_object(cap)]


def gives_admin(app: Any) -> bool:
    """Does this grant's `app` give the Aperture admin role?"""
    return any(cap.get("role") == "admin" for cap in aperture_capabilities(app))


def gives_every_model(app: Any) -> bool:
    """Does this grant's `app` give the model glob `**` (every model of every provider)?"""
    return any(cap.get("models") == "**" for cap in aperture_capabilities(app))


def too_wide_for_admin(
    src: Iterable[str], admins: Sequence[str], groups: Mapping[str, Sequence[str]]
) -> list[str]:
    """The sources of an admin grant that reach beyond the configured admins.

    `*` and every autogroup are too wide unless listed in `admins` themselves; a group is too wide
    unless it is one of the admins or all its known members are admin logins (a group whose
    members are unknown cannot be shown to be narrower). Single logins and tags are not wildcards.
    """
    admin_logins: set[str] = set()
    for entry in admins:
        expanded = groups.get(entry, ()) if entry.startswith("group:") else (entry,)
        admin_logins.update(member for member in expanded if "@" in member)
    wide = []
    for entry in src:
        if entry in admins:
            continue
        if entry == "*" or entry.startswith("autogroup:"):
            wide.append(entry)
        elif entry.startswith("group:"):
            members = groups.get(entry)
            if members is None or not set(members) <= admin_logins:
                wide.append(entry)
    return wide


def admin_grant_text(wide: Sequence[str], context: StackContext, read_back: bool = False) -> str:
    """What is wrong with an admin grant to `wide`, and how to fix it.

    :param read_back: the grant was read back from Aperture after the deploy (not declared here).
    """
    admins = ", ".join(context.plan.admins) or "none configured"
    gives = "after the deploy Aperture gives the admin role" if read_back else "gives the Aperture admin role"
    text = (
        f"{gives} to {', '.join(wide)}, which is wider than the configured admins ({admins}); "
        "grant admin only to sovereign-ai:tailnet.admins and give everyone else role user"
    )
    if read_back:
        text += " (if the declared grants are narrower, Aperture was changed outside this stack: run `pulumi up` again)"
    return text


def wide_admin_grants(
    grants: Any, context: StackContext, tracker: UnknownTracker, groups: Mapping[str, Sequence[str]]
) -> list[tuple[int, list[str]]]:
    """(index, too-wide sources) of each admin grant in an Aperture-shaped grants list."""
    found: list[tuple[int, list[str]]] = []
    if not is_list(grants):
        return found
    for index in range(len(grants)):
        with tracker.item():
            grant = grants[index]
            if not is_object(grant) or not gives_admin(grant.get("app")):
                continue
            wide = too_wide_for_admin(strings(grant.get("src")), context.plan.admins, groups)
            if wide:
                found.append((index, wide))
    return found


# -- aperture-no-wildcard-admin --------------------------------------------------------------------


def aperture_no_wildcard_admin_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Reports each grant of the Aperture config that makes a wildcard or wide group admin."""
    if args.resource_type != APERTURE_CONFIG:
        return
    context = stack_context()
    who = subject(args.resource_type, args.name)
    tracker = UnknownTracker(who)
    with tracker.item():
        grants = args.props.get("grants")
        for index, wide in wide_admin_grants(grants, context, tracker, context.plan.groups):
            report_violation(
                message(who, f"grants[{index}]", admin_grant_text(wide, context), context, uses_config=True),
                None,
            )
    tracker.finish()


aperture_no_wildcard_admin = ResourceValidationPolicy(
    name="aperture-no-wildcard-admin",
    description=(
        "Prohibits the Aperture admin role for *, autogroup:member or any group wider than the "
        "configured admins (sovereign-ai:tailnet.admins)."
    ),
    validate=aperture_no_wildcard_admin_validator,
)


# -- aperture-no-wildcard-models ---------------------------------------------------------------


def aperture_no_wildcard_models_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """In production, reports each grant that gives every model (`**`) to everyone (`*`)."""
    if args.resource_type != APERTURE_CONFIG:
        return
    context = stack_context()
    production_only(args, context)
    who = subject(args.resource_type, args.name)
    example = f"{context.config.hosts[0].name}/**" if context.config else "spark/**"
    tracker = UnknownTracker(who)
    with tracker.item():
        grants: Any = args.props.get("grants")
        for index in range(len(grants) if is_list(grants) else 0):
            with tracker.item():
                grant = grants[index]
                if not is_object(grant) or "*" not in strings(grant.get("src")):
                    continue
                if gives_every_model(grant.get("app")):
                    text = (
                        'gives every model (models "**") to every device of the tailnet (src "*"); '
                        "in production name the model users (sovereign-ai:tailnet.modelUsers) and "
                        f'their models, e.g. models "{example}"'
                    )
                    report_violation(message(who, f"grants[{index}]", text, context), None)
    tracker.finish()


aperture_no_wildcard_models = ResourceValidationPolicy(
    name="aperture-no-wildcard-models",
    description=('Prohibits, in production, an Aperture grant of every model ("**") to everyone ("*").'),
    validate=aperture_no_wildcard_models_validator,
)


# -- provider base URLs ------------------------------------------------------------------------


def display_url(url: str) -> str | None:
    """The URL without user info, query or fragment (safe to print); None if it does not parse."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def provider_base_urls(providers: Any, tracker: UnknownTracker) -> list[tuple[str, str]]:
    """(provider id, baseurl) of each provider that has a string `baseurl`, in map order."""
    found: list[tuple[str, str]] = []
    if not is_object(providers):
        return found
    for provider_id in list(providers):
        with tracker.item():
            provider = providers[provider_id]
            if not is_object(provider):
                continue
            baseurl = provider.get("baseurl")
            if isinstance(baseurl, str):
                found.append((str(provider_id), baseurl))
    return found


def aperture_provider_private_baseurl_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Reports each provider whose baseurl is a public host or address."""
    if args.resource_type != APERTURE_CONFIG:
        return
    context = stack_context()
    who = subject(args.resource_type, args.name)
    tracker = UnknownTracker(who)
    with tracker.item():
        for provider_id, baseurl in provider_base_urls(args.props.get("providers"), tracker):
            where = f"providers.{provider_id}.baseurl"
            shown = display_url(baseurl)
            if shown is None:
                text = (
                    "is not a valid URL; use http://<tailnet address or MagicDNS name>:<port>, "
                    "e.g. http://spark:8000"
                )
                report_violation(message(who, where, text, context), None)
                continue
            try:
                check_private_url(shown, context.network, "a provider baseurl")
            except ValueError as exc:
                report_violation(message(who, where, str(exc), context, uses_config=True), None)
    tracker.finish()


aperture_provider_private_baseurl = ResourceValidationPolicy(
    name="aperture-provider-private-baseurl",
    description=(
        "Requires every Aperture provider baseurl to be a tailnet address or a MagicDNS name, "
        "never a public host."
    ),
    validate=aperture_provider_private_baseurl_validator,
)


def aperture_provider_baseurl_no_v1_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Reports each provider whose baseurl ends in `/v1`."""
    if args.resource_type != APERTURE_CONFIG:
        return
    context = stack_context()
    who = subject(args.resource_type, args.name)
    tracker = UnknownTracker(who)
    with tracker.item():
        for provider_id, baseurl in provider_base_urls(args.props.get("providers"), tracker):
            shown = display_url(baseurl)
            if shown is None or not shown.rstrip("/").endswith("/v1"):
                continue
            root = shown.rstrip("/").removesuffix("/v1")
            text = (
                f"{shown} ends in /v1: Aperture appends the request path (/v1/chat/completions), so "
                f"it would call /v1/v1/... and get 404; use the API root, {root}"
            )
            report_violation(message(who, f"providers.{provider_id}.baseurl", text, context), None)
    tracker.finish()


aperture_provider_baseurl_no_v1 = ResourceValidationPolicy(
    name="aperture-provider-baseurl-no-v1",
    description=(
        "Prohibits Aperture provider baseurls that end in /v1 (Aperture appends the /v1 request path)."
    ),
    validate=aperture_provider_baseurl_no_v1_validator,
)


POLICIES = [
    aperture_no_wildcard_admin,
    aperture_no_wildcard_models,
    aperture_provider_private_baseurl,
    aperture_provider_baseurl_no_v1,
]
"""The gateway guardrails, in the order the pack lists them."""
