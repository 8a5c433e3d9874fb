"""The project's `command` plugin over gRPC, against the emulated GB10 host over real SSH: the protocol.

Identity, Check, Create, Update, Delete, Read and Diff, each expected value taken from upstream's source
(github.com/pulumi/pulumi-command v1.2.1, github.com/pulumi/pulumi-go-provider v1.3.0), cited where it
is asserted. One plugin process serves the whole module (as the engine would for a deployment); each
test has its own host. Dialling: test_command_dial.py; runs, output, secrets, Cancel: test_command_ssh.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2

from plugins.wire import OUTPUT_VALUE_SIG, SIG_KEY, UNKNOWN, secret, to_python, to_struct
from sandbox.host import HostHandle
from tests.plugins.command_harness import HOST_KEY, KEY, Plugin, commands_run, program_inputs, urn
from tests.plugins.harness import recording_engine, start_plugin

# Plugin identity and provider configuration.


def test_plugin_info_and_configure_answer_as_upstream(plugin: Plugin) -> None:
    assert plugin.stub.GetPluginInfo(empty_pb2.Empty()).version == "1.2.1"
    configured = plugin.stub.Configure(
        provider_pb2.ConfigureRequest(acceptSecrets=True, acceptResources=True, sends_old_inputs=True)
    )
    # go-provider v1.3.0 provider.go:794-799 sets these four and nothing else.
    assert (configured.acceptSecrets, configured.supportsPreview) == (True, True)
    assert (configured.acceptResources, configured.acceptOutputs) == (True, True)
    assert configured.supports_autonaming_configuration is False
    assert to_python(
        plugin.stub.CheckConfig(provider_pb2.CheckRequest(news=to_struct({"version": "1.2.1"}))).inputs
    ) == {"version": "1.2.1"}


def test_handshake_is_unimplemented_as_upstream(plugin: Plugin) -> None:
    """go-provider v1.3.0's server embeds `UnimplementedResourceProviderServer` and defines no
    Handshake (provider.go:605-611), so the engine gets UNIMPLEMENTED and falls back to Configure."""
    with pytest.raises(grpc.RpcError) as caught:
        plugin.stub.Handshake(provider_pb2.ProviderHandshakeRequest(engine_address="127.0.0.1:1"))
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


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


def test_check_stores_exactly_what_upstream_stores_for_the_program_connection(plugin: Plugin) -> None:
    """The inputs Check returns are what the engine stores and later diffs: they must be upstream's
    byte for byte, or every step of a stack deployed here shows `[diff: -addPreviousOutputInEnv
    ~connection]` under upstream's plugin."""
    assert plugin.checked("contract", program_inputs()) == {
        # apply_secrets.go:97-101 walks the struct: nested provider:"secret" fields are marked where
        # they are (connection.go:46 privateKey), then connection itself (command.go:46).
        "connection": secret(
            {
                "host": "192.168.1.50",
                "port": 22,
                "user": "ubuntu",
                "privateKey": secret(KEY),
                "hostKey": HOST_KEY,  # not parsed at Check: connection.go:88-92 runs in Dial
                # apply_defaults.go:108-118 fills Annotate's SetDefaults where absent:
                "dialErrorLimit": 10,  # connection.go:73 (dialErrorDefault, :32)
                "perDialTimeout": 15,  # connection.go:78
            }
        ),
        "create": "sudo true",
        "triggers": ["spark", "tag:gpu"],
        # no addPreviousOutputInEnv: command.go:48 has no SetDefault; absent stays absent.
    }


def test_check_fills_user_and_port_only_where_absent_and_keeps_nulls_out(plugin: Plugin) -> None:
    inputs = plugin.checked("defaults", {"connection": {"host": "10.0.0.5", "user": None}, "stdin": None})
    # connection.go:57,61 SetDefault user "root", port 22; nulls are skipped on read (go-provider
    # provider.go:649-658 SkipNulls) so a null user is absent and takes the default.
    assert inputs == {
        "connection": secret(
            {"host": "10.0.0.5", "user": "root", "port": 22, "dialErrorLimit": 10, "perDialTimeout": 15}
        )
    }
    kept = plugin.checked("kept", {"connection": {"host": "h", "port": 2222, "dialErrorLimit": -1}})
    assert kept["connection"]["value"]["port"] == 2222 and kept["connection"]["value"]["dialErrorLimit"] == -1


def test_check_marks_every_schema_secret_where_it_is(plugin: Plugin) -> None:
    conn = {
        "host": "h",
        "password": "pw",
        "privateKey": "k",
        "privateKeyPassword": "kp",
        "agentSocketPath": "/a",
    }
    value = plugin.checked("secrets", {"connection": conn})["connection"]["value"]
    # connection.go:43,46,47 tag password, privateKey, privateKeyPassword provider:"secret".
    assert (value["password"], value["privateKey"], value["privateKeyPassword"]) == (
        secret("pw"),
        secret("k"),
        secret("kp"),
    )
    assert value["agentSocketPath"] == "/a" and value["host"] == "h"


def test_check_reports_mapping_errors_in_the_mapper_words(plugin: Plugin) -> None:
    """go-provider resource.go:1098-1130 turns github.com/pulumi/pulumi sdk `util/mapper` errors
    (errors.go) into check failures, and returns the inputs with secrets applied, no defaults."""
    response = plugin.check("bad", {"connection": {"port": 22}, "create": 5})
    reasons = {failure.property: failure.reason for failure in response.failures}
    assert (
        reasons["create"]
        == "Field 'create' on 'remote.CommandInputs' must be a 'string'; got 'float64' instead"
    )
    assert reasons["connection"] == (
        "An error occurred decoding 'CommandInputs.connection': 1 failures decoding:\n"
        "\thost: Missing required field 'host' on 'remote.Connection'"
    )
    assert to_python(response.inputs)["connection"] == secret({"port": 22})
    missing = plugin.check("missing", {"create": "true"})
    assert [(f.property, f.reason) for f in missing.failures] == [
        ("connection", "Missing required field 'connection' on 'remote.CommandInputs'")
    ]


def test_check_accepts_what_upstream_accepts_an_unparsable_host_key_and_any_logging(plugin: Plugin) -> None:
    """Check does not parse `hostKey` (connection.go:88-92 runs when a command runs) nor check the
    `logging` enum (the mapper stores any string in `Logging`)."""
    inputs = plugin.checked(
        "lenient", {"connection": {"host": "h", "hostKey": "not a key"}, "logging": "loud"}
    )
    assert inputs["connection"]["value"]["hostKey"] == "not a key" and inputs["logging"] == "loud"


def test_check_refuses_what_this_build_does_not_implement(plugin: Plugin) -> None:
    for type_ in ("command:local:Command", "command:remote:CopyToRemote", "command:remote:CopyFile"):
        response = plugin.check("other", {"create": "true"}, type_)
        assert (
            "not implemented by this build of the command plugin; install the upstream plugin"
            in response.failures[0].reason
        )
    response = plugin.check("proxy", {"connection": {"host": "h", "proxy": {"host": "bastion"}}})
    assert "connection.proxy is not implemented by this build" in response.failures[0].reason


def test_check_passes_unknowns_through_in_a_preview(plugin: Plugin) -> None:
    inputs = plugin.checked(
        "unknown", {"connection": {"host": UNKNOWN, "privateKey": UNKNOWN}, "create": UNKNOWN}
    )
    assert inputs["create"] == UNKNOWN
    value = inputs["connection"]["value"]
    assert value["host"] == UNKNOWN and value["port"] == 22
    # An unknown secret is what putil.MakeSecret makes of a computed value (putil.go:58-64): an
    # output value, secret, without a value.
    assert value["privateKey"] == {SIG_KEY: OUTPUT_VALUE_SIG, "secret": True}
    whole = plugin.checked("unknown-whole", {"connection": UNKNOWN})
    assert whole["connection"] == {SIG_KEY: OUTPUT_VALUE_SIG, "secret": True}


# Create, Update, Delete, Read.


def test_create_returns_exactly_the_checked_inputs_plus_stdout_and_stderr(
    plugin: Plugin, conn: dict[str, Any], audit_path: Path
) -> None:
    news = {"connection": conn, "create": "echo out; echo err >&2; echo last"}
    inputs = plugin.checked("create", news)
    resource_id, outputs = plugin.create("create", news)
    assert re.fullmatch(r"create[0-9a-f]{8}", resource_id), "commandController.go:40 NewUniqueHex(name, 8, 0)"
    # CommandOutputs{CommandInputs, BaseOutputs} (command.go:70-73), encoded with the inputs' secrets
    # (resource.go:1299); stdout/stderr share no input's name, so never secret (resource.go:772-807).
    assert outputs == inputs | {"stdout": "out\nlast", "stderr": "err"}, "one trailing newline dropped"
    assert "addPreviousOutputInEnv" not in outputs
    assert commands_run(audit_path) == ["echo out; echo err >&2; echo last"]


def test_preview_create_returns_inputs_with_unknown_outputs_and_runs_nothing(
    plugin: Plugin, conn: dict[str, Any], audit_path: Path
) -> None:
    news = {"connection": conn, "create": "echo hi"}
    resource_id, outputs = plugin.create("preview", news, preview=True)
    assert resource_id.startswith("preview")
    # markComputed (resource.go:545-563): on create, outputs not mirroring an input are unknown.
    assert outputs == plugin.checked("preview", news) | {"stdout": UNKNOWN, "stderr": UNKNOWN}
    assert commands_run(audit_path) == []


def test_create_without_a_create_command_runs_nothing(
    plugin: Plugin, conn: dict[str, Any], audit_path: Path
) -> None:
    _, outputs = plugin.create("nothing", {"connection": conn, "delete": "echo bye"})
    assert outputs["stdout"] == "" and outputs["stderr"] == ""
    assert commands_run(audit_path) == []


def test_absent_add_previous_output_in_env_means_true_only_when_a_command_runs(
    plugin: Plugin, conn: dict[str, Any]
) -> None:
    """commandOutputs.go:51: `AddPreviousOutputInEnv == nil || *AddPreviousOutputInEnv`."""
    _, first = plugin.create("prev", {"connection": conn, "create": "echo v1"})
    script = 'echo "update after [$PULUMI_COMMAND_STDOUT]"'
    second = plugin.update("prev", first, {"connection": conn, "create": "echo v1", "update": script})
    assert second["stdout"] == "update after [v1]"
    assert "addPreviousOutputInEnv" not in second
    third = plugin.update(
        "prev", second, {"connection": conn, "create": 'echo "create again after [$PULUMI_COMMAND_STDOUT]"'}
    )
    assert third["stdout"] == "create again after [update after [v1]]"
    kept = plugin.update("prev", third, {"connection": conn, "delete": "true"})
    assert kept["stdout"] == third["stdout"], "nothing to run: the previous outputs stay"


def test_add_previous_output_in_env_false_leaves_the_variables_unset(
    plugin: Plugin, conn: dict[str, Any]
) -> None:
    _, first = plugin.create("noprev", {"connection": conn, "create": "echo v1"})
    news = {
        "connection": conn,
        "create": 'echo "[${PULUMI_COMMAND_STDOUT-unset}]"',
        "addPreviousOutputInEnv": False,
    }
    outputs = plugin.update("noprev", first, news)
    assert outputs["stdout"] == "[unset]" and outputs["addPreviousOutputInEnv"] is False


def test_update_preview_keeps_previous_outputs_unless_an_input_changed(
    plugin: Plugin, conn: dict[str, Any], audit_path: Path
) -> None:
    """markComputed on update (resource.go:565-587): outputs are unknown when an input is unknown or
    differs from the state; an input absent from the state does not count."""
    _, first = plugin.create("updprev", {"connection": conn, "create": "echo v1"})
    changed = plugin.update("updprev", first, {"connection": conn, "create": "echo v2"}, preview=True)
    assert changed["stdout"] == UNKNOWN and changed["create"] == "echo v2"
    added = plugin.update(
        "updprev", first, {"connection": conn, "create": "echo v1", "stdin": "x"}, preview=True
    )
    assert (added["stdout"], added["stderr"]) == ("v1", "")
    assert commands_run(audit_path) == ["echo v1"]


def test_delete_runs_the_stored_delete_with_stored_connection_stdin_and_outputs(
    plugin: Plugin, host: HostHandle, conn: dict[str, Any], audit_path: Path
) -> None:
    news = {
        "connection": conn,
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
