"""The pack as a whole: policy names and descriptions follow the conventions, the per-environment
config files name real policies and levels, and the rule modules load (timed, not asserted)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel

from policies import enforcement
from testing.policies import all_policies, rule_modules

ROOT = Path(__file__).resolve().parents[2]
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
LEVELS = {"advisory", "mandatory", "remediate", "disabled"}


def test_policy_names_are_unique_and_kebab_case() -> None:
    names = [policy.name for policy in all_policies()]
    assert len(names) == len(set(names))
    assert [name for name in names if not KEBAB.match(name)] == []


def test_policy_descriptions_begin_prohibits_or_requires() -> None:
    assert [
        policy.name
        for policy in all_policies()
        if not re.match(r"(Prohibits|Requires)\b", policy.description)
    ] == []


@pytest.mark.parametrize("environment", ["production", "development"])
def test_config_file_names_only_real_policies_and_levels(environment: str) -> None:
    config: dict[str, Any] = json.loads((ROOT / "policies" / "config" / f"{environment}.json").read_text())
    names = {policy.name for policy in all_policies()} | {"all"}
    assert set(config) <= names
    levels = [value if isinstance(value, str) else value.get("enforcementLevel") for value in config.values()]
    assert set(levels) <= LEVELS
    assert config["all"] == ("mandatory" if environment == "production" else "advisory")


def test_analyzer_info_lists_every_policy_as_mandatory_by_default() -> None:
    servicer = enforcement.EnvironmentLockedAnalyzer(
        "sovereign-ai", "0.1.0", all_policies(), EnforcementLevel.MANDATORY
    )
    info = servicer.GetAnalyzerInfo(None, None)
    assert [(p.name, p.enforcementLevel) for p in info.policies] == [
        (policy.name, proto.MANDATORY) for policy in all_policies()
    ]


def test_rule_modules_load_and_build_their_policies() -> None:
    """Import every rule module and build its policies in a fresh interpreter, and report the time
    (the pack must load in under two seconds; `bench/bench_policy_pack_load.py` tracks the figure)."""
    modules = ", ".join(module.__name__.rsplit(".", 1)[1] for module in rule_modules())
    code = (
        "import time; start = time.perf_counter()\n"
        f"from policies import enforcement, {modules}\n"
        f"count = sum(len(m.POLICIES) for m in ({modules},))\n"
        "print(count, round(time.perf_counter() - start, 3))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    count, seconds = result.stdout.split()
    print(f"\nrule modules imported and {count} policies built in {seconds} s", file=sys.stderr)
    assert int(count) == len(all_policies())
