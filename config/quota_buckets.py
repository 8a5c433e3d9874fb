"""Which Aperture quota bucket each grant is charged against, and the buckets the stack declares.

Pure module (no Pulumi). A budget (`config.gateway.Budget`) becomes one Aperture quota,
`{"capacity", "rate", "on_exceed"}`, under a name the stack owns: `sovereign-ai` for
`gateway.quotas` (the budget of every grant that gives models), `sovereign-ai-grant<i>` for the
own `quota` of the Aperture grant at index i; with `<user>` appended (`sovereign-ai:<user>`) when
it is per user, so that Aperture keeps a bucket per caller, `sovereign-ai:alice@example.com`
(tailscale.com/docs/aperture/how-to/set-per-user-spending-limits). A grant references its bucket
from the capability object that carries its `models`, so the bucket is charged for those models
only; a grant without models has none.

A bucket is inert until a grant references it, and a budget on a self-hosted model means nothing
until the model has a price: `pricing` gives a provider the `cost_basis` and `model_cost_map`
entry (`as` a hosted model, `config.gateway.GatewayConfig.priced_as`) that make its tokens cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from config.gateway import ApertureGrant, Budget

BUCKET_PREFIX = "sovereign-ai"
"""The start of every bucket name the stack declares."""

USER_TEMPLATE = "<user>"
"""Aperture's bucket-name template for the caller's login."""


@dataclass(frozen=True)
class Bucket:
    """One bucket the stack declares: its name (a template when per user) and its budget."""

    name: str
    """E.g. `sovereign-ai:<user>` or `sovereign-ai-grant2`."""

    budget: Budget

    def quota(self) -> dict[str, str]:
        """The bucket as Aperture's config document writes it under `quotas.<name>`."""
        return {
            "capacity": self.budget.capacity,
            "rate": self.budget.rate,
            "on_exceed": self.budget.on_exceed,
        }

    def reference(self) -> dict[str, str]:
        """How a grant's capability object refers to it, in its `quotas` list."""
        return {"bucket": self.name}


def bucket_name(base: str, budget: Budget) -> str:
    """`base`, or `base:<user>` for a budget per user."""
    return f"{base}:{USER_TEMPLATE}" if budget.per_user else base


def grant_buckets(grants: Sequence[ApertureGrant], default: Budget | None) -> list[Bucket | None]:
    """For each grant (in Aperture's order), the bucket it is charged against, or None.

    A grant's own `quota` gets a bucket of its own; any other grant that gives models gets the
    default budget's bucket; a grant without models gets none.
    """
    found: list[Bucket | None] = []
    for index, grant in enumerate(grants):
        if grant.quota is not None:
            found.append(Bucket(bucket_name(f"{BUCKET_PREFIX}-grant{index}", grant.quota), grant.quota))
        elif grant.models and default is not None:
            found.append(Bucket(bucket_name(BUCKET_PREFIX, default), default))
        else:
            found.append(None)
    return found


def declared_quotas(buckets: Sequence[Bucket | None]) -> dict[str, dict[str, str]]:
    """The `quotas` the stack declares: each bucket once, by name."""
    return {bucket.name: bucket.quota() for bucket in buckets if bucket is not None}


def pricing(model_id: str, priced_as: str) -> dict[str, Any]:
    """A provider's price for `model_id`: each token costs what it costs for `priced_as`
    (`<cost basis>/<model>`). `match` is a Go `path.Match` pattern, so glob characters are escaped."""
    basis, _, model = priced_as.partition("/")
    match = "".join(f"\\{char}" if char in "*?[\\" else char for char in model_id)
    return {"cost_basis": basis, "model_cost_map": [{"match": match, "as": model, "adjustment": 1.0}]}
