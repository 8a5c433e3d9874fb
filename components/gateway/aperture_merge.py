"""Merge the parts of an Aperture config document that `ApertureConfig` owns; leave the rest alone.

Pure module: no I/O, and of Pulumi only the SDK's UNKNOWN sentinel. The resource owns (docs/architecture.md §6):

- the providers it declares (`providers.<id>` members, written whole, replacing what was there),
- the quota buckets it declares (`quotas.<name>` members, the same way),
- the whole top-level `grants` list.

Every other byte of the document (other providers, other buckets, hooks, comments, formatting) is
kept as it is, through `hujson` span editing. Aperture's GET redacts provider keys, so an owned
provider is always written from the resource's inputs (its own `apikey`, or none) and an unowned
provider's text is never touched: no redacted value is ever written back.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime.rpc import UNKNOWN

import hujson

CAPABILITY = "tailscale.com/cap/aperture"
"""The grant `app` key Aperture evaluates."""

INPUT_KEYS = ("providers", "grants", "quotas", "environment")
"""The resource's real inputs; everything else in props is an output or `__provider`."""

_PROVIDER_KEY_ORDER = ("name", "description", "baseurl", "models", "apikey", "authorization", "compatibility")
_GRANT_KEY_ORDER = ("src", "app", "role", "models")


class MergeError(ValueError):
    """The live document cannot be merged (e.g. `providers` is not an object)."""


@dataclass(frozen=True)
class InputFailure:
    """One rejected input: the property path and what to change."""

    property: str
    """`providers` or `grants` (the top-level input the problem is in)."""

    reason: str
    """What is wrong and how to fix it."""


@dataclass
class DesiredConfig:
    """The resource's inputs, parsed from the plain dict Pulumi passes (`__` keys dropped)."""

    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Provider id -> provider object as it should appear in the document (None values dropped)."""

    grants: list[dict[str, Any]] = field(default_factory=list)
    """The whole grants list, in Aperture's shape."""

    quotas: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Bucket name -> `{capacity, rate, on_exceed}`: the quota buckets this resource owns."""

    environment: str | None = None
    """Free-form environment name, echoed in outputs."""

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> DesiredConfig:
        """Parse props; raises ValueError naming the input when a type is wrong."""
        raw_providers = props.get("providers") or {}
        if not isinstance(raw_providers, Mapping):
            raise ValueError(
                f"providers must be an object of id -> provider, got {type(raw_providers).__name__}"
            )
        providers: dict[str, dict[str, Any]] = {}
        for provider_id, provider in raw_providers.items():
            if not isinstance(provider, Mapping):
                raise ValueError(f"providers.{provider_id} must be an object, got {type(provider).__name__}")
            providers[str(provider_id)] = _drop_none(dict(provider))
        raw_quotas = props.get("quotas") or {}
        if not isinstance(raw_quotas, Mapping) or not all(
            isinstance(q, Mapping) for q in raw_quotas.values()
        ):
            raise ValueError("quotas must be an object of bucket name -> quota")
        raw_grants = props.get("grants") or []
        if not isinstance(raw_grants, list) or not all(isinstance(g, Mapping) for g in raw_grants):
            raise ValueError("grants must be a list of grant objects")
        environment = props.get("environment")
        return cls(
            providers=providers,
            grants=[copy.deepcopy(dict(g)) for g in raw_grants],
            quotas={str(name): _drop_none(dict(quota)) for name, quota in raw_quotas.items()},
            environment=None if environment is None else str(environment),
        )

    def api_keys(self) -> dict[str, str]:
        """Provider id -> the apikey this resource sets (only providers that set one)."""
        return {
            pid: str(p["apikey"])
            for pid, p in self.providers.items()
            if isinstance(p.get("apikey"), str) and p["apikey"]
        }


def _drop_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _ordered(value: Any, order: tuple[str, ...]) -> Any:
    """Deterministic key order (preferred keys first, the rest sorted), recursively."""
    if isinstance(value, Mapping):
        keys = [k for k in order if k in value] + sorted(k for k in value if k not in order)
        return {k: _ordered(value[k], order) for k in keys}
    if isinstance(value, list):
        return [_ordered(v, order) for v in value]
    return value


def render_provider(provider: Mapping[str, Any]) -> dict[str, Any]:
    """The provider object as written: None values and an empty `apikey` dropped, keys ordered."""
    value = _drop_none(dict(provider))
    if not value.get("apikey"):
        value.pop("apikey", None)
    result: dict[str, Any] = _ordered(value, _PROVIDER_KEY_ORDER)
    return result


def render_grants(grants: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The grants list as written: None values dropped, keys ordered (src, app, role, models...)."""
    return [_ordered(_drop_none(dict(grant)), _GRANT_KEY_ORDER) for grant in grants]


def _root(text: str) -> hujson.Node:
    root = hujson.parse(text)
    if not isinstance(root.value, dict):
        raise MergeError("Aperture's config document is not a JSON object")
    return root


def _section_node(root: hujson.Node, section: str) -> hujson.Node | None:
    """The object at top-level `section` (`providers`, `quotas`), or None when absent."""
    member = root.member(section)
    if member is None:
        return None
    if not isinstance(member.value.value, dict):
        raise MergeError(
            f"Aperture's config has a `{section}` that is not an object; fix it in the dashboard"
        )
    return member.value


def _providers_node(root: hujson.Node) -> hujson.Node | None:
    return _section_node(root, "providers")


def _set_member(text: str, section: str, key: str, value: dict[str, Any]) -> str:
    """Write `section.<key>` whole, creating the section when it is absent."""
    root = _root(text)
    node = _section_node(root, section)
    if node is None:
        return hujson.insert_member(text, root, section, {key: value})
    return hujson.replace_member(text, node, key, value)


def _remove_member(text: str, section: str, key: str) -> str:
    """Remove `section.<key>`, if present."""
    node = _section_node(_root(text), section)
    if node is None or node.member(key) is None:
        return text
    return hujson.remove_member(text, node, key)


def _set_provider(text: str, provider_id: str, value: dict[str, Any]) -> str:
    return _set_member(text, "providers", provider_id, value)


def _remove_provider(text: str, provider_id: str) -> str:
    return _remove_member(text, "providers", provider_id)


def _set_grants(text: str, grants: list[dict[str, Any]]) -> str:
    return hujson.replace_member(text, _root(text), "grants", grants)


def merge(
    text: str, desired: DesiredConfig, drop: Iterable[str] = (), drop_quotas: Iterable[str] = ()
) -> str:
    """Write the owned providers, quota buckets and grants into `text`; remove those in `drop`
    (providers) and `drop_quotas` (buckets): what this resource owned before and no longer declares."""
    for provider_id in sorted(set(drop) - set(desired.providers)):
        text = _remove_provider(text, provider_id)
    for provider_id in sorted(desired.providers):
        text = _set_provider(text, provider_id, render_provider(desired.providers[provider_id]))
    for name in sorted(set(drop_quotas) - set(desired.quotas)):
        text = _remove_member(text, "quotas", name)
    for name in sorted(desired.quotas):
        text = _set_member(text, "quotas", name, dict(desired.quotas[name]))
    return _set_grants(text, render_grants(desired.grants))


def admin_only_grants(grants: Any) -> list[dict[str, Any]]:
    """What `delete` leaves: for each grant that gives role admin, the same `src` with admin only."""
    kept: list[dict[str, Any]] = []
    for grant in grants if isinstance(grants, list) else []:
        if not isinstance(grant, Mapping) or not isinstance(grant.get("src"), list):
            continue
        app = grant.get("app")
        caps = app.get(CAPABILITY) if isinstance(app, Mapping) else None
        if isinstance(caps, list) and any(isinstance(c, Mapping) and c.get("role") == "admin" for c in caps):
            kept.append({"src": list(grant["src"]), "app": {CAPABILITY: [{"role": "admin"}]}})
    return kept


def unmerge(text: str, provider_ids: Iterable[str], quota_names: Iterable[str] = ()) -> str:
    """`delete`: remove the owned providers, reduce the grants to their admin grants (which name no
    bucket), then remove the owned quota buckets."""
    for provider_id in sorted(set(provider_ids)):
        text = _remove_provider(text, provider_id)
    grants = _root(text).value.get("grants")
    text = _set_grants(text, admin_only_grants(grants))
    for name in sorted(set(quota_names)):
        text = _remove_member(text, "quotas", name)
    return text


def same_except_keys(merged: str, current: str, owned: Iterable[str]) -> bool:
    """Whether `merged` equals `current` once each owned provider's `apikey` value is taken from
    `current` (which Aperture shows redacted). Whether the key itself changed is for the caller
    to know (from its previous inputs); this only compares everything else, byte for byte."""
    for provider_id in owned:
        merged_providers = _providers_node(_root(merged))
        current_providers = _providers_node(_root(current))
        if merged_providers is None or current_providers is None:
            continue
        ours = merged_providers.member(provider_id)
        theirs = current_providers.member(provider_id)
        if ours is None or theirs is None:
            continue
        ours_value, theirs_value = ours.value.value, theirs.value.value
        if (
            isinstance(ours_value, dict)
            and isinstance(theirs_value, dict)
            and "apikey" in ours_value
            and "apikey" in theirs_value
        ):
            merged = hujson.replace_member(merged, ours.value, "apikey", theirs_value["apikey"])
    return merged == current


@dataclass(frozen=True)
class DocumentView:
    """What the document says about the managed parts, as read back (keys redacted)."""

    providers: dict[str, dict[str, Any]]
    """The owned providers present in the document (absent ones are missing)."""

    grants: list[Any]
    """The document's grants list ([] when absent)."""

    quotas: dict[str, Any]
    """The owned quota buckets present in the document."""

    provider_names: list[str]
    """Every provider id in the document, owned or not, in document order."""


def view(text: str, owned: Iterable[str], owned_quotas: Iterable[str] = ()) -> DocumentView:
    """Read the managed parts of a (redacted) document."""
    document = _root(text).value
    providers = document.get("providers")
    providers = providers if isinstance(providers, dict) else {}
    quotas = document.get("quotas")
    quotas = quotas if isinstance(quotas, dict) else {}
    grants = document.get("grants")
    return DocumentView(
        providers={pid: dict(providers[pid]) for pid in owned if isinstance(providers.get(pid), dict)},
        grants=list(grants) if isinstance(grants, list) else [],
        quotas={name: quotas[name] for name in owned_quotas if name in quotas},
        provider_names=list(providers),
    )


def changed_inputs(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    """The real inputs (`INPUT_KEYS`, never `__provider` or outputs) whose values differ."""
    changed = []
    for key in INPUT_KEYS:
        if _normal(key, olds.get(key)) != _normal(key, news.get(key)):
            changed.append(key)
    return changed


def _normal(key: str, value: Any) -> Any:
    if value == UNKNOWN:
        return value
    if key == "providers" and isinstance(value, Mapping):
        return {pid: render_provider(p) if isinstance(p, Mapping) else p for pid, p in value.items()}
    if key == "grants" and isinstance(value, list) and all(isinstance(g, Mapping) for g in value):
        return render_grants(value)
    if key in ("providers", "quotas") and value is None:
        return {}
    if key == "grants" and value is None:
        return []
    return value


def input_failures(props: Mapping[str, Any]) -> list[InputFailure]:
    """`check`: provider and grant mistakes Aperture would accept or reject late, with the fix."""
    failures: list[InputFailure] = []
    providers = props.get("providers")
    if isinstance(providers, Mapping):
        for provider_id, provider in providers.items():
            failures.extend(_provider_failures(str(provider_id), provider))
    elif providers is not None and providers != UNKNOWN:
        failures.append(InputFailure("providers", "providers must be an object of provider id -> provider"))
    grants = props.get("grants")
    if isinstance(grants, list):
        failures.extend(_grant_failures(grants))
    elif grants != UNKNOWN:
        failures.append(
            InputFailure("grants", "grants must be a list: the resource owns the whole Aperture grants list")
        )
    return failures


def _provider_failures(provider_id: str, provider: Any) -> list[InputFailure]:
    if provider == UNKNOWN:
        return []
    if not isinstance(provider, Mapping):
        return [InputFailure("providers", f"providers.{provider_id} must be an object")]
    failures = []
    baseurl = provider.get("baseurl")
    if baseurl == UNKNOWN:
        pass
    elif not isinstance(baseurl, str) or not baseurl:
        failures.append(
            InputFailure(
                "providers",
                f"providers.{provider_id}.baseurl is missing: set the provider's API root, "
                "e.g. http://spark.example.ts.net:8000",
            )
        )
    elif baseurl.rstrip("/").endswith("/v1"):
        root = baseurl.rstrip("/")[: -len("/v1")]
        failures.append(
            InputFailure(
                "providers",
                f"providers.{provider_id}.baseurl {baseurl!r} ends in /v1: Aperture appends the request "
                f"path, so clients would hit /v1/v1/... (404); set it to the API root {root!r}",
            )
        )
    models = provider.get("models")
    if models != UNKNOWN and (
        not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models)
    ):
        failures.append(
            InputFailure(
                "providers",
                f"providers.{provider_id}.models must be a non-empty list of model ids "
                "(as the upstream's /v1/models reports them)",
            )
        )
    return failures


def _grant_failures(grants: list[Any]) -> list[InputFailure]:
    failures = []
    for index, grant in enumerate(grants):
        if grant == UNKNOWN:
            continue
        if not isinstance(grant, Mapping):
            failures.append(InputFailure("grants", f"grants[{index}] must be an object"))
            continue
        if "dst" in grant:
            failures.append(
                InputFailure(
                    "grants",
                    f"grants[{index}] has dst: grants in the Aperture config apply to the gateway "
                    "implicitly; remove dst (it belongs to tailnet policy grants)",
                )
            )
        app = grant.get("app")
        caps = app.get(CAPABILITY) if isinstance(app, Mapping) else None
        if caps == UNKNOWN or app == UNKNOWN:
            continue
        roles = [c.get("role") for c in caps if isinstance(c, Mapping)] if isinstance(caps, list) else []
        if not any(role in ("admin", "user") for role in roles):
            failures.append(
                InputFailure(
                    "grants",
                    f'grants[{index}] has no role: without one Aperture answers 403; add {{"role": "user"}} '
                    f'(or "admin") to app["{CAPABILITY}"]',
                )
            )
    return failures
