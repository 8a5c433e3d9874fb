"""The bare program of figure 3: every custom resource of the deployed sandbox stack, registered raw.

`resources.json` (written by `bench/bare_stack.py`) lists each resource's type token, name, inputs
(secrets as `{"secret": value}`), the resources it depends on, its resource options, and the
stack outputs. Nothing is validated, no component is built, no SDK module but `pulumi` is imported:
what is left is the floor the real program's preview is compared with.
"""

import json
from pathlib import Path
from typing import Any

import pulumi


def revive(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secret"}:
            return pulumi.Output.secret(revive(value["secret"]))
        return {k: revive(v) for k, v in value.items()}
    if isinstance(value, list):
        return [revive(v) for v in value]
    return value


spec = json.loads((Path(__file__).parent / "resources.json").read_text())
made: dict[str, pulumi.CustomResource] = {}
for item in spec["resources"]:
    made[item["name"]] = pulumi.CustomResource(
        item["type"],
        item["name"],
        revive(item["inputs"]),
        pulumi.ResourceOptions(
            depends_on=[made[name] for name in item["dependsOn"]],
            version=item.get("version"),
            additional_secret_outputs=item.get("additionalSecretOutputs"),
            ignore_changes=item.get("ignoreChanges"),
            delete_before_replace=item.get("deleteBeforeReplace"),
        ),
    )
for key, value in spec["outputs"].items():
    pulumi.export(key, revive(value))
