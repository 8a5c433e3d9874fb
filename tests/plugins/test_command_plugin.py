"""The project's `command` plugin over gRPC, against the emulated GB10 host over real SSH: the protocol.

Identity, Check, Create, Update, Delete, Read and Diff as upstream answers them. One plugin process
serves the whole module (as the engine would for a deployment); each test has its own host. What
the engine would show a user is what the `RecordingEngine` received. Connections, failures, output
streaming, secrets and Cancel: test_command_ssh.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncssh
from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2

from plugins.wire import SECRET_SIG, SIG_KEY, UNKNOWN, secret, to_python, to_struct
from sandbox.host import HostHandle
from tests.plugins.command_harness import Plugin, commands_run, connection, urn
from tests.plugins.harness import recording_engine, start_plugin

# Plugin identity and provider configuration.


def test_plugin_info_handshake_and_configure_answer_as_upstream(plugin: Plugin) -> None:
    assert plugin.stub.GetPluginInfo(empty_pb2.Empty()).version == "1.2.1"
    handshake = plugin.stub.Handshake(provider_pb2.ProviderHandshakeRequest())
    assert handshake.accept_secrets and handshake.accept_resources
    configured = plugin.stub.Configure(
        provider_pb2.ConfigureRequest(acceptSecrets=True, acceptResources=True)
    )
    assert configured.acceptSecrets and configured.supportsPreview and configured.acceptResources
    assert configured.acceptOutputs
    assert to_python(
        plugin.stub.CheckConfig(provider_pb2.CheckRequest(news=to_struct({"version": "1.2.1"}))).inputs
    ) == {"version": "1.2.1"}


def test_importing_asyncssh_prints_no_dsa_deprecation_warning(tmp_path: Path) -> None:
    """The engine shows a provider's stderr before its port line: the plugin starts with none of
    asyncssh's `DSA is deprecated` warnings, even with every warning shown (`-W default`)."""
    bare = subprocess.run(
        [sys.executable, "-W", "default", "-c", "import asyncssh"], capture_output=True, text=True, check=True
    )
    assert "CryptographyDeprecationWarning" in bare.stderr, (
        "asyncssh no longer warns on import: the filter in plugins/command/__init__.py can go"
    )
    with recording_engine() as (_, address):
        running = start_plugin(
            "plugins.command",
            address,
            env={"SOVEREIGN_AI_PLUGIN_LOG_DIR": str(tmp_path), "PYTHONWARNINGS": "default"},
        )
        assert running.stop() == 0
    assert running.process.stderr is not None
    stderr = running.process.stderr.read().decode()
    assert "CryptographyDeprecationWarning" not in stderr + (tmp_path / "command.log").read_text()


# Check.


def test_check_fills_upstream_defaults_and_keeps_connection_secret(plugin: Plugin) -> None:
    inputs = plugin.checked("defaults", {"connection": secret({"host": "10.0.0.5"}), "create": "true"})
    assert inputs["connection"][SIG_KEY] == SECRET_SIG
    assert inputs["connection"]["value"] == {
        "host": "10.0.0.5",
        "port": 22,
        "user": "root",
        "dialErrorLimit": 10,
        "perDialTimeout": 15,
    }
    assert inputs["addPreviousOutputInEnv"] is True
    plain = plugin.checked("plain", {"connection": {"host": "h"}})
    assert plain["connection"][SIG_KEY] == SECRET_SIG, "connection is secret in the schema"


def test_check_reports_bad_inputs_by_property(plugin: Plugin) -> None:
    response = plugin.check("bad", {"connection": secret({"port": 22}), "logging": "loud"})
    reasons = {failure.property: failure.reason for failure in response.failures}
    assert "connection.host is required" in reasons["connection"]
    assert "logging must be one of stdout, stderr, stdoutAndStderr, none" in reasons["logging"]
    response = plugin.check("key", {"connection": secret({"host": "h", "hostKey": "not a key"})})
    assert "authorized_keys line" in response.failures[0].reason


def test_check_refuses_what_this_build_does_not_implement(plugin: Plugin) -> None:
    for type_ in ("command:local:Command", "command:remote:CopyToRemote", "command:remote:CopyFile"):
        response = plugin.check("other", {"create": "true"}, type_)
        assert (
            "not implemented by this build of the command plugin; install the upstream plugin"
            in response.failures[0].reason
        )
    response = plugin.check("proxy", {"connection": secret({"host": "h", "proxy": {"host": "bastion"}})})
    assert "connection.proxy is not implemented by this build" in response.failures[0].reason


def test_check_passes_unknowns_through_in_a_preview(plugin: Plugin) -> None:
    inputs = plugin.checked("unknown", {"connection": secret({"host": UNKNOWN}), "create": UNKNOWN})
    assert inputs["create"] == UNKNOWN
    assert inputs["connection"]["value"]["host"] == UNKNOWN


# Create, Update, Delete, Read.


def test_preview_create_returns_inputs_with_unknown_outputs_and_runs_nothing(
    plugin: Plugin, host: HostHandle, client_key: asyncssh.SSHKey, audit_path: Path
) -> None:
    resource_id, outputs = plugin.create(
        "preview", {"connection": connection(host, client_key), "create": "echo hi"}, preview=True
    )
    assert resource_id.startswith("preview")
    assert outputs["stdout"] == UNKNOWN and outputs["stderr"] == UNKNOWN
    assert outputs["create"] == "echo hi"
    assert commands_run(audit_path) == []


def test_create_runs_the_command_and_returns_inputs_plus_outputs(
    plugin: Plugin, host: HostHandle, client_key: asyncssh.SSHKey, audit_path: Path
) -> None:
    resource_id, outputs = plugin.create(
        "create", {"connection": connection(host, client_key), "create": "echo out; echo err >&2; echo last"}
    )
    assert re.fullmatch(r"create[0-9a-f]{8}", resource_id)
    assert outputs["stdout"] == "out\nlast", "one trailing newline dropped"
    assert outputs["stderr"] == "err"
    assert outputs["create"] == "echo out; echo err >&2; echo last"
    assert outputs["connection"][SIG_KEY] == SECRET_SIG
    assert outputs["addPreviousOutputInEnv"] is True
    assert commands_run(audit_path) == ["echo out; echo err >&2; echo last"]


def test_create_without_a_create_command_runs_nothing(
    plugin: Plugin, host: HostHandle, client_key: asyncssh.SSHKey, audit_path: Path
) -> None:
    _, outputs = plugin.create("nothing", {"connection": connection(host, client_key), "delete": "echo bye"})
    assert outputs["stdout"] == "" and outputs["stderr"] == ""
    assert commands_run(audit_path) == []


def test_stdin_is_sent_then_closed_and_only_when_not_empty(
    plugin: Plugin, host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    _, outputs = plugin.create(
        "stdin", {"connection": connection(host, client_key), "create": "wc -c", "stdin": "abc\n"}
    )
    assert outputs["stdout"].strip() == "4"
    _, outputs = plugin.create(
        "no-stdin", {"connection": connection(host, client_key), "create": "wc -c", "stdin": ""}
    )
    assert outputs["stdout"].strip() == "0", "an empty stdin sends nothing; the command reads EOF"


def test_environment_is_set_with_setenv_not_on_the_command_line(
    plugin: Plugin, host: HostHandle, client_key: asyncssh.SSHKey, audit_path: Path
) -> None:
    _, outputs = plugin.create(
        "env",
        {
            "connection": connection(host, client_key),
            "create": 'echo "$SOVEREIGN_A/$LANG"',
            "environment": {"SOVEREIGN_A": "one", "LANG": "C"},
        },
    )
    assert outputs["stdout"] == "one/C"
    assert commands_run(audit_path) == ['echo "$SOVEREIGN_A/$LANG"']


def test_an_environment_variable_the_server_refuses_fails_with_upstream_wording(
    plugin: Plugin, host: HostHandle, client_key: asyncssh.SSHKey, audit_path: Path
) -> None:
    message = plugin.failure(
        "refused-env",
        {
            "connection": connection(host, client_key),
            "create": "echo ran",
            "environment": {"NOT_ACCEPTED": "x"},
        },
    )
    assert message == 'could not set environment variable "NOT_ACCEPTED": ssh: setenv failed'
    assert commands_run(audit_path) == [], "the command never starts"
    assert any("Unable to set 'NOT_ACCEPTED'" in line for line in plugin.lines("refused-env"))


def test_update_runs_update_else_create_with_the_previous_outputs_in_its_environment(
    plugin: Plugin, host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    conn = connection(host, client_key)
    _, first = plugin.create("upd", {"connection": conn, "create": "echo v1"})
    script = 'echo "update after [$PULUMI_COMMAND_STDOUT]"'
    second = plugin.update("upd", first, {"connection": conn, "create": "echo v1", "update": script})
    assert second["stdout"] == "update after [v1]"
    third = plugin.update(
        "upd", second, {"connection": conn, "create": 'echo "create again after [$PULUMI_COMMAND_STDOUT]"'}
    )
    assert third["stdout"] == "create again after [update after [v1]]"
    kept = plugin.update("upd", third, {"connection": conn, "delete": "true"})
    assert kept["stdout"] == third["stdout"], "nothing to run: the previous outputs stay"


def test_add_previous_output_in_env_false_leaves_the_variables_unset(
    plugin: Plugin, host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    conn = connection(host, client_key)
    _, first = plugin.create("noprev", {"connection": conn, "create": "echo v1"})
    news = {
        "connection": conn,
        "create": 'echo "[${PULUMI_COMMAND_STDOUT-unset}]"',
        "addPreviousOutputInEnv": False,
    }
    assert plugin.update("noprev", first, news)["stdout"] == "[unset]"


def test_update_preview_marks_outputs_unknown_and_runs_nothing(
    plugin: Plugin, host: HostHandle, client_key: asyncssh.SSHKey, audit_path: Path
) -> None:
    conn = connection(host, client_key)
    _, first = plugin.create("updprev", {"connection": conn, "create": "echo v1"})
    outputs = plugin.update("updprev", first, {"connection": conn, "create": "echo v2"}, preview=True)
    assert outputs["stdout"] == UNKNOWN and outputs["create"] == "echo v2"
    assert commands_run(audit_path) == ["echo v1"]


def test_delete_runs_the_stored_delete_with_stored_connection_stdin_and_outputs(
    plugin: Plugin, host: HostHandle, client_key: asyncssh.SSHKey, audit_path: Path
) -> None:
    news = {
        "connection": connection(host, client_key),
        "create": "echo created; echo warn >&2",
        "delete": 'echo "[$PULUMI_COMMAND_STDOUT|$PULUMI_COMMAND_STDERR|$SOVEREIGN_B|$(cat)]" > "$HOME/deleted"',
        "environment": {"SOVEREIGN_B": "b"},
        "stdin": "piped",
    }
    _, outputs = plugin.create("del", news)
    plugin.delete("del", outputs)
    assert (host.root / "home" / "ubuntu" / "deleted").read_text() == "[created|warn|b|piped]\n"
    plugin.delete("del-nothing", {**outputs, "delete": None})
    assert len(commands_run(audit_path)) == 2


def test_read_returns_the_state_unchanged(plugin: Plugin) -> None:
    state = {"create": "echo x", "stdout": "x", "stderr": "", "connection": secret({"host": "h"})}
    response = plugin.stub.Read(
        provider_pb2.ReadRequest(
            id="r1234abcd", urn=urn("r"), properties=to_struct(state), inputs=to_struct({"create": "echo x"})
        )
    )
    assert response.id == "r1234abcd"
    assert to_python(response.properties) == state
    assert to_python(response.inputs) == {"create": "echo x"}


# Diff.


def test_diff_reports_every_change_as_an_update_with_detailed_paths(plugin: Plugin) -> None:
    olds = {
        "connection": secret({"host": "a", "port": 22}),
        "create": "x",
        "triggers": ["m1", 1],
        "stdout": "o",
        "stderr": "",
    }
    old_inputs = {k: v for k, v in olds.items() if k not in ("stdout", "stderr")}

    def diff(news: dict[str, Any], ignore: tuple[str, ...] = ()) -> provider_pb2.DiffResponse:
        return plugin.stub.Diff(
            provider_pb2.DiffRequest(
                id="d",
                urn=urn("d"),
                olds=to_struct(olds),
                old_inputs=to_struct(old_inputs),
                news=to_struct(news),
                ignoreChanges=list(ignore),
            )
        )

    same = diff(dict(old_inputs))
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE
    changed = diff(
        {
            **old_inputs,
            "triggers": ["m2", 1, "new"],
            "connection": secret({"host": "b", "port": 22}),
            "stdin": "s",
        }
    )
    assert changed.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert sorted(changed.diffs) == ["connection", "stdin", "triggers"]
    assert not changed.replaces, "the engine replaces on triggers (SDK replace_on_changes), not the plugin"
    kinds = {path: d.kind for path, d in changed.detailedDiff.items()}
    assert kinds == {
        "triggers[0]": provider_pb2.PropertyDiff.UPDATE,
        "triggers[2]": provider_pb2.PropertyDiff.ADD,
        "connection.host": provider_pb2.PropertyDiff.UPDATE,
        "stdin": provider_pb2.PropertyDiff.ADD,
    }
    assert all(d.inputDiff for d in changed.detailedDiff.values())
    ignored = diff({**old_inputs, "stdin": "new key"}, ignore=("stdin",))
    assert ignored.changes == provider_pb2.DiffResponse.DIFF_NONE
