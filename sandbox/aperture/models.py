"""State and operations of the Aperture emulator: one config document, its ETag, grants, usage.

Emulates the contract in reference/aperture.md §2 and §4; `app.py` is the HTTP layer. Choices and
sandbox-only additions (the real behaviour is undocumented or needs a tailnet):

- **Identity.** Aperture identifies callers by Tailscale WhoIs. The emulator takes the caller's
  identity from the request header `X-Sandbox-Identity` (a login such as `alice@example.com`, or a
  tagged device's tags sorted and comma-joined, `tag:api,tag:prod`). Without the header the
  `default_identity` given at start applies; `None` means anonymous, which is refused (403) even by
  a `*` grant, as Aperture refuses a caller with no user and no tags. SANDBOX ONLY: a real gateway
  ignores the header.
- **Groups.** `group:<g>` sources resolve through the `groups` mapping given at start (the sandbox
  passes a live view of the emulated tailnet's policy groups, as Aperture asks Tailscale).
- **Redaction.** GET and PUT answers replace every non-empty provider `apikey` with the string
  `REDACTED` (`"<redacted>"`); every other byte of the document is returned as stored.
- **Redacted keys written back.** A PUT whose provider `apikey` is exactly `"<redacted>"` keeps the
  stored key of that provider (or drops `apikey` if none is stored). Aperture documents no such
  rule (read-back "is not guaranteed to be safe to write back"), so clients must not rely on it.
- **ETag.** A quoted hash of the stored text (keys included): an identical save keeps the ETag.
- **Validation** applies Aperture's save rules with warnings as errors (§2.8): invalid HuJSON, empty
  config, unknown top-level keys, provider without baseurl, provider models not a non-empty array of
  non-empty strings, invalid authorization type, grant models pattern naming an undeclared provider,
  unknown grant fields (`dst`), no admin grant and, on PUT only, removing the saver's own admin role.
  Not emulated: macros, quotas, hooks, exporters, MCP/connectors checks, duplicate keys beyond the
  parser's error, "no providers" and "providers but no grants" warnings, `temp_grants` evaluation.
- **Usage** records (identity, provider, model, tokens, status) are kept in memory for every
  request routed to a provider and served at `GET /api/usage` (SANDBOX ONLY; Aperture has no
  usage-log API). With `audit_path`, one JSON line per HTTP request is appended there.
- **Reachability.** `reachable(host, port)` is asked before each upstream call; `False` gives the
  same 502 as a refused connection (the sandbox wires it to the tailnet policy).
- **Inference** is non-streaming `POST /v1/chat/completions` and root `/chat/completions` only.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hujson
from sandbox.aperture import errors

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
"""Top-level keys Aperture knows (reference/aperture.md §2.1); any other is `unknown config key`."""

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
"""The document of a new instance (reference/aperture.md §2.6; the inactive Oso hook grant is
left out because its hook shape is undocumented)."""


def glob_match(pattern: str, name: str) -> bool:
    """Match a grant `models` glob on a `provider/model` name: `*` one segment, `**` zero or more."""
    return _match_segments(pattern.split("/"), name.split("/"))


def _match_segments(pattern: list[str], name: list[str]) -> bool:
    if not pattern:
        return not name
    if pattern[0] == "**":
        return any(_match_segments(pattern[1:], name[i:]) for i in range(len(name) + 1))
    if not name:
        return False
    return fnmatch.fnmatchcase(name[0], pattern[0]) and _match_segments(pattern[1:], name[1:])


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


def _capabilities(grant: Any) -> list[dict[str, Any]]:
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
    grants = document.get("grants", [])
    if not isinstance(grants, list):
        problems.append("grants must be an array")
        grants = []
    for index, grant in enumerate(grants):
        problems.extend(_grant_problems(index, grant, list(providers)))
    if not any(cap.get("role") == "admin" for grant in grants for cap in _capabilities(grant)):
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


def _grant_problems(index: int, grant: Any, provider_ids: list[str]) -> list[str]:
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


@dataclass(frozen=True)
class Access:
    """What the grants give one identity: its highest role and its model patterns."""

    role: str | None
    """`admin`, `user` or None (no role: 403)."""

    patterns: tuple[str, ...]
    """The `models` globs of every matching grant."""

    def allows(self, fqn: str) -> bool:
        """Whether `provider/model` is granted."""
        return any(glob_match(pattern, fqn) for pattern in self.patterns)


def evaluate_grants(document: Any, identity: str | None, groups: Mapping[str, Sequence[str]]) -> Access:
    """The role and model patterns `identity` gets from the document's grants."""
    if identity is None or not isinstance(document, dict):
        return Access(None, ())
    grants = document.get("grants")
    role: str | None = None
    patterns: list[str] = []
    for grant in grants if isinstance(grants, list) else []:
        src = grant.get("src") if isinstance(grant, dict) else None
        if not isinstance(src, list) or not any(_src_matches(s, identity, groups) for s in src):
            continue
        for cap in _capabilities(grant):
            granted = cap.get("role")
            if granted in ROLE_RANK and (role is None or ROLE_RANK[granted] > ROLE_RANK[role]):
                role = granted
            if isinstance(cap.get("models"), str):
                patterns.append(cap["models"])
    return Access(role, tuple(patterns))


def _src_matches(src: Any, identity: str, groups: Mapping[str, Sequence[str]]) -> bool:
    if src == "*" or src == identity:
        return True
    return isinstance(src, str) and src.startswith("group:") and identity in groups.get(src, [])


def _openai_chat(provider: dict[str, Any]) -> bool:
    compatibility = provider.get("compatibility")
    if not isinstance(compatibility, dict):
        return True
    others = any(bool(v) for k, v in compatibility.items() if k != "openai_chat")
    return bool(compatibility.get("openai_chat", not others))


@dataclass(frozen=True)
class Route:
    """Where one inference request goes."""

    provider: str
    """The provider id."""

    model: str
    """The upstream model id (the bare id, also when the client sent `provider/id`)."""

    provider_config: dict[str, Any]
    """The provider's object from the stored document (keys included)."""


@dataclass(frozen=True)
class UsageRecord:
    """One routed inference request, as the dashboard's Logs would show it."""

    identity: str | None
    """The caller (login or tags), None if anonymous."""

    provider: str
    """The provider the request was routed to."""

    model: str
    """The upstream model id."""

    prompt_tokens: int
    """`usage.prompt_tokens` of the upstream answer (0 if absent)."""

    completion_tokens: int
    """`usage.completion_tokens` of the upstream answer (0 if absent)."""

    status: int
    """The status returned to the client (502 when the provider was unreachable)."""


@dataclass(frozen=True)
class UpstreamResponse:
    """The provider's answer, passed back to the client verbatim."""

    status: int
    """The upstream's HTTP status."""

    content_type: str
    """The upstream's Content-Type."""

    body: bytes
    """The upstream's body, unchanged."""


class ApertureBackend:
    """The emulated gateway: one HuJSON document (keys included), usage records, the audit log."""

    def __init__(
        self,
        config: str = DEFAULT_CONFIG,
        *,
        default_identity: str | None = None,
        groups: Mapping[str, Sequence[str]] | None = None,
        audit_path: str | Path | None = None,
        reachable: Callable[[str, int], bool] | None = None,
        upstream_timeout: float = 30.0,
    ) -> None:
        """
        :param config: the initial document (default: a new instance's, `DEFAULT_CONFIG`).
        :param default_identity: identity of requests without `X-Sandbox-Identity` (None: anonymous).
        :param groups: `group:<g>` -> member logins, for grant sources.
        :param audit_path: append one JSON line per HTTP request here.
        :param reachable: asked `(host, port)` before each upstream call; False -> 502.
        """
        self._text = config
        self._etag = compute_etag(config)
        self._lock = threading.Lock()
        self._usage: list[UsageRecord] = []
        self.default_identity = default_identity
        self.groups: Mapping[str, Sequence[str]] = groups if groups is not None else {}
        self.audit_path = Path(audit_path) if audit_path is not None else None
        self.reachable = reachable
        self.upstream_timeout = upstream_timeout
        self.before_write: Callable[[], None] | None = None
        """Test seam: called at the start of every PUT, before the ETag check (e.g. to emulate a
        concurrent writer between a client's GET and PUT)."""

    # -- identity and grants -------------------------------------------------------------------

    def identity(self, header: str | None) -> str | None:
        """The caller: the `X-Sandbox-Identity` header, else the default identity (SANDBOX ONLY)."""
        if header is not None and header.strip():
            return header.strip()
        return self.default_identity

    def access(self, identity: str | None) -> Access:
        """Role and model patterns of `identity` under the current document."""
        with self._lock:
            text = self._text
        return evaluate_grants(hujson.loads(text), identity, self.groups)

    def _require_admin(self, identity: str | None) -> None:
        role = self.access(identity).role
        if role is None:
            raise errors.forbidden_problem(errors.NO_ROLE)
        if role != "admin":
            raise errors.forbidden_problem(errors.ADMIN_REQUIRED)

    # -- /aperture/config --------------------------------------------------------------------

    @property
    def stored_text(self) -> str:
        """The document as stored, keys included (sandbox/tests only; never served)."""
        with self._lock:
            return self._text

    @property
    def etag(self) -> str:
        """The current ETag (quoted)."""
        with self._lock:
            return self._etag

    def get_config(self, identity: str | None) -> tuple[str, str]:
        """`GET /aperture/config`: the redacted document and its ETag."""
        self._require_admin(identity)
        with self._lock:
            text, etag = self._text, self._etag
        return redact(text), etag

    def validate(self, identity: str | None, text: str) -> list[str]:
        """`POST /aperture/config:validate`: the save rules minus lockout; never writes."""
        self._require_admin(identity)
        return validate_config(text)

    def put_config(self, identity: str | None, text: str, if_match: str | None) -> tuple[str, str]:
        """`PUT /aperture/config`: save after the If-Match and validation checks."""
        self._require_admin(identity)
        if self.before_write is not None:
            self.before_write()
        if if_match is None or not if_match.strip():
            raise errors.if_match_required()
        with self._lock:
            candidates = [tag.strip() for tag in if_match.split(",")]
            if self._etag not in candidates and "*" not in candidates:
                raise errors.precondition_failed(if_match.strip(), self._etag)
            problems = validate_config(text)
            if problems:
                raise errors.validation_failed(problems)
            text = restore_redacted(text, self._text)
            before = evaluate_grants(hujson.loads(self._text), identity, self.groups)
            after = evaluate_grants(hujson.loads(text), identity, self.groups)
            if before.role == "admin" and after.role != "admin":
                raise errors.validation_failed([f"this change would remove your own admin role ({identity})"])
            self._text = text
            self._etag = compute_etag(text)
            return redact(text), self._etag

    def replace_document(self, text: str) -> str:
        """Store `text` without any check (sandbox/tests: an out-of-band edit); the new ETag."""
        with self._lock:
            self._text = text
            self._etag = compute_etag(text)
            return self._etag

    # -- inference -----------------------------------------------------------------------------

    def list_models(self, identity: str | None) -> dict[str, Any]:
        """`GET /v1/models`: enabled providers' models the caller's grants allow."""
        access = self.access(identity)
        if access.role is None:
            raise errors.AccessDeniedError()
        providers = hujson.loads(self.stored_text).get("providers") or {}
        data = []
        for provider_id, provider in providers.items():
            if not isinstance(provider, dict) or provider.get("disabled"):
                continue
            for model in provider.get("models") or []:
                if not access.allows(f"{provider_id}/{model}"):
                    continue
                data.append(
                    {
                        "id": model,
                        "object": "model",
                        "supported_endpoints": (["/v1/chat/completions"] if _openai_chat(provider) else []),
                        "metadata": {
                            "provider": {
                                "id": provider_id,
                                "name": provider.get("name", ""),
                                "description": provider.get("description", ""),
                                "requires_client_auth": provider.get("auth_mode") == "passthrough",
                                "upstream": provider.get("upstream", ""),
                            }
                        },
                    }
                )
        return {"object": "list", "data": data}

    def route(self, identity: str | None, model: str) -> Route:
        """Pick the provider for `model` (bare id or `provider/id`); 403 no role, 404 no grant."""
        access = self.access(identity)
        if access.role is None:
            raise errors.AccessDeniedError()
        providers = hujson.loads(self.stored_text).get("providers") or {}
        candidates: list[tuple[str, str]] = []
        head, _, rest = model.partition("/")
        named = providers.get(head) if rest else None
        if isinstance(named, dict) and rest in (named.get("models") or []):
            candidates = [(head, rest)]
        else:
            candidates = [
                (pid, model)
                for pid, provider in providers.items()
                if isinstance(provider, dict) and model in (provider.get("models") or [])
            ]
        usable = [
            (pid, upstream_model)
            for pid, upstream_model in candidates
            if not providers[pid].get("disabled")
            and _openai_chat(providers[pid])
            and access.allows(f"{pid}/{upstream_model}")
        ]
        if not usable:
            raise errors.ModelNotFoundError(model)
        pid, upstream_model = max(
            usable, key=lambda c: (int(providers[c[0]].get("preference") or 0), -usable.index(c))
        )
        return Route(pid, upstream_model, dict(providers[pid]))

    def chat_completion(
        self, identity: str | None, path: str, body: bytes, client_headers: dict[str, str]
    ) -> UpstreamResponse:
        """Route a chat completion, forward it to `baseurl + path` and record its usage."""
        try:
            request = json.loads(body or b"null")
        except json.JSONDecodeError:
            request = None
        if not isinstance(request, dict) or not isinstance(request.get("model"), str):
            # Aperture checks the role before it looks at the body.
            if self.access(identity).role is None:
                raise errors.AccessDeniedError()
            raise errors.BadRequestError('request body must be a JSON object with a "model" string')
        route = self.route(identity, request["model"])
        if route.model != request["model"]:
            request["model"] = route.model
            body = json.dumps(request).encode()
        try:
            response = self._forward(route, path, body, client_headers)
        except errors.ProviderUnreachableError:
            self._record(UsageRecord(identity, route.provider, route.model, 0, 0, 502))
            raise
        prompt, completion = _token_counts(response)
        self._record(UsageRecord(identity, route.provider, route.model, prompt, completion, response.status))
        return response

    def _forward(
        self, route: Route, path: str, body: bytes, client_headers: dict[str, str]
    ) -> UpstreamResponse:
        provider = route.provider_config
        baseurl = str(provider["baseurl"])
        parts = urlsplit(baseurl)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if self.reachable is not None and not self.reachable(host, port):
            raise errors.ProviderUnreachableError(route.provider, baseurl)
        headers = {"Content-Type": "application/json", **_auth_headers(provider, client_headers)}
        for line in provider.get("add_headers") or []:
            name, sep, value = str(line).partition(":")
            if sep:
                headers[name.strip()] = value.strip()
        request = urllib.request.Request(
            baseurl.rstrip("/") + path, data=body, headers=headers, method="POST"
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=self.upstream_timeout) as response:
                return UpstreamResponse(
                    response.status,
                    response.headers.get("Content-Type", "application/json"),
                    response.read(),
                )
        except urllib.error.HTTPError as exc:
            return UpstreamResponse(exc.code, exc.headers.get("Content-Type", "application/json"), exc.read())
        except (urllib.error.URLError, OSError):
            raise errors.ProviderUnreachableError(route.provider, baseurl) from None

    # -- usage and audit -----------------------------------------------------------------------

    def _record(self, record: UsageRecord) -> None:
        with self._lock:
            self._usage.append(record)

    def usage(self) -> list[dict[str, Any]]:
        """Every usage record so far, oldest first (`GET /api/usage`, SANDBOX ONLY)."""
        with self._lock:
            return [asdict(record) for record in self._usage]

    def audit(self, method: str, path: str, identity: str | None, status: int, mutating: bool) -> None:
        """Append one JSON line for an HTTP request to `audit_path`, if set."""
        if self.audit_path is None:
            return
        line = json.dumps(
            {
                "service": "aperture",
                "method": method,
                "path": path,
                "mutating": mutating,
                "identity": identity,
                "status": status,
            }
        )
        with self._lock, self.audit_path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def _auth_headers(provider: dict[str, Any], client_headers: dict[str, str]) -> dict[str, str]:
    mode = provider.get("auth_mode") or "override"
    if mode == "none":
        return {}
    if mode == "passthrough":
        passed = {k: v for k, v in client_headers.items() if k.lower() in ("authorization", "x-api-key")}
        if passed:
            return passed
    key = provider.get("apikey")
    if not isinstance(key, str) or not key:
        return {}
    authorization = provider.get("authorization") or "bearer"
    if authorization == "x-api-key":
        return {"x-api-key": key}
    if authorization == "x-goog-api-key":
        return {"x-goog-api-key": key}
    return {"Authorization": f"Bearer {key}"}


def _token_counts(response: UpstreamResponse) -> tuple[int, int]:
    try:
        usage = json.loads(response.body).get("usage") or {}
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    except (ValueError, AttributeError, TypeError):
        return 0, 0
