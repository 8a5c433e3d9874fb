"""Enforcement by environment: on a production stack every policy is mandatory, whatever a policy
config says; on a development stack every policy is advisory, so a developer sees every finding
without being blocked. Two exceptions keep one level everywhere (`FIXED_LEVELS`): a guard whose
finding would break every later deploy is mandatory in development too, and a recommendation is
advisory in production too.

Why a hook in the analyzer, and not levels on the policies or in `initial_config`: the engine sends
the pack one enforcement level per policy in `Configure` (the pack's defaults, then
`initial_config`, then the `--policy-pack-config` file or the Cloud policy group, where `"all"` and
per-policy entries win), and pulumi-policy 1.21.0 reports every violation at that configured level
(`_PolicyAnalyzerServicer._get_enforcement_level`, used by `Analyze`, `AnalyzeStack` and
`Remediate`), skipping a policy configured `disabled` before it runs. The engine then trusts the
level each diagnostic carries. A policy's own `enforcement_level` is only a default that any config
overrides. So `_get_enforcement_level` is the one place that decides every violation's level, and
`EnvironmentLockedAnalyzer` overrides it to ask the stack's environment (`sovereign-ai:environment`,
read from the config the engine passes) on every call. A missing or unknown environment reads as
production.

What stays as pulumi-policy does it: a value unknown during preview is reported as advisory (the
check runs again during `pulumi up`), and a policy may declare itself not applicable.

`install()` makes `PolicyPack` build this analyzer. It fails (and with it the pack, so nothing is
deployed) if the SDK no longer has the hook, rather than letting config lower production silently.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy import policy as sdk
from pulumi_policy.version import VERSION

from policies.common import stack_context

FIXED_LEVELS = {
    "aperture-keeps-deployer-admin": EnforcementLevel.MANDATORY,
    "aperture-model-grant-budget": EnforcementLevel.ADVISORY,
}
"""Policies whose level is the same in every environment: the deployer lockout guard (a deploy
that drops the deployer's admin role locks out every later one, in development as in production)
and the budget recommendation (advisory even in production)."""


def effective_level(
    configured: EnforcementLevel, production: bool, name: str | None = None
) -> EnforcementLevel:
    """The level a violation is reported at: `FIXED_LEVELS[name]`, else mandatory in production and
    advisory in development.

    :param configured: the level the policy config gave (ignored: the environment decides).
    :param production: whether the stack is a production stack.
    :param name: the policy's name.
    """
    del configured  # neither "advisory" nor "disabled" may lower production, nor raise development
    if name in FIXED_LEVELS:
        return FIXED_LEVELS[name]
    return EnforcementLevel.MANDATORY if production else EnforcementLevel.ADVISORY


class EnvironmentLockedAnalyzer(sdk._PolicyAnalyzerServicer):
    """pulumi-policy's analyzer, with each policy's level decided by the stack's environment."""

    def _get_enforcement_level(self, policy: Policy) -> EnforcementLevel:
        configured = super()._get_enforcement_level(policy)
        try:
            production = stack_context().production
        except Exception:  # an unreadable stack config must not make any policy lenient
            production = True
        return effective_level(configured, production, policy.name)


def check_hook() -> None:
    """Raise RuntimeError unless `PolicyPack` builds its analyzer from the class `install` replaces."""
    servicer = getattr(sdk, "_PolicyAnalyzerServicer", None)
    if (
        servicer is None
        or not callable(getattr(servicer, "_get_enforcement_level", None))
        or "_PolicyAnalyzerServicer" not in sdk.PolicyPack.__init__.__code__.co_names
    ):
        raise RuntimeError(
            f"pulumi-policy {VERSION} no longer builds its analyzer through _PolicyAnalyzerServicer."
            "_get_enforcement_level, so the production lock cannot be installed; pin "
            "pulumi-policy==1.21.0 in policies/requirements.txt or port policies/enforcement.py"
        )


def install() -> None:
    """Make every `PolicyPack` built after this call use `EnvironmentLockedAnalyzer`."""
    check_hook()
    sdk._PolicyAnalyzerServicer = EnvironmentLockedAnalyzer  # type: ignore[misc]
