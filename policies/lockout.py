"""The deployers keep the Aperture admin role: `aperture-keeps-deployer-admin`, mandatory in every
environment (`policies/enforcement.py`).

A deploy writes the whole Aperture grants list (`ApertureConfig` owns it) through the admin config
API, which answers 403 to anyone without the admin role. Aperture's dashboard refuses a save that
removes the saver's own admin role, but a config written outside it has no such safeguard
(tailscale.com/docs/aperture/how-to/set-up-admin-access): a grants change that drops an identity
that deploys is saved (by another admin, or by a deploy that still holds the role through another
grant), and every later deploy by that identity, the one that would put the grant back included,
gets 403. So the pack checks the grants the resource is about to write, before any call to
Aperture, on every stack.

The identities that deploy are `PolicyPlan.deployers`: the admins' logins (groups expanded) and
the deploy tag (`tailnet.deployTag`), as Aperture sees them. A grant source matches one as the
gateway matches it: `*`, the exact identity (a login, or the tag), or a `group:` it belongs to
while the gateway sees groups (`gateway.visibleGroups`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pulumi_policy import ResourceValidationPolicy

from config.plan import PolicyPlan
from policies.common import (
    APERTURE_CONFIG,
    ResourceCheck,
    UnknownTracker,
    array_indexes,
    is_object,
    resource_validator,
    strings,
)
from policies.gateway import gives_admin


def holds_admin(identity: str, admin_sources: Iterable[str], plan: PolicyPlan) -> bool:
    """Whether one of the sources of the admin grants matches `identity` as Aperture matches it."""
    for source in admin_sources:
        if source in ("*", identity):
            return True
        if source.startswith("group:") and plan.visible_groups and identity in plan.groups.get(source, ()):
            return True
    return False


def locked_out(grants: Any, plan: PolicyPlan, tracker: UnknownTracker) -> list[str]:
    """The deployers no admin grant of `grants` (an Aperture-shaped list) matches; a grant unknown
    in preview is left to `tracker` (checked again during `pulumi up`)."""

    def admin_sources(index: int) -> Sequence[str] | None:
        grant = grants[index]
        return strings(grant.get("src")) if is_object(grant) and gives_admin(grant.get("app")) else None

    sources = [source for found in tracker.collect(array_indexes(grants), admin_sources) for source in found]
    return [identity for identity in plan.deployers() if not holds_admin(identity, sources, plan)]


def lockout_text(missing: Sequence[str], plan: PolicyPlan) -> str:
    """What the lockout means and the admin grant to keep."""
    who = ", ".join(missing)
    keep = ", ".join(f'"{identity}"' for identity in missing)
    return (
        f"after this deploy {who} would no longer hold the Aperture admin role, so every later deploy "
        "as them, the one that would put it back included, gets 403 from Aperture (its dashboard "
        "refuses such a save; a config write does not); keep the admin grant "
        f"{{src: [{keep}], role: admin}} in sovereign-ai:gateway.grants (without gateway.grants the "
        "program writes it for sovereign-ai:tailnet.admins"
        + (" and sovereign-ai:tailnet.deployTag" if getattr(plan, "deploy_tag", None) else "")
        + ")"
    )


@resource_validator(APERTURE_CONFIG)
def aperture_keeps_deployer_admin_validator(gateway: ResourceCheck) -> None:
    """Reports grants that would leave an identity that deploys without the Aperture admin role."""
    plan = gateway.context.plan
    missing = locked_out(gateway.props.get("grants"), plan, gateway.tracker)
    if missing:
        gateway.report("grants", lockout_text(missing, plan), uses_config=True)


aperture_keeps_deployer_admin = ResourceValidationPolicy(
    "aperture-keeps-deployer-admin",
    (
        "Requires the Aperture grants to keep the admin role for every identity that deploys "
        "(sovereign-ai:tailnet.admins and the deploy tag), in every environment: without it every "
        "later deploy gets 403."
    ),
    aperture_keeps_deployer_admin_validator,
)


POLICIES = [aperture_keeps_deployer_admin]
"""The lockout guardrail."""
