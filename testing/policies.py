"""Calling a policy's `validate` the way pulumi-policy's analyzer does, and collecting what it reports.

Props are wrapped in `unknown_checking_proxy` as the analyzer wraps them, so a value set to one of
the `UNKNOWN_*` sentinels behaves as a preview-unknown value. Stack config reaches the policies as
it does in a real run: through `PULUMI_CONFIG`.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Mapping
from inspect import isawaitable
from typing import Any

import pytest
from pulumi.runtime import config as runtime_config
from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from config.model import parse_config
from config.plan import policy_for
from tailnet_policy.policy_file import PolicyFile, render

STACK = "prod"
PROJECT = "sovereign-ai"

CONFIG: dict[str, Any] = {
    "environment": "production",
    "tailnet": {
        "admins": ["admin@example.com"],
        "modelUsers": ["group:ai-users"],
        "groups": {"group:ai-users": ["alice@example.com", "bob@example.com"]},
    },
    "hosts": [
        {
            "name": "spark",
            "address": "192.168.1.50",
            "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfSpark",
        }
    ],
}
"""The happy-path stack config (as `pulumi config` holds it: camelCase, objects as JSON)."""

SECRETS = {"sovereign-ai:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA=\n"}

PRODUCTION_ONLY = "sovereign-ai:environment is development; this rule applies to production stacks only"
"""The reason a production-only policy gives for not applying to a development stack."""


def set_stack_config(
    monkeypatch: pytest.MonkeyPatch,
    config: Mapping[str, Any] | None,
    secrets: Mapping[str, str] | None = None,
) -> None:
    """Make `config` (or no config at all) the stack config, as the engine passes it."""
    runtime_config.set_all_config({})
    if config is None and not secrets:
        monkeypatch.delenv("PULUMI_CONFIG", raising=False)
        return
    env: dict[str, str] = {}
    for key, value in (config or {}).items():
        env[f"sovereign-ai:{key}"] = value if isinstance(value, str) else json.dumps(value)
    env.update(secrets or {})
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(env))


def replaced(base: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of `base` with top-level keys replaced (None removes a key)."""
    result = copy.deepcopy(dict(base))
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def config_with(**changes: Any) -> dict[str, Any]:
    """The happy-path config with top-level keys replaced (None removes a key)."""
    return replaced(CONFIG, **changes)


def checked_later(unknown: str, who: str) -> str:
    """The advisory for a value unknown in preview, e.g. `checked_later("string value at .acl", who)`."""
    return f"{unknown} can't be known during preview; {who} is checked again during `pulumi up`, once the value is known"


def _generated(config: Mapping[str, Any]) -> PolicyFile:
    raw = {**copy.deepcopy(dict(config)), "secrets": {"sshPrivateKey": True}}
    return policy_for(parse_config(raw))


def generated_policy(config: Mapping[str, Any] = CONFIG) -> dict[str, Any]:
    """The policy file the program generates for `config` (default the happy path), as a JSON-shaped dict."""
    return _generated(config).to_dict()


def generated_policy_with(*grants: dict[str, Any]) -> str:
    """The generated policy with `grants` appended, as JSON text (grants[3] is the first one added)."""
    policy = generated_policy()
    policy["grants"].extend(grants)
    return json.dumps(policy)


def generated_policy_text(config: Mapping[str, Any] = CONFIG) -> str:
    """The same policy as the HuJSON text the program puts in `tailscale.Acl`'s `acl`."""
    return render(_generated(config))


RESOURCE_OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def urn(resource_type: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{resource_type}::{name}"


def resource_args(
    resource_type: str,
    props: Mapping[str, Any],
    name: str,
    config: Mapping[str, Any] | None = None,
) -> ResourceValidationArgs:
    """`ResourceValidationArgs` as the analyzer builds them (props behind the unknown-checking proxy)."""
    proxied = unknown_checking_proxy(copy.deepcopy(dict(props)))
    return ResourceValidationArgs(
        resource_type, proxied, urn(resource_type, name), name, RESOURCE_OPTIONS, None, config
    )


def stack_resource(resource_type: str, props: Mapping[str, Any], name: str) -> PolicyResource:
    """One resource of a stack as a stack policy sees it (props are its outputs)."""
    proxied = unknown_checking_proxy(copy.deepcopy(dict(props)))
    return PolicyResource(
        resource_type, proxied, urn(resource_type, name), name, RESOURCE_OPTIONS, None, None, [], {}
    )


def stack_args(*resources: PolicyResource) -> StackValidationArgs:
    return StackValidationArgs(list(resources))


def run_policy(
    policy: Policy, args: ResourceValidationArgs | StackValidationArgs, messages: list[str] | None = None
) -> list[str]:
    """The messages `policy` reports for `args`, in order (the `test_policy.py` helper's shape),
    appended to `messages` if given (so they survive an exception)."""
    found: list[str] = [] if messages is None else messages

    def report_violation(message: str, urn: str | None = None) -> None:
        found.append(message)

    if isinstance(policy, ResourceValidationPolicy):
        assert isinstance(args, ResourceValidationArgs)
        result = policy.validate(args, report_violation)
    else:
        assert isinstance(policy, StackValidationPolicy)
        assert isinstance(args, StackValidationArgs)
        result = policy.validate(args, report_violation)
    if result is not None and isawaitable(result):
        asyncio.run(_awaited(result))
    return found


async def _awaited(result: Any) -> None:
    await result


def not_applicable_reason(policy: Policy, args: ResourceValidationArgs | StackValidationArgs) -> str | None:
    """The reason `policy` gives for not applying to `args`, or None when it applies."""
    try:
        run_policy(policy, args)
    except _NotApplicableError as exc:
        return exc.reason
    return None


def rule_modules() -> list[Any]:
    """The rule modules `policies/__main__.py` builds the pack from, in its order."""
    from policies import commands, deploy, fleet, gateway, keys, lockout, stack, tailnet

    return [tailnet, deploy, fleet, gateway, lockout, keys, commands, stack]


def all_policies() -> list[Policy]:
    """Every policy of the pack, as `policies/__main__.py` lists them."""
    return [policy for module in rule_modules() for policy in module.POLICIES]


def run_policy_with_unknowns(
    policy: Policy, args: ResourceValidationArgs | StackValidationArgs
) -> tuple[list[str], str]:
    """The messages `policy` reports for the known values, and the advisory message pulumi-policy
    would show for the first unknown one (the policy must meet one)."""
    messages: list[str] = []
    with pytest.raises(UnknownValueError) as raised:
        run_policy(policy, args, messages)
    return messages, raised.value.message
