"""Guardrails for the Aperture gateway config: the `ApertureConfig` dynamic resource
(`pulumi-python:dynamic/aperture:Config`), whose `providers` say where the model is and whose
`grants` say who may administer the gateway and call which model.

Aperture grants give roles through the `tailscale.com/cap/aperture` capability, which can be granted
in the Aperture config or in the tailnet policy file; `too_wide_for_admin` is the one rule for both
places (and for the grants read back after a deploy, in `policies.stack`). Budgets are the resource's
`quotas` (Aperture quota buckets) that the grants' capability objects name; in production a grant
that gives models without a rejecting one is reported as advice (`aperture-model-grant-budget`,
advisory in every environment: `policies/enforcement.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pulumi_policy import ResourceValidationPolicy

from config.fields import check_private_url
from config.fleet import serving_hosts
from config.plan import PolicyPlan
from policies.common import (
    APERTURE_CAP,
    APERTURE_CONFIG,
    ResourceCheck,
    StackContext,
    UnknownTracker,
    array_indexes,
    is_list,
    is_object,
    object_keys,
    resource_validator,
    strings,
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


def is_pattern(entry: str) -> bool:
    """A source that names many identities by a pattern: `*`, `*@example.com`, `user:*@example.com`."""
    return any(char in entry for char in "*?[")


def too_wide_for_admin(
    src: Iterable[str], admins: Sequence[str], groups: Mapping[str, Sequence[str]]
) -> list[str]:
    """The sources of an admin grant that reach beyond the configured admins.

    A wildcard pattern (`*`, a login pattern such as `*@example.com` or `user:*@example.com`) is
    always too wide, even when `admins` lists it; every autogroup is too wide unless listed in
    `admins`; a group is too wide unless it is one of the admins or all its known members are admin
    logins (a group whose members are unknown cannot be shown to be narrower). Single logins and
    tags are not wildcards.
    """
    admin_logins: set[str] = set()
    for entry in admins:
        expanded = groups.get(entry, ()) if entry.startswith("group:") else (entry,)
        admin_logins.update(member for member in expanded if "@" in member)
    wide = []
    for entry in src:
        if is_pattern(entry):
            wide.append(entry)
            continue
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


def wide_admin_grants(grants: Any, plan: PolicyPlan, tracker: UnknownTracker) -> list[tuple[int, list[str]]]:
    """(index, too-wide sources) of each admin grant in an Aperture-shaped grants list."""

    def wide(index: int) -> tuple[int, list[str]] | None:
        grant = grants[index]
        if not is_object(grant) or not gives_admin(grant.get("app")):
            return None
        found = too_wide_for_admin(strings(grant.get("src")), plan.admins, plan.groups)
        return (index, found) if found else None

    return tracker.collect(array_indexes(grants), wide)


# -- aperture-no-wildcard-admin --------------------------------------------------------------------


@resource_validator(APERTURE_CONFIG)
def aperture_no_wildcard_admin_validator(gateway: ResourceCheck) -> None:
    """Reports each grant of the Aperture config that makes a wildcard or wide group admin."""
    context = gateway.context
    for index, wide in wide_admin_grants(gateway.props.get("grants"), context.plan, gateway.tracker):
        gateway.report(f"grants[{index}]", admin_grant_text(wide, context), uses_config=True)


# -- aperture-no-wildcard-models ---------------------------------------------------------------


@resource_validator(APERTURE_CONFIG, production=True)
def aperture_no_wildcard_models_validator(gateway: ResourceCheck) -> None:
    """In production, reports each grant that gives every model (`**`) to everyone (`*`)."""
    config = gateway.context.config
    example = f"{serving_hosts(config.hosts)[0].name}/**" if config else "spark/**"
    grants: Any = gateway.props.get("grants")

    def to_everyone(index: int) -> int | None:
        grant = grants[index]
        if is_object(grant) and "*" in strings(grant.get("src")) and gives_every_model(grant.get("app")):
            return index
        return None

    text = (
        'gives every model (models "**") to every device of the tailnet (src "*"); '
        "in production name the model users (sovereign-ai:tailnet.modelUsers) and "
        f'their models, e.g. models "{example}"'
    )
    for index in gateway.tracker.collect(array_indexes(grants), to_everyone):
        gateway.report(f"grants[{index}]", text)


# -- aperture-model-grant-budget -------------------------------------------------------------------


def rejecting_buckets(quotas: Any) -> set[str]:
    """The names of the resource's quota buckets that refuse requests once spent (`on_exceed: reject`)."""
    return {
        str(name)
        for name in object_keys(quotas)
        if is_object(quotas[name]) and quotas[name].get("on_exceed") == "reject"
    }


def budgeted(app: Any, rejecting: set[str]) -> bool:
    """Does one of this grant's capability objects name a rejecting bucket?"""
    for cap in aperture_capabilities(app):
        refs: Any = cap.get("quotas")
        names = [ref.get("bucket") for ref in refs if is_object(ref)] if is_list(refs) else []
        if rejecting.intersection(name for name in names if isinstance(name, str)):
            return True
    return False


@resource_validator(APERTURE_CONFIG, production=True)
def aperture_model_grant_budget_validator(gateway: ResourceCheck) -> None:
    """In production, reports each grant that gives models without a rejecting budget."""
    rejecting = rejecting_buckets(gateway.props.get("quotas"))
    grants: Any = gateway.props.get("grants")

    def unbudgeted(index: int) -> tuple[int, list[str]] | None:
        grant = grants[index]
        app = grant.get("app") if is_object(grant) else None
        models = [str(c["models"]) for c in aperture_capabilities(app) if isinstance(c.get("models"), str)]
        return (index, models) if models and not budgeted(app, rejecting) else None

    for index, models in gateway.tracker.collect(array_indexes(grants), unbudgeted):
        text = (
            f"gives models {', '.join(models)} without a budget that refuses once spent, so one caller "
            "can keep the GPU busy for everyone; set sovereign-ai:gateway.quotas ({} gives each caller "
            "$10.00 that refills at $5.00/day), or a quota on this grant in sovereign-ai:gateway.grants"
        )
        gateway.report(f"grants[{index}]", text)


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

    def baseurl(provider_id: Any) -> tuple[str, str] | None:
        provider = providers[provider_id]
        url = provider.get("baseurl") if is_object(provider) else None
        return (str(provider_id), url) if isinstance(url, str) else None

    return tracker.collect(object_keys(providers), baseurl)


@resource_validator(APERTURE_CONFIG)
def aperture_provider_private_baseurl_validator(gateway: ResourceCheck) -> None:
    """Reports each provider whose baseurl is a public host or address."""
    for provider_id, baseurl in provider_base_urls(gateway.props.get("providers"), gateway.tracker):
        where = f"providers.{provider_id}.baseurl"
        shown = display_url(baseurl)
        if shown is None:
            text = (
                "is not a valid URL; use http://<tailnet address or MagicDNS name>:<port>, "
                "e.g. http://spark:8000"
            )
            gateway.report(where, text)
            continue
        try:
            check_private_url(shown, gateway.context.network, "a provider baseurl")
        except ValueError as exc:
            gateway.report(where, str(exc), uses_config=True)


@resource_validator(APERTURE_CONFIG)
def aperture_provider_baseurl_no_v1_validator(gateway: ResourceCheck) -> None:
    """Reports each provider whose baseurl ends in `/v1`."""
    for provider_id, baseurl in provider_base_urls(gateway.props.get("providers"), gateway.tracker):
        shown = display_url(baseurl)
        if shown is None or not shown.rstrip("/").endswith("/v1"):
            continue
        root = shown.rstrip("/").removesuffix("/v1")
        text = (
            f"{shown} ends in /v1: Aperture appends the request path (/v1/chat/completions), so "
            f"it would call /v1/v1/... and get 404; use the API root, {root}"
        )
        gateway.report(f"providers.{provider_id}.baseurl", text)


# -- the policies: name, description, validator --------------------------------------------------

aperture_no_wildcard_admin = ResourceValidationPolicy(
    "aperture-no-wildcard-admin",
    (
        "Prohibits the Aperture admin role for *, a login pattern such as *@example.com, "
        "autogroup:member or any group wider than the configured admins (sovereign-ai:tailnet.admins)."
    ),
    aperture_no_wildcard_admin_validator,
)
aperture_no_wildcard_models = ResourceValidationPolicy(
    "aperture-no-wildcard-models",
    'Prohibits, in production, an Aperture grant of every model ("**") to everyone ("*").',
    aperture_no_wildcard_models_validator,
)
aperture_model_grant_budget = ResourceValidationPolicy(
    "aperture-model-grant-budget",
    (
        "Requires, in production, a budget that refuses once spent (an Aperture quota bucket with "
        "on_exceed reject) on every grant that gives models; advisory in every environment."
    ),
    aperture_model_grant_budget_validator,
)
aperture_provider_private_baseurl = ResourceValidationPolicy(
    "aperture-provider-private-baseurl",
    (
        "Requires every Aperture provider baseurl to be a tailnet address or a MagicDNS name, "
        "never a public host."
    ),
    aperture_provider_private_baseurl_validator,
)
aperture_provider_baseurl_no_v1 = ResourceValidationPolicy(
    "aperture-provider-baseurl-no-v1",
    "Prohibits Aperture provider baseurls that end in /v1 (Aperture appends the /v1 request path).",
    aperture_provider_baseurl_no_v1_validator,
)


POLICIES = [
    aperture_no_wildcard_admin,
    aperture_no_wildcard_models,
    aperture_model_grant_budget,
    aperture_provider_private_baseurl,
    aperture_provider_baseurl_no_v1,
]
"""The gateway guardrails, in the order the pack lists them."""
