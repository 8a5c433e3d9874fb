"""A stack moves between the project's engine parts and upstream's: the state the stand-ins store is upstream's.

The stack is deployed once by the real `pulumi up` (the project's plugins where upstream's cannot be
installed). For every resource of the `tailscale` and `command` plugins, the inputs and outputs the
engine recorded are compared with what upstream stores for the same program inputs. The expected
shapes are written from upstream's schema and code (each with its source) and agree with a stack the
same program deployed with upstream's plugins built from their public source (docs/architecture.md
§9). A field that differs would make `preview` on the other machine plan an update or a replace, and
an update of a `remote.Command` re-runs its create script, the vLLM container included.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from testing.sandbox_stack import SandboxStack

pytestmark = pytest.mark.engine

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
BRIDGE_BOOKKEEPING = "__pulumi_raw_state_delta"
"""pulumi-terraform-bridge v3.135.0 adds this output for its own use (pkg/tfbridge/rawstate); upstream
reads a state without it as it reads any older state, with no diff (measured: the preview of a stack
deployed by the stand-ins, run on upstream's plugins, plans no change to the tailscale resources)."""


@dataclass(frozen=True)
class Shape:
    """What upstream stores for one resource type: its input keys and the outputs it adds."""

    inputs: frozenset[str]
    added_outputs: frozenset[str]
    source: str


SHAPES = {
    "tailscale:index/acl:Acl": Shape(
        frozenset({"acl", "overwriteExistingContent", "resetAclOnDestroy"}),
        frozenset({"id"}),
        "terraform-provider-tailscale v0.29.2 tailscale/resource_acl.go: schema acl, "
        "overwrite_existing_content, reset_acl_on_destroy; id from createUUID()",
    ),
    "tailscale:index/dnsPreferences:DnsPreferences": Shape(
        frozenset({"magicDns"}),
        frozenset({"id"}),
        "tailscale/resource_dns_preferences.go: schema magic_dns; id from createUUID()",
    ),
    "tailscale:index/tailnetKey:TailnetKey": Shape(
        frozenset(
            {"description", "ephemeral", "expiry", "preauthorized", "recreateIfInvalid", "reusable", "tags"}
        ),
        frozenset({"createdAt", "expiresAt", "id", "invalid", "key", "userId"}),
        "tailscale/resource_tailnet_key.go:190-196 (Create sets key, created_at, expires_at, invalid, "
        "user_id from the API; the planned reusable, ephemeral, preauthorized, tags, description and "
        "expiry are kept)",
    ),
}

COMMAND_SOURCE = (
    "pulumi-command v1.2.1 provider/pkg/provider/remote/command.go (inputs as given, defaults from "
    "the schema); common/commandOutputs.go (outputs are the inputs plus stdout and stderr)"
)
CONNECTION_DEFAULTS = {"dialErrorLimit": 10, "perDialTimeout": 15}
"""remote/connection.go at v1.2.1: `Annotate` sets these defaults, which pulumi-go-provider v1.3.0
applies in Check (infer/resource.go), so they are stored in the inputs; `port` 22 and `user` root
are defaults too, but the program always sets both."""


def plain(value: Any) -> Any:
    """A state value with secrets revealed (`pulumi stack export --show-secrets`)."""
    if isinstance(value, dict) and SECRET_SIG_KEY in value:
        return json.loads(value["plaintext"])
    return value


@pytest.fixture(scope="module")
def resources(stack: SandboxStack) -> list[dict[str, Any]]:
    deployed = stack.stack_sh("up")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    exported = stack.pulumi("stack", "export", "--show-secrets")
    assert exported.returncode == 0, exported.stderr
    return list(json.loads(exported.stdout)["deployment"]["resources"])


def of_type(resources: list[dict[str, Any]], token: str) -> list[dict[str, Any]]:
    found = [r for r in resources if r["type"] == token]
    assert found, f"the stack has no {token}"
    return found


@pytest.mark.parametrize("token", sorted(SHAPES))
def test_tailscale_resources_store_upstreams_inputs_and_outputs(
    resources: list[dict[str, Any]], token: str
) -> None:
    shape = SHAPES[token]
    for resource in of_type(resources, token):
        inputs, outputs = resource["inputs"], resource["outputs"]
        urn = resource["urn"]
        assert set(inputs) == shape.inputs, f"{urn}: inputs {sorted(inputs)} ({shape.source})"
        added = set(outputs) - set(inputs) - {BRIDGE_BOOKKEEPING}
        assert added == shape.added_outputs, f"{urn}: outputs add {sorted(added)} ({shape.source})"
        for key, value in inputs.items():
            assert plain(outputs[key]) == plain(value), f"{urn}: output {key} is not the planned input"


def test_tailscale_ids_and_times_are_upstreams(resources: list[dict[str, Any]]) -> None:
    for token in ("tailscale:index/acl:Acl", "tailscale:index/dnsPreferences:DnsPreferences"):
        for resource in of_type(resources, token):
            assert UUID.match(resource["id"]), f"{resource['urn']}: id {resource['id']!r} is not a UUID"
    for key in of_type(resources, "tailscale:index/tailnetKey:TailnetKey"):
        outputs = key["outputs"]
        for field in ("createdAt", "expiresAt"):
            assert RFC3339.match(outputs[field]), f"{field} {outputs[field]!r} is not RFC3339 to the second"
        assert outputs["invalid"] is False
        assert plain(outputs["key"]).startswith("tskey-auth-")


def test_remote_commands_store_upstreams_inputs_and_outputs(resources: list[dict[str, Any]]) -> None:
    for command in of_type(resources, "command:remote:Command"):
        inputs, outputs, urn = command["inputs"], command["outputs"], command["urn"]
        assert "addPreviousOutputInEnv" not in inputs, (
            f"{urn}: an absent input stays absent ({COMMAND_SOURCE})"
        )
        assert "addPreviousOutputInEnv" not in outputs, (
            f"{urn}: an absent input stays absent ({COMMAND_SOURCE})"
        )
        assert set(outputs) == set(inputs) | {"stdout", "stderr"}, f"{urn}: outputs ({COMMAND_SOURCE})"
        connection = plain(inputs["connection"])
        for key, default in CONNECTION_DEFAULTS.items():
            assert connection.get(key) == default, f"{urn}: connection.{key} ({CONNECTION_DEFAULTS})"
        assert plain(outputs["connection"]) == connection, f"{urn}: the stored connection is the input"
        name = urn.rsplit("::", 1)[1]
        assert re.fullmatch(re.escape(name) + "[0-9a-f]{8}", command["id"]), f"{urn}: id {command['id']!r}"


def test_preview_after_up_plans_no_change(stack: SandboxStack, resources: list[dict[str, Any]]) -> None:
    preview = stack.pulumi("preview", "--expect-no-changes", "--diff")
    assert preview.returncode == 0, preview.stdout + preview.stderr
