"""`group:` sources of the Aperture grants: written as their members, unless Aperture can see groups.

Pure module (no Pulumi). Aperture matches a `group:` in a grant's `src` only when the policy file
gives the Aperture device a `tailscale.com/visible-groups` node attribute listing that group, and
only on a tailnet where Tailscale has turned that alpha feature on (docs/architecture.md §10.2);
anywhere else a member of the group gets 403 `access denied: no role granted`. So by default the
plan (`config.plan.PolicyPlan`) writes each group as its members from `tailnet.groups`, which works
on every tailnet; with `gateway.visibleGroups: true` it keeps the groups and generates the node
attribute. `check_grant_groups` refuses a group the config cannot expand in the first case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from config.fields import NAMESPACE
from config.gateway import GatewayConfig

Location = tuple[str | int, ...]
"""A key's path in the model, e.g. `("gateway", "grants", 0, "src")`; shown camelCased."""


def group_sources(entries: Iterable[str]) -> list[str]:
    """The `group:` entries, in order, each once."""
    found: list[str] = []
    for entry in entries:
        if entry.startswith("group:") and entry not in found:
            found.append(entry)
    return found


def expand_groups(entries: Iterable[str], groups: Mapping[str, Sequence[str]]) -> list[str]:
    """`entries` with each `group:` replaced by its members, in order, each once.

    A group missing from `groups` is kept (`check_grant_groups` refuses it before a plan is made).
    """
    expanded: list[str] = []
    for entry in entries:
        members = groups.get(entry, (entry,)) if entry.startswith("group:") else (entry,)
        expanded.extend(member for member in members if member not in expanded)
    return expanded


def check_grant_groups(
    gateway: GatewayConfig,
    groups: Mapping[str, Sequence[str]],
    admins: Sequence[str],
    model_users: Sequence[str],
) -> None:
    """Refuse `group:` grant sources the plan cannot expand while `gateway.visibleGroups` is false.

    Checks the configured `gateway.grants[i].src`, or, without grants, the sources of the default
    grants (`tailnet.admins`, `tailnet.modelUsers`). Raises a ValidationError with one error per
    group, located at the key that names it, so that each reads `sovereign-ai:<key>: ...`.
    """
    if gateway.visible_groups:
        return
    sources: list[tuple[Location, Sequence[str]]]
    if gateway.grants is not None:
        sources = [(("gateway", "grants", i, "src"), g.src) for i, g in enumerate(gateway.grants)]
    else:
        sources = [(("tailnet", "admins"), admins), (("tailnet", "model_users"), model_users)]
    errors = [
        _error(location, group)
        for location, entries in sources
        for group in group_sources(entries)
        if group not in groups
    ]
    if errors:
        raise ValidationError.from_exception_data("StackConfig", errors)


def _error(location: Location, group: str) -> InitErrorDetails:
    message = (
        f"{group} is not in {NAMESPACE}:tailnet.groups, so the program cannot write its members "
        "into the Aperture grants, and Aperture matches a group: source only on a tailnet with "
        "group visibility (elsewhere its members get 403 access denied: no role granted): list its "
        f"members in {NAMESPACE}:tailnet.groups, or set {NAMESPACE}:gateway.visibleGroups: true on "
        "a tailnet where Tailscale has turned group visibility on"
    )
    return InitErrorDetails(
        type=PydanticCustomError("grant_group", "{message}", {"message": message}),
        loc=location,
        input=group,
    )
