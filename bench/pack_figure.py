"""Figure 4 (second half): the policy pack's evaluation time on tailnet policies with N grants.

Every policy of the pack, as `policies/__main__.py` lists them, evaluated the way the analyzer calls
them (`testing/policies.py`): each resource policy on the `tailscale.Acl` whose policy file is
the program's generated one plus N user -> gateway grants, each stack policy on a stack holding it.
The stack config is the production happy path, where every rule applies. Small N repeat until
`MIN_SECONDS` have passed, so the figure is time per evaluation.
"""

from __future__ import annotations

import json
import os
import time

from pulumi.runtime import config as runtime_config
from pulumi_policy import ResourceValidationPolicy
from pulumi_policy.policy import _NotApplicableError

from policies.common import ACL
from tailnet_policy import policy_file
from testing.policies import (
    CONFIG,
    all_policies,
    generated_policy,
    resource_args,
    run_policy,
    stack_args,
    stack_resource,
)

SIZES = (10, 100, 1000, 10000)
MIN_SECONDS = 0.5


def policy_text(grants: int) -> str:
    """The generated policy file plus `grants` grants letting one user each reach the gateway."""
    policy = generated_policy()
    extra = [
        {"src": [f"user{i}@example.com"], "dst": ["tag:aperture"], "ip": [f"tcp:{443 if i % 2 else 80}"]}
        for i in range(grants)
    ]
    policy["grants"] = [*policy["grants"], *extra]
    return json.dumps(policy, indent=2)


def evaluate(text: str) -> int:
    """Run every policy of the pack once on the policy text; the number of findings.

    Starts with an empty parse cache: each evaluation pays for reading the policy file once, as the
    pack's process does in one preview."""
    policy_file.parse.cache_clear()
    findings = 0
    for policy in all_policies():
        try:
            if isinstance(policy, ResourceValidationPolicy):
                args = resource_args(ACL, {"acl": text, "overwriteExistingContent": True}, "tailnet")
                findings += len(run_policy(policy, args))
            else:
                findings += len(run_policy(policy, stack_args(stack_resource(ACL, {"acl": text}, "tailnet"))))
        except _NotApplicableError:
            pass
    return findings


def seconds_per_evaluation(grants: int) -> tuple[float, int]:
    """(seconds for one evaluation of the whole pack, findings) on a policy with `grants` grants."""
    text = policy_text(grants)
    runs, findings = 0, 0
    started = time.perf_counter()
    while True:
        findings = evaluate(text)
        runs += 1
        elapsed = time.perf_counter() - started
        if elapsed >= MIN_SECONDS:
            return elapsed / runs, findings


def run() -> list[tuple[int, float, int]]:
    """(grants, seconds per evaluation, findings) for each size."""
    config = {f"sovereign-ai:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in CONFIG.items()}
    saved = os.environ.get("PULUMI_CONFIG")
    os.environ["PULUMI_CONFIG"] = json.dumps(config)
    runtime_config.set_all_config({})
    try:
        return [(n, *seconds_per_evaluation(n)) for n in SIZES]
    finally:
        if saved is None:
            os.environ.pop("PULUMI_CONFIG", None)
        else:
            os.environ["PULUMI_CONFIG"] = saved
        runtime_config.set_all_config({})


if __name__ == "__main__":
    for row in run():
        print(row)
