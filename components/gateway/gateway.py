"""Gateway: the Aperture config that routes the models and decides who may call them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi

from components.gateway.aperture_config import ApertureConfig
from config.fields import API_KEY_PLACEHOLDER
from config.gateway import ApertureGrant
from config.model import HostConfig
from config.quota_buckets import Bucket, declared_quotas, pricing

APERTURE_CAPABILITY = "tailscale.com/cap/aperture"


def aperture_grants(
    grants: Sequence[ApertureGrant], buckets: Sequence[Bucket | None] = ()
) -> list[dict[str, Any]]:
    """Config grants in Aperture's shape: one capability object for the role, one for the models,
    which also names the grant's quota bucket (`buckets[i]`, `config.quota_buckets`), if any."""
    out = []
    for index, grant in enumerate(grants):
        capabilities: list[dict[str, Any]] = [{"role": grant.role}]
        bucket = buckets[index] if index < len(buckets) else None
        if grant.models:
            models: dict[str, Any] = {"models": grant.models}
            if bucket is not None:
                models["quotas"] = [bucket.reference()]
            capabilities.append(models)
        out.append({"src": list(grant.src), "app": {APERTURE_CAPABILITY: capabilities}})
    return out


def provider_entry(host: HostConfig, base_url: str, api_key: str | None) -> dict[str, Any]:
    """One Aperture provider for one host: base URL without `/v1`, the served id, a key or placeholder."""
    return {
        "baseurl": base_url.rstrip("/"),
        "models": [host.model_id],
        "apikey": api_key or API_KEY_PLACEHOLDER,
        "compatibility": {"openai_chat": True},
    }


def _entry(
    host: HostConfig, base_url: pulumi.Input[str], api_key: pulumi.Input[str] | None, price: Mapping[str, Any]
) -> pulumi.Output[dict[str, Any]]:
    """The provider entry of `host`, with its `price` (`config.quota_buckets.pricing`) while a budget applies."""
    return pulumi.Output.all(base_url, api_key).apply(lambda v: {**provider_entry(host, v[0], v[1]), **price})


@dataclass(frozen=True)
class GatewayArgs:
    """The hosts to route to (with their tailnet base URLs), the grants, and the provider key."""

    hosts: list[HostConfig]
    base_urls: Mapping[str, pulumi.Input[str]]
    """Host name -> `http://<tailnet-ip>:<port>` (or the host's configured baseUrl)."""

    grants: list[ApertureGrant]
    environment: str
    api_key: pulumi.Input[str] | None = None
    """Key Aperture sends to vLLM (vLLM's `--api-key`); the placeholder when vLLM has none."""

    buckets: Sequence[Bucket | None] = ()
    """For each grant, the quota bucket it is charged against (`PolicyPlan.buckets`)."""

    priced_as: str | None = None
    """`gateway.pricedAs`: what a token of the self-hosted models costs against a budget."""

    after: Sequence[pulumi.Resource] = ()
    """Steps the config write waits for: the rolling groups' restores (`Rollout.restores`), so the
    providers are written once a roll is over; none without a rolling group."""


class Gateway(pulumi.ComponentResource):
    """The Aperture gateway's config: one provider per host, the whole grants list, and the quota
    buckets the grants are charged against."""

    config: ApertureConfig
    """The dynamic resource (`pulumi-python:dynamic/aperture:Config`)."""

    effective_grants: pulumi.Output[list[Any]]
    """Grants in force after the write, read back from Aperture."""

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sovereign-ai:gateway:Gateway", name, None, opts)
        quotas = declared_quotas(args.buckets)
        priced_as = args.priced_as if quotas else None  # a price matters only while a budget applies
        entries = {
            host.name: _entry(
                host,
                args.base_urls[host.name],
                args.api_key,
                pricing(host.model_id, priced_as) if priced_as else {},
            )
            for host in args.hosts
        }
        providers: pulumi.Output[Any] = pulumi.Output.secret(cast(Any, pulumi.Output.all(**entries)))
        self.config = ApertureConfig(
            f"{name}-config",
            {
                "providers": providers,
                "grants": aperture_grants(args.grants, args.buckets),
                "quotas": quotas,
                "environment": args.environment,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
        )
        self.effective_grants = self.config.effective_grants
        self.register_outputs({"effective_grants": self.effective_grants})
