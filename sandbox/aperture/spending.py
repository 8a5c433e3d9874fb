"""The gateway's spending: which quota buckets a request is charged against, and their balances.

Ties the caller's grants (`grants.Access.buckets`), the document's quotas (`quotas.definitions`)
and prices (`pricing.request_cost`) to the balances (`quotas.Buckets`), for `ApertureBackend`:
`admit` before a request is forwarded (429 while a rejecting bucket is spent), `charge` once its
usage is known, and the two endpoints of tailscale.com/docs/aperture/how-to/check-and-refill-budgets:

- `GET /api/quotas` (`listing`), any role: each bucket's name, balance, capacity and refill rate.
  Admins see every bucket (those of templates once they exist), others the buckets their grants
  charge them. The answer is a JSON array (its shape is not documented; `/api/providers` answers an
  array too).
- `POST /api/quotas/refill` (`refill`), admins only: `{"bucket": "daily:alice@example.com",
  "amount": "$5.00"}` adds the amount, never above the capacity; answers the bucket's status.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from sandbox.aperture import errors
from sandbox.aperture.grants import Access
from sandbox.aperture.pricing import request_cost
from sandbox.aperture.quotas import (
    TEMPLATES,
    Buckets,
    Quota,
    definition_for,
    definitions,
    expand,
    parse_amount,
)

Charged = list[tuple[str, Quota]]
"""The buckets of one request: (bucket name for this caller, its quota)."""


class Spending:
    """Quota buckets and their balances for one gateway; `clock` gives seconds (tests pass their own)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.buckets = Buckets(clock)

    @staticmethod
    def charged(
        document: Mapping[str, Any], access: Access, identity: str, fqn: str | None = None
    ) -> Charged:
        """The buckets `identity` is charged for `provider/model` (for any model when `fqn` is None)."""
        defined = definitions(document)
        return [(expand(name, identity), defined[name]) for name in access.buckets(fqn) if name in defined]

    def admit(self, charged: Charged) -> None:
        """Raise 429 (`errors.QuotaExceededError`) while a rejecting bucket of the request is spent."""
        found = self.buckets.retry_after(charged)
        if found is None:
            return
        wait, name = found
        raise errors.quota_exceeded(name, self.buckets.status(name, dict(charged)[name]), wait)

    def charge(
        self,
        charged: Charged,
        provider: Mapping[str, Any],
        model: str,
        tokens: tuple[int, int],
        auto_cost_basis: bool,
    ) -> Decimal:
        """Charge each bucket the request's cost (`tokens`: prompt, completion); the cost."""
        cost = request_cost(provider, model, tokens[0], tokens[1], auto_cost_basis)
        if charged and cost:
            self.buckets.charge(charged, cost)
        return cost

    def listing(self, document: Mapping[str, Any], access: Access, identity: str) -> list[dict[str, Any]]:
        """`GET /api/quotas`: the buckets the caller may see, with their balances."""
        if access.role is None:
            raise errors.access_denied()
        shown = dict(self.charged(document, access, identity))
        if access.role == "admin":
            defined = definitions(document)
            shown |= {name: q for name, q in defined.items() if not any(t in name for t in TEMPLATES)}
            for bucket in self.buckets.existing():
                found = definition_for(bucket, defined)
                if found is not None:
                    shown[bucket] = found[1]
        return [self.buckets.status(name, quota) for name, quota in sorted(shown.items())]

    def refill(self, document: Mapping[str, Any], access: Access, body: Any) -> dict[str, Any]:
        """`POST /api/quotas/refill` (admin): add `amount` to `bucket`, up to its capacity."""
        if access.role is None:
            raise errors.access_denied()
        if access.role != "admin":
            raise errors.admin_required()
        if not isinstance(body, dict) or not isinstance(body.get("bucket"), str):
            raise errors.BadRequestError('expected {"bucket": "<name>", "amount": "$5.00"}')
        try:
            amount = parse_amount(body.get("amount"))
        except ValueError as exc:
            raise errors.BadRequestError(f"amount: {exc}") from None
        found = definition_for(body["bucket"], definitions(document))
        if found is None:
            raise errors.NotFoundError(f'no quota bucket "{body["bucket"]}"')
        self.buckets.refill(body["bucket"], found[1], amount)
        return self.buckets.status(body["bucket"], found[1])
