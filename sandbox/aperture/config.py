"""The Aperture config document: its rules on save, the redaction of keys, the ETag.

Emulates the rules of the real gateway (docs/architecture.md §10.2). Choices where the real behaviour
is undocumented:

- **Redaction.** GET and PUT answers replace every non-empty provider `apikey` with the string
  `REDACTED` (`"<redacted>"`); every other byte of the document is returned as stored.
- **Redacted keys written back.** A PUT whose provider `apikey` is exactly `"<redacted>"` keeps the
  stored key of that provider (or drops `apikey` if none is stored). Aperture documents no such
  rule (read-back "is not guaranteed to be safe to write back"), so clients must not rely on it.
- **ETag.** A quoted hash of the stored text (keys included): an identical save keeps the ETag.
- **Validation** applies Aperture's save rules with warnings as errors: invalid HuJSON, empty
  config, unknown top-level keys, provider without baseurl, provider models not a non-empty array of
  non-empty strings, invalid authorization type, grant models pattern naming an undeclared provider,
  unknown grant fields (`dst`), invalid quotas and bucket templates (`quotas.py`), a grant's `quotas`
  naming an undefined quota, no admin grant and, on PUT only (models.py), removing the saver's own
  admin role. Not emulated: macros, hooks, exporters, MCP/connectors checks, duplicate keys
  beyond the parser's error, "no providers" and "providers but no grants" warnings, `temp_grants`
  evaluation.
"""

from __future__ import annotations

import fnmatch
import hashlib
from typing import Any

import hujson
from sandbox.aperture.quotas import quota_problems

REDACTED = "<redacted>"
"""What GET and PUT answers show instead of a provider's `apikey`."""

CAPABILITY = "tailscale.com/cap/aperture"
"""The grant `app` key whose capability objects Aperture evaluates."""

KNOWN_KEYS = frozenset(
    {
        "providers",
        "grants",
        "temp_grants",
        "quotas",
        "hooks",
        "exporters",
        "auto_cost_basis",
        "mcp",
        "connectors",
        "database",
        "chat_models",
        "flags",
    }
)
"""Top-level keys Aperture knows (docs/architecture.md §10.2); any other is `unknown config key`."""

AUTHORIZATION_TYPES = frozenset({"bearer", "x-api-key", "x-goog-api-key", "hec", "cf-aig-authorization"})
"""Accepted `providers.<id>.authorization` values."""

ROLE_RANK = {"user": 1, "admin": 2}
"""Highest role wins."""

GRANT_FIELDS = frozenset({"src", "app"})
"""The fields of a grant in the Aperture config (`dst` and `ip` belong to the tailnet policy)."""

DEFAULT_CONFIG = """{
  // A new Aperture instance: everyone is admin and may use every model.
  // Replace the placeholder keys and narrow the grants.
  "providers": {
    "openai": {
      "baseurl": "https://api.openai.com",
      "apikey": "YOUR_OPENAI_API_KEY",
      "models": ["gpt-5", "gpt-5-mini"],
      "compatibility": { "openai_chat": true, "openai_responses": true },
    },
    "anthropic": {
      "baseurl": "https://api.anthropic.com",
      "apikey": "YOUR_ANTHROPIC_API_KEY",
      "authorization": "x-api-key",
      "models": ["claude-sonnet-4-5", "claude-haiku-4-5"],
      "compatibility": { "openai_chat": false, "anthropic_messages": true },
    },
  },
  "grants": [
    {
      "src": ["*"],
      "app": {
        "tailscale.com/cap/aperture": [
          { "role": "admin" },
          { "role": "user" },
          { "models": "**" },
        ],
      },
    },
  ],
}
"""
"""The document of a new instance (docs/architecture.md §10.2; the inactive Oso hook grant is
left out because its hook shape is undocumented)."""


def compute_etag(text: str) -> str:
    """The quoted ETag of a stored document."""
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:20] + '"'


def _providers_node(root: hujson.Node) -> hujson.Node | None:
    member = root.member("providers")
    if member is None or not isinstance(member.value.value, dict):
        return None
    return member.value


def redact(text: str) -> str:
    """Replace every non-empty provider `apikey` value with `REDACTED`; other bytes unchanged."""
    for provider_id in list(_provider_ids(text)):
        root = hujson.parse(text)
        providers = _providers_node(root)
        assert providers is not None
        member = providers.member(provider_id)
        if member is None or not isinstance(member.value.value, dict):
            continue
        key = member.value.value.get("apikey")
        if isinstance(key, str) and key and key != REDACTED:
            text = hujson.replace_member(text, member.value, "apikey", REDACTED)
    return text


def _provider_ids(text: str) -> list[str]:
    providers = _providers_node(hujson.parse(text))
    return [] if providers is None else [m.key for m in providers.members]


def restore_redacted(text: str, stored: str) -> str:
    """Put the stored key back where a PUT sends `REDACTED` (emulator choice, see module doc)."""
    try:
        stored_providers = hujson.loads(stored).get("providers") or {}
    except (hujson.HuJSONError, AttributeError):
        stored_providers = {}
    for provider_id in _provider_ids(text):
        providers = _providers_node(hujson.parse(text))
        assert providers is not None
        member = providers.member(provider_id)
        if member is None or not isinstance(member.value.value, dict):
            continue
        if member.value.value.get("apikey") != REDACTED:
            continue
        old = stored_providers.get(provider_id)
        old_key = old.get("apikey") if isinstance(old, dict) else None
        if isinstance(old_key, str) and old_key:
            text = hujson.replace_member(text, member.value, "apikey", old_key)
        else:
            text = hujson.remove_member(text, member.value, "apikey")
    return text


def capabilities(grant: Any) -> list[dict[str, Any]]:
    """The capability objects of a grant's `tailscale.com/cap/aperture` app (anything else skipped)."""
    if not isinstance(grant, dict):
        return []
    app = grant.get("app")
    caps = app.get(CAPABILITY) if isinstance(app, dict) else None
    return [cap for cap in caps if isinstance(cap, dict)] if isinstance(caps, list) else []


def validate_config(text: str) -> list[str]:
    """Aperture's save rules (warnings as errors), except the lockout check; [] when valid."""
    if not text.strip():
        return ["config must not be empty"]
    try:
        document = hujson.loads(text)
    except hujson.HuJSONError as exc:
        if str(exc).endswith("empty document"):
            return ["config must not be empty"]
        return [f"invalid HuJSON: {exc}"]
    if not isinstance(document, dict):
        return ["config must be a JSON object"]
    problems = [f'unknown config key "{key}"' for key in document if key not in KNOWN_KEYS]
    providers = document.get("providers", {})
    if not isinstance(providers, dict):
        problems.append("providers must be an object of provider id to provider")
        providers = {}
    for provider_id, provider in providers.items():
        problems.extend(_provider_problems(provider_id, provider))
    problems.extend(quota_problems(document))
    quotas = document.get("quotas")
    quota_names = list(quotas) if isinstance(quotas, dict) else []
    grants = document.get("grants", [])
    if not isinstance(grants, list):
        problems.append("grants must be an array")
        grants = []
    for index, grant in enumerate(grants):
        problems.extend(_grant_problems(index, grant, list(providers), quota_names))
    if not any(cap.get("role") == "admin" for grant in grants for cap in capabilities(grant)):
        problems.append("no grant assigns role admin")
    return problems


def _provider_problems(provider_id: str, provider: Any) -> list[str]:
    if not isinstance(provider, dict):
        return [f"provider {provider_id} must be an object"]
    problems = []
    baseurl = provider.get("baseurl")
    if not isinstance(baseurl, str) or not baseurl:
        problems.append(f"provider {provider_id} has no baseurl configured")
    models = provider.get("models")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
        problems.append(f"provider {provider_id} models must be a non-empty array of non-empty strings")
    authorization = provider.get("authorization")
    if authorization is not None and authorization not in AUTHORIZATION_TYPES:
        problems.append(f"provider {provider_id} has invalid authorization type: {authorization}")
    return problems


def _quota_reference_problems(index: int, cap: dict[str, Any], quota_names: list[str]) -> list[str]:
    """A capability object's `quotas`: a list of `{"bucket": "<a defined quota>"}`."""
    refs = cap.get("quotas")
    if refs is None:
        return []
    if not isinstance(refs, list) or not all(
        isinstance(r, dict) and isinstance(r.get("bucket"), str) for r in refs
    ):
        return [f'grants[{index}]: quotas must be an array of {{"bucket": "<name>"}}']
    return [
        f'grants[{index}]: quotas references undefined quota "{ref["bucket"]}"'
        for ref in refs
        if ref["bucket"] not in quota_names
    ]


def _grant_problems(index: int, grant: Any, provider_ids: list[str], quota_names: list[str]) -> list[str]:
    if not isinstance(grant, dict):
        return [f"grants[{index}] must be an object"]
    problems = [f'grants[{index}]: unknown grant field "{key}"' for key in grant if key not in GRANT_FIELDS]
    src = grant.get("src")
    if not isinstance(src, list) or not src or not all(isinstance(s, str) and s for s in src):
        problems.append(f"grants[{index}]: src must be a non-empty array of strings")
    app = grant.get("app")
    if not isinstance(app, dict):
        problems.append(f"grants[{index}]: app must be an object")
        return problems
    caps = app.get(CAPABILITY, [])
    if not isinstance(caps, list) or not all(isinstance(cap, dict) for cap in caps):
        problems.append(f"grants[{index}]: {CAPABILITY} must be an array of objects")
        return problems
    for cap in caps:
        role = cap.get("role")
        if role is not None and role not in ROLE_RANK:
            problems.append(f'grants[{index}]: invalid role "{role}"')
        problems.extend(_quota_reference_problems(index, cap, quota_names))
        pattern = cap.get("models")
        if pattern is None:
            continue
        if not isinstance(pattern, str) or not pattern:
            problems.append(f"grants[{index}]: models must be one glob pattern string")
            continue
        head = pattern.split("/", 1)[0]
        if head != "**" and not any(fnmatch.fnmatchcase(pid, head) for pid in provider_ids):
            problems.append(
                f'models pattern "{pattern}" references provider "{head}" '
                "which does not match any declared provider"
            )
    return problems
