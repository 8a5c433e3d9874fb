"""Gateway: the Aperture config that routes the models and decides who may call them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import pulumi

from components.gateway.aperture_config import ApertureConfig
from config.fields import API_KEY_PLACEHOLDER
from config.gateway import ApertureGrant
from config.model import HostConfig

APERTURE_CAPABILITY = "tailscale.com/cap/aperture"


def aperture_grants(grants: list[ApertureGrant]) -> list[dict[str, Any]]:
    """Config grants in Aperture's shape: one capability object for the role, one for the models."""
    out = []
    for grant in grants:
        capabilities: list[dict[str, str]] = [{"role": grant.role}]
        if grant.models:
            capabilities.append({"models": grant.models})
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
    host: HostConfig, base_url: pulumi.Input[str], api_key: pulumi.Input[str] | None
) -> pulumi.Output[dict[str, Any]]:
    return pulumi.Output.all(base_url, api_key).apply(lambda v: provider_entry(host, v[0], v[1]))


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


class Gateway(pulumi.ComponentResource):
    """The Aperture gateway's config: one provider per host and the whole grants list."""

    config: ApertureConfig
    """The dynamic resource (`pulumi-python:dynamic/aperture:Config`)."""

    effective_grants: pulumi.Output[list[Any]]
    """Grants in force after the write, read back from Aperture."""

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sovereign-ai:gateway:Gateway", name, None, opts)
        entries = {host.name: _entry(host, args.base_urls[host.name], args.api_key) for host in args.hosts}
        providers: pulumi.Output[Any] = pulumi.Output.secret(cast(Any, pulumi.Output.all(**entries)))
        self.config = ApertureConfig(
            f"{name}-config",
            {
                "providers": providers,
                "grants": aperture_grants(args.grants),
                "environment": args.environment,
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.effective_grants = self.config.effective_grants
        self.register_outputs({"effective_grants": self.effective_grants})
