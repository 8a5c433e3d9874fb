"""State and operations of the Aperture emulator: one config document, its ETag, grants, usage.

Emulates the contract of Tailscale's Aperture AI gateway (docs/architecture.md §10.2); `app.py` is
the HTTP layer, `errors.py` the error bodies. The document's rules (redaction, ETag, validation) are
in `config.py`, grant evaluation in `grants.py`, forwarding to providers in `upstream.py`; this module
holds `ApertureBackend`, which ties them together, and re-exports their public names. Choices and
sandbox-only additions (the real behaviour is undocumented or needs a tailnet):

- **Identity.** Aperture identifies callers by Tailscale WhoIs. The emulator takes the caller's
  identity from the request header `X-Sandbox-Identity` (a login such as `alice@example.com`, or a
  tagged device's tags sorted and comma-joined, `tag:api,tag:prod`). Without the header the
  `default_identity` given at start applies; `None` means anonymous, which is refused (403) even by
  a `*` grant, as Aperture refuses a caller with no user and no tags. SANDBOX ONLY: a real gateway
  ignores the header.
- **Groups.** `group:<g>` sources resolve through the `groups` mapping given at start: the groups
  the gateway can see, each with its members. Real Aperture sees a group only through a
  `tailscale.com/visible-groups` node attribute on a tailnet with that feature, so the sandbox
  passes a live view of exactly those (sandbox/reachability.py `VisibleGroups`); any other group
  matches nobody, and its members get 403 `access denied: no role granted`.
- **Lockout.** A PUT that would remove the saver's own admin role is refused (422); validate does
  not check it.
- **Usage** records (identity, provider, model, tokens, cost, status) are kept in memory for every
  request routed to a provider and served at `GET /api/usage` (SANDBOX ONLY; Aperture has no
  usage-log API). With `audit_path`, one JSON line per HTTP request is appended there.
- **Budgets.** Quota buckets are checked before a request is forwarded (429 with `Retry-After`
  while a rejecting one is spent) and charged its cost after (`spending.py`, `quotas.py`,
  `pricing.py`); `GET /api/quotas` and `POST /api/quotas/refill` serve their balances.
- **Reachability.** `reachable(host, port)` is asked before each upstream call; `False` gives the
  same 502 as a refused connection (the sandbox wires it to the tailnet policy).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import hujson
from sandbox.aperture import errors
from sandbox.aperture.config import (
    AUTHORIZATION_TYPES,
    CAPABILITY,
    DEFAULT_CONFIG,
    GRANT_FIELDS,
    KNOWN_KEYS,
    REDACTED,
    ROLE_RANK,
    compute_etag,
    redact,
    restore_redacted,
    validate_config,
)
from sandbox.aperture.grants import Access, evaluate_grants, glob_match
from sandbox.aperture.quotas import format_amount
from sandbox.aperture.spending import Spending
from sandbox.aperture.upstream import (
    Route,
    UpstreamResponse,
    UsageRecord,
    forward,
    openai_chat,
    token_counts,
)
from sandbox.audit import AuditLog, request_entry

__all__ = [
    "AUTHORIZATION_TYPES",
    "CAPABILITY",
    "DEFAULT_CONFIG",
    "GRANT_FIELDS",
    "KNOWN_KEYS",
    "REDACTED",
    "ROLE_RANK",
    "Access",
    "ApertureBackend",
    "Route",
    "UpstreamResponse",
    "UsageRecord",
    "compute_etag",
    "evaluate_grants",
    "glob_match",
    "redact",
    "restore_redacted",
    "validate_config",
]


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
        clock: Callable[[], float] = time.time,
    ) -> None:
        """
        :param config: the initial document (default: a new instance's, `DEFAULT_CONFIG`).
        :param default_identity: identity of requests without `X-Sandbox-Identity` (None: anonymous).
        :param groups: `group:<g>` -> member logins of the groups the gateway can see (others match nobody).
        :param audit_path: append one JSON line per HTTP request here.
        :param reachable: asked `(host, port)` before each upstream call; False -> 502.
        :param clock: seconds, for the quota buckets' refill (tests pass their own).
        """
        self._text = config
        self._etag = compute_etag(config)
        self._lock = threading.Lock()
        self._usage: list[UsageRecord] = []
        self.default_identity = default_identity
        self.groups: Mapping[str, Sequence[str]] = groups if groups is not None else {}
        self._audit = AuditLog(audit_path)
        self.audit_path = self._audit.path
        self.reachable = reachable
        self.upstream_timeout = upstream_timeout
        self.spending = Spending(clock)
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
            raise errors.access_denied()
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
                        "supported_endpoints": (["/v1/chat/completions"] if openai_chat(provider) else []),
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
            raise errors.access_denied()
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
            and openai_chat(providers[pid])
            and access.allows(f"{pid}/{upstream_model}")
        ]
        if not usable:
            raise errors.model_not_found(model)
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
                raise errors.access_denied()
            raise errors.BadRequestError('request body must be a JSON object with a "model" string')
        route = self.route(identity, request["model"])
        assert identity is not None  # route() refused an anonymous caller
        document = hujson.loads(self.stored_text)
        charged = self.spending.charged(document, self.access(identity), identity, route.fqn)
        self.spending.admit(charged)
        if route.model != request["model"]:
            request["model"] = route.model
            body = json.dumps(request).encode()
        try:
            response = forward(route, path, body, client_headers, self.reachable, self.upstream_timeout)
        except errors.ProviderUnreachableError:
            self._record(UsageRecord(identity, route.provider, route.model, 0, 0, 502))
            raise
        tokens = token_counts(response)
        auto = document.get("auto_cost_basis", True) is not False
        cost = self.spending.charge(charged, route.provider_config, route.model, tokens, auto)
        self._record(
            UsageRecord(identity, route.provider, route.model, *tokens, response.status, format_amount(cost))
        )
        return response

    # -- budgets -------------------------------------------------------------------------------

    def quotas(self, identity: str | None) -> list[dict[str, Any]]:
        """`GET /api/quotas`: the buckets the caller may see (any role), with their balances."""
        access = self.access(identity)
        if identity is None:
            raise errors.access_denied()
        return self.spending.listing(hujson.loads(self.stored_text), access, identity)

    def refill(self, identity: str | None, body: Any) -> dict[str, Any]:
        """`POST /api/quotas/refill` (admin): add to one bucket, up to its capacity."""
        return self.spending.refill(hujson.loads(self.stored_text), self.access(identity), body)

    # -- usage and audit -----------------------------------------------------------------------

    def _record(self, record: UsageRecord) -> None:
        with self._lock:
            self._usage.append(record)

    def usage(self) -> list[dict[str, Any]]:
        """Every usage record so far, oldest first (`GET /api/usage`, SANDBOX ONLY)."""
        with self._lock:
            return [asdict(record) for record in self._usage]

    def audit(self, method: str, path: str, identity: str | None, status: int, mutating: bool) -> None:
        """Append one JSON line for an HTTP request to `audit_path`, if set (sandbox/audit.py)."""
        self._audit.write(request_entry("aperture", method, path, mutating, identity, status))
