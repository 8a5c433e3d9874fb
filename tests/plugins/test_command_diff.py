"""The `command` plugin's Diff over gRPC, each expectation taken from upstream's rules.

pulumi-go-provider v1.3.0 `infer/resource.go:1132-1253` diffs the old inputs against the new ones with
github.com/pulumi/pulumi's `PropertyValue.Diff` (sdk `go/common/resource/properties_diff.go`, secrets
compared as values) and `plugin.NewDetailedDiffFromObjectDiff` (`plugin/provider.go:642-708`); a path
that is exactly an input with `replaceOnChanges` (`triggers`, pulumi-command v1.2.1
`common/inputs.go:10`) becomes a replace; `DiffResponse.rpc` (`provider.go:169-227`) lists the heads.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime.proto import provider_pb2

from plugins.wire import secret, to_struct
from tests.plugins.command_harness import KEY, Plugin, program_inputs, urn

Kind = provider_pb2.PropertyDiff


@pytest.fixture(scope="module", autouse=True)
def configured(plugin: Plugin) -> None:
    """Configure as engine v3.274.1 does: it sends old inputs to Diff and Delete."""
    plugin.stub.Configure(
        provider_pb2.ConfigureRequest(sends_old_inputs=True, sends_old_inputs_to_delete=True)
    )


def diff(
    plugin: Plugin,
    old_inputs: dict[str, Any],
    news: dict[str, Any],
    ignore: tuple[str, ...] = (),
    state: dict[str, Any] | None = None,
) -> provider_pb2.DiffResponse:
    return plugin.stub.Diff(
        provider_pb2.DiffRequest(
            id="d1234abcd",
            urn=urn("d"),
            olds=to_struct(state if state is not None else old_inputs | {"stdout": "o", "stderr": ""}),
            old_inputs=to_struct(old_inputs),
            news=to_struct(news),
            ignoreChanges=list(ignore),
        )
    )


def kinds(response: provider_pb2.DiffResponse) -> dict[str, int]:
    assert response.hasDetailedDiff
    assert not any(d.inputDiff for d in response.detailedDiff.values()), (
        "NewDetailedDiffFromObjectDiff(_, false)"
    )
    return {path: d.kind for path, d in response.detailedDiff.items()}


def test_a_step_stored_by_the_old_stand_in_shows_the_diff_upstream_was_measured_to_show(
    plugin: Plugin,
) -> None:
    """What the old stand-in stored (`addPreviousOutputInEnv: true`, a connection secret as a whole
    with a plain `privateKey`) against upstream's Check of the same program: `[diff:
    -addPreviousOutputInEnv ~connection]`, as measured with upstream's plugin (issue 19)."""
    news = plugin.checked("d", program_inputs())
    old_value = dict(news["connection"]["value"]) | {"privateKey": KEY}
    stored = news | {"connection": secret(old_value), "addPreviousOutputInEnv": True}
    response = diff(plugin, stored, news)
    assert response.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert kinds(response) == {"addPreviousOutputInEnv": Kind.DELETE, "connection": Kind.UPDATE}
    assert sorted(response.diffs) == ["addPreviousOutputInEnv", "connection"] and not response.replaces


def test_what_this_plugin_stores_now_shows_no_diff_for_the_same_program(plugin: Plugin) -> None:
    stored = plugin.checked("d", program_inputs())
    response = diff(plugin, stored, plugin.checked("d", program_inputs()))
    assert response.changes == provider_pb2.DiffResponse.DIFF_NONE
    assert not response.diffs and not response.detailedDiff


def test_triggers_added_or_removed_as_a_whole_replace(plugin: Plugin) -> None:
    """forceReplace(k) (resource.go:1141-1146, 1228-1231) sees the whole path: only `triggers` itself."""
    without = plugin.checked("d", program_inputs(triggers=None))
    with_triggers = plugin.checked("d", program_inputs(triggers=["a"]))
    added = diff(plugin, without, with_triggers)
    assert kinds(added) == {"triggers": Kind.ADD_REPLACE}
    assert list(added.replaces) == ["triggers"] and list(added.diffs) == ["triggers"]
    removed = diff(plugin, with_triggers, without)
    assert kinds(removed) == {"triggers": Kind.DELETE_REPLACE} and list(removed.replaces) == ["triggers"]


def test_changed_trigger_elements_are_updates_the_sdk_turns_into_replaces(plugin: Plugin) -> None:
    """`triggers[0]` is no input name, so the provider says update; the SDK's
    `replace_on_changes=["triggers[*]"]` makes the engine replace."""
    old = plugin.checked("d", program_inputs(triggers=["m1", 1]))
    response = diff(plugin, old, plugin.checked("d", program_inputs(triggers=["m2", 1, "new"])))
    assert kinds(response) == {"triggers[0]": Kind.UPDATE, "triggers[2]": Kind.ADD}
    assert not response.replaces and list(response.diffs) == ["triggers"]
    typed = diff(plugin, old, plugin.checked("d", program_inputs(triggers=["m1", True])))
    assert kinds(typed) == {"triggers[1]": Kind.UPDATE}, "DeepEquals: a bool never equals a number"


def test_a_change_inside_the_secret_connection_is_one_update_of_connection(plugin: Plugin) -> None:
    """A secret is no object to descend into (properties_diff.go:314, 401-410)."""
    old = plugin.checked("d", program_inputs())
    moved = program_inputs()
    moved["connection"] = moved["connection"] | {"host": "192.168.1.51"}
    assert kinds(diff(plugin, old, plugin.checked("d", moved))) == {"connection": Kind.UPDATE}


def test_plain_objects_diff_by_key_with_upstreams_path_spelling(plugin: Plugin) -> None:
    old = plugin.checked("d", program_inputs(environment={"A": "1", "B-C": "2", "0x": "3"}))
    new = plugin.checked("d", program_inputs(environment={"A": "9", "0x": "4", "D": "5"}, stdin="s"))
    # PropertyPath.String() quotes a key with any character outside [A-Za-z0-9_] (properties_path.go:574-608).
    assert kinds(diff(plugin, old, new)) == {
        "environment.A": Kind.UPDATE,
        'environment["B-C"]': Kind.DELETE,
        "environment.0x": Kind.UPDATE,
        "environment.D": Kind.ADD,
        "stdin": Kind.ADD,
    }


def test_a_value_that_only_became_secret_is_a_change(plugin: Plugin) -> None:
    old = plugin.checked("d", program_inputs(stdin="token"))
    new = plugin.checked("d", program_inputs(stdin=secret("token")))
    assert kinds(diff(plugin, old, new)) == {"stdin": Kind.UPDATE}


def test_ignore_changes_takes_the_state_value_of_that_exact_key(plugin: Plugin) -> None:
    """resource.go:1159-1164: `req.State.GetOk(key)` then `Inputs.Set(key, value)`."""
    old = plugin.checked("d", program_inputs(stdin="key-1"))
    new = plugin.checked("d", program_inputs(stdin="key-2"))
    assert diff(plugin, old, new, ignore=("stdin",)).changes == provider_pb2.DiffResponse.DIFF_NONE
    assert kinds(diff(plugin, old, new)) == {"stdin": Kind.UPDATE}
    state = old | {"stdin": "other", "stdout": "", "stderr": ""}
    response = diff(plugin, old, new, ignore=("stdin",), state=state)
    assert kinds(response) == {"stdin": Kind.UPDATE}, "the state's value, not the old input's"
