"""Builds the sovereign-ai policy pack from the rule modules; nothing else.

Run by the engine (`pulumi preview|up --policy-pack policies --policy-pack-config
policies/config/<environment>.json`) with the pack directory as working directory, so the repository
root goes on `sys.path` first, for `policies` and `components`. Never import this module: the
`PolicyPack` constructor serves gRPC and blocks forever. Production is mandatory whatever the config
file says (`policies/enforcement.py`).
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies import commands, deploy, enforcement, fleet, gateway, keys, lockout, stack, tailnet  # noqa: E402

enforcement.install()

PolicyPack(
    name="sovereign-ai",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        *tailnet.POLICIES,
        *deploy.POLICIES,
        *fleet.POLICIES,
        *gateway.POLICIES,
        *lockout.POLICIES,
        *keys.POLICIES,
        *commands.POLICIES,
        *stack.POLICIES,
    ],
)
