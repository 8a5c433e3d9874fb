"""The tailnet policy of a stack: the user's base HuJSON file (if any) merged with the generated rules.

Runs before any resource is registered, like the config loader, and turns every problem with
`tailnet.basePolicy` (a missing file, a HuJSON syntax error with its line, a rule or name that
conflicts with the generated ones) into a `ConfigError` naming that key, not a traceback.
"""

from __future__ import annotations

from pathlib import Path

from config.fields import NAMESPACE
from config.model import ConfigError, StackConfig
from config.plan import PolicyFile, policy_for

KEY = f"{NAMESPACE}:tailnet.basePolicy"


def load_policy(stack: StackConfig) -> PolicyFile:
    """The policy to write: `policy_for(stack, <base file text>)`; raises ConfigError naming the key."""
    path = stack.tailnet.base_policy
    if path is None:
        return policy_for(stack, None, "the base policy")
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(
            [f"{KEY}: cannot read {path} ({exc.strerror}): give the path of your HuJSON policy file, "
             "relative to the project"]
        ) from None  # fmt: skip
    try:
        return policy_for(stack, text, path)
    except ValueError as exc:  # HuJSONError (with its line), PolicyError, PolicyConflict
        raise ConfigError([f"{KEY}: {path}: {exc}"]) from None
