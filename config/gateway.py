"""The gateway section of the stack config: where Aperture is, and its grants as configured.

Pure module (no Pulumi). What the grants are when none are configured, and whether their `group:`
sources are kept or expanded (`visible_groups`), is decided with the tailnet rules, in one place:
`config.plan.PolicyPlan`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from config.fields import SCIM_GROUP_RE, TAG_RE, ConfigModel, is_identity


class ApertureGrant(ConfigModel):
    """One Aperture grant: who (`src`) gets which role and which models (one glob)."""

    src: Annotated[list[str], Field(min_length=1)]
    """Who: logins, `group:`s (also SCIM groups such as `group:sales@example.com`), `tag:`s or `*`."""

    role: str
    """`admin` or `user`: without a role Aperture answers 403."""

    models: str | None = None
    """One glob on `provider/model`, e.g. `spark/**`; required for role user."""

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
        return self


class GatewayConfig(ConfigModel):
    """The Aperture gateway: where its admin API is, and who may use which model."""

    url: str = "http://ai"
    """Gateway URL as clients reach it (MagicDNS short name by default); no `/v1`."""

    grants: list[ApertureGrant] | None = None
    """Aperture grants; default: admins get admin, model users get user on every host's models."""

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
