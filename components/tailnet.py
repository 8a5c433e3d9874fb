"""Tailnet: the policy file, MagicDNS, and one single-use auth key per GPU server."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_tailscale as tailscale

from config.model import HostConfig
from config.plan import takeover_problem


@dataclass(frozen=True)
class TailnetArgs:
    """What the tailnet needs: the rendered policy, the hosts to mint keys for, and switches."""

    policy_text: str
    """The whole policy file (HuJSON): the user's base merged with the generated rules and tests."""

    hosts: list[HostConfig]
    """One auth key is minted per host."""

    gpu_tag: str
    """Every key carries this tag, so joined servers are tagged from their first second."""

    key_expiry_seconds: int
    """Auth key lifetime; short, since the key only has to survive the join."""

    magic_dns: bool = True
    """Turn MagicDNS on, so clients reach the gateway by name."""

    overwrite_existing_policy: bool = False
    """Replace a policy file that is not Tailscale's default (else Tailscale answers 412)."""

    reset_on_destroy: bool = False
    """On `pulumi destroy`, reset the policy file to Tailscale's default. Right when the file holds only
    what this stack generated (no base policy): destroy then leaves the tailnet as it was before.
    With a base policy the file is left as written, since a reset would drop the user's own rules."""

    host_tags: Mapping[str, list[str]] = field(default_factory=dict)
    """Tags of the hosts that join with others than `gpu_tag` (a tensor-parallel group's workers)."""


def key_description(host_name: str) -> str:
    """Tailscale limits key descriptions to 50 alphanumeric-ish characters."""
    return f"sovereign-ai {host_name}"[:50]


class Tailnet(pulumi.ComponentResource):
    """The tailnet side of the stack: `tailscale.Acl`, `DnsPreferences`, one `TailnetKey` per host.

    The keys depend on the policy, because Tailscale refuses a tag that no `tagOwners` entry owns.
    Key values are secret outputs.
    """

    policy: tailscale.Acl
    """The policy file resource."""

    auth_keys: dict[str, pulumi.Output[str]]
    """Host name -> its auth key (secret)."""

    def __init__(self, name: str, args: TailnetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sovereign-ai:tailnet:Tailnet", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        live_text = _live_policy(self)
        overwrite = args.overwrite_existing_policy
        policy_text = _guard_takeover(live_text, overwrite, args.policy_text)
        self.policy = tailscale.Acl(
            f"{name}-policy",
            acl=policy_text,
            overwrite_existing_content=args.overwrite_existing_policy,
            reset_acl_on_destroy=args.reset_on_destroy,
            opts=child,
        )
        if args.magic_dns:
            tailscale.DnsPreferences(f"{name}-magicdns", magic_dns=True, opts=child)
        self.auth_keys = {}
        for host in args.hosts:
            key = tailscale.TailnetKey(
                f"{name}-{host.name}-key",
                reusable=False,
                ephemeral=False,
                preauthorized=True,
                expiry=args.key_expiry_seconds,
                tags=list(args.host_tags.get(host.name, [args.gpu_tag])),
                description=key_description(host.name),
                recreate_if_invalid="always",
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[self.policy], additional_secret_outputs=["key"]
                ),
            )
            self.auth_keys[host.name] = pulumi.Output.secret(key.key)
        self.register_outputs({"policy_id": self.policy.id})


UNREACHABLE = ("dial tcp", "no such host", "Client.Timeout", "connection refused")
"""Go's network errors, as the tailscale provider reports them (it prints no hint of its own)."""


def _live_policy(parent: pulumi.Resource) -> str:
    """The tailnet's policy file now, or a clear error (the API unreachable, a bad key) before any change.

    A plain (blocking) invoke, so a failure is one `RunError` line naming the API, not a traceback.
    The provider's own message is Go's (`Get "<url>": dial tcp ...`); an unreachable API also gets
    the hint of where the URL comes from.
    """
    try:
        return str(tailscale.get_acl(opts=pulumi.InvokeOptions(parent=parent)).hujson)
    except Exception as exc:  # the invoke's error carries the provider's message
        message = str(exc).split("returned an error: ", 1)[-1]
        if any(sign in message for sign in UNREACHABLE):
            message += (
                f"\ncannot reach the Tailscale API at {_api_url()}: check tailscale:baseUrl "
                "(or TAILSCALE_BASE_URL) and that the API is up"
            )
        raise pulumi.RunError(f"reading the tailnet's policy file (tailscale.get_acl): {message}") from None


def _api_url() -> str:
    """The API the provider talks to: `tailscale:baseUrl`, else `TAILSCALE_BASE_URL`, else Tailscale's."""
    configured = pulumi.Config("tailscale").get("baseUrl")
    return configured or os.environ.get("TAILSCALE_BASE_URL") or "https://api.tailscale.com"


def _guard_takeover(live_text: str, overwrite: bool, policy_text: str) -> str:
    """The policy to write, or a clear error before anything is written (see `takeover_problem`)."""
    problem = takeover_problem(live_text, overwrite)
    if problem:
        raise pulumi.RunError(problem)
    return policy_text
