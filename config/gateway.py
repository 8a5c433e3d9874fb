"""The gateway section of the stack config: where Aperture is, its grants as configured, and budgets.

Pure module (no Pulumi). What the grants are when none are configured, and whether their `group:`
sources are kept or expanded (`visible_groups`), is decided with the tailnet rules, in one place:
`config.plan.PolicyPlan`; which Aperture quota bucket each grant is charged against is
`config.quota_buckets`.

Budgets are Aperture quota buckets (tailscale.com/docs/aperture/how-to/set-per-user-spending-limits):
an amount in US dollars that refills at a rate, charged with each request's cost. Aperture prices a
self-hosted model at $0 (cost basis "N/A", tailscale.com/docs/aperture/provider-compatibility), so a
budget on it would never run out; `pricedAs` names the hosted model whose per-token price it is
charged at instead (a `model_cost_map` entry of the provider).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from config.fields import SCIM_GROUP_RE, TAG_RE, ConfigModel, is_identity, must_match

AMOUNT_RE = re.compile(r"^\$\d+(\.\d+)?$")
"""An amount in US dollars as Aperture writes it: `$10.00`."""

RATE_RE = re.compile(r"^\$\d+(\.\d+)?/(min|hour|day|week|month)$")
"""A refill rate: `$5.00/day`; a month is 30 days."""

COST_BASES = frozenset(
    {
        "anthropic",
        "openai",
        "google",
        "bedrock",
        "bedrock-us",
        "bedrock-eu",
        "bedrock-ap",
        "vertex",
        "azure",
        "azure-eu",
        "openrouter",
        "vercel",
    }
)
"""Aperture's price lists (`cost_basis`, tailscale.com/docs/aperture/provider-compatibility)."""


class Budget(ConfigModel):
    """A budget: an Aperture quota bucket that each request through a grant is charged against (its tokens at the model's price); empty, it refuses requests until it refills."""

    capacity: str = "$10.00"
    """The most the bucket holds, in US dollars, and what it starts with, e.g. `$10.00`; `$0.00` refuses every request."""

    rate: str = "$5.00/day"
    """How fast it refills, up to `capacity`: `$<amount>/<unit>`, unit `min`, `hour`, `day`, `week` or `month` (30 days)."""

    on_exceed: Literal["reject"] = "reject"
    """What happens when it is spent: `reject`, Aperture answers 429 with `Retry-After` until it refills (Aperture's only choice)."""

    per_user: bool = True
    """One bucket per caller (Aperture's `<user>` template), so each model user has a budget of their own; `false`: one bucket that every caller of the grant shares."""

    @field_validator("capacity")
    @classmethod
    def _capacity(cls, value: str) -> str:
        return must_match(
            AMOUNT_RE, value, "is not an amount in US dollars: write it as Aperture does, e.g. $10.00"
        )

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        return must_match(
            RATE_RE,
            value,
            "is not a refill rate: write $<amount>/<unit> with unit min, hour, day, week or month, e.g. $5.00/day",
        )


class ApertureGrant(ConfigModel):
    """One Aperture grant: who (`src`) gets which role and which models (one glob)."""

    src: Annotated[list[str], Field(min_length=1)]
    """Who: logins, `group:`s (also SCIM groups such as `group:sales@example.com`), `tag:`s or `*`."""

    role: str
    """`admin` or `user`: without a role Aperture answers 403."""

    models: str | None = None
    """One glob on `provider/model`, e.g. `spark/**`; required for role user."""

    quota: Budget | None = None
    """A budget of this grant's own (a bucket of its own), instead of `gateway.quotas`; only for a grant with models."""

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        if value not in ("admin", "user"):
            raise ValueError(f"{value!r} is not an Aperture role: use admin or user")
        return value

    @field_validator("src")
    @classmethod
    def _src(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry != "*" and not (is_identity(entry) or TAG_RE.match(entry) or SCIM_GROUP_RE.match(entry)):
                raise ValueError(
                    f"{entry!r} is not an Aperture grant source: use a login, a group:, a tag: or *"
                )
        return value

    @model_validator(mode="after")
    def _models(self) -> ApertureGrant:
        if self.role == "user" and not self.models:
            raise ValueError(
                "a user grant without models lets nobody call a model (404): set models, e.g. spark/**"
            )
        if self.quota is not None and not self.models:
            raise ValueError(
                "quota on a grant without models charges nothing (it calls no model): remove quota, "
                "or set models, e.g. spark/**"
            )
        return self


class GatewayConfig(ConfigModel):
    """The Aperture gateway: where its admin API is, and who may use which model."""

    url: str = "http://ai"
    """Gateway URL as clients reach it (MagicDNS short name by default); no `/v1`."""

    grants: list[ApertureGrant] | None = None
    """Aperture grants; default: admins get admin, model users get user on every host's models."""

    quotas: Budget | None = None
    """The budget of every grant that gives models (a grant's own `quota` wins): Aperture quota buckets the stack owns; `{}` gives each caller $10.00 that refills at $5.00/day (`sovereign-ai:gateway.quotas` below). Default: no budget."""

    priced_as: str = "openai/gpt-5-mini"
    """What a budget charges per token of the self-hosted models, as `<cost basis>/<model>`: a hosted model on one of Aperture's price lists (Aperture prices a self-hosted model at $0, so a budget would never run out); written into each provider only while a budget applies."""

    visible_groups: bool = False
    """Keep `group:` sources in the Aperture grants and add the `tailscale.com/visible-groups` node attribute for the gateway to the policy file; only for a tailnet where Tailscale has turned group visibility on (see "Groups in Aperture grants"). Default: each group is replaced by its members from `tailnet.groups`."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value.rstrip("/").endswith("/v1"):
            raise ValueError(
                f"{value!r} ends in /v1: give the gateway root (http://ai); clients add /v1 themselves"
            )
        return value.rstrip("/")

    @field_validator("priced_as")
    @classmethod
    def _priced_as(cls, value: str) -> str:
        basis, _, model = value.partition("/")
        if basis not in COST_BASES or not model:
            raise ValueError(
                f"{value!r} is not <cost basis>/<model>: name one of Aperture's price lists "
                f"({', '.join(sorted(COST_BASES))}) and a model on it, e.g. openai/gpt-5-mini"
            )
        return value
