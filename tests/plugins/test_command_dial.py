"""The `command` plugin's dialling over real SSH, as upstream dials (pulumi-command v1.2.1
`remote/connection.go`, golang.org/x/crypto v0.48.0 `ssh/`): agent, host keys, logins, retries, timeouts.

Every expected error text below was also measured by running upstream's `SSHConfig` and
`dialWithRetry` (copied from connection.go) over x/crypto v0.48.0 against the same emulated host.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import grpc
import pytest
from pulumi.runtime.proto import provider_pb2

from plugins.wire import to_struct
from sandbox.host import HostHandle, start_host
from testing.host import StandInControl, free_port
from tests.plugins.command_harness import (
    TYPE,
    Plugin,
    command_plugin,
    commands_run,
    connection,
    kexinit_server,
    ssh_agent,
    urn,
)

# SSHConfig: what fails at once, before any dial (connection.go:85-148).


def test_a_dead_agent_socket_fails_the_step_before_any_dial(
    tmp_path: Path, host: HostHandle, conn: dict[str, Any]
) -> None:
    """connection.go:131-145: SSH_AUTH_SOCK set -> `dialAgent` (net.Dial("unix")); its error is
    returned from SSHConfig, even with a private key that would log in."""
    dead = str(tmp_path / "gone.sock")
    with command_plugin(tmp_path / "logs", agent_socket=dead) as plugin:
        message = plugin.failure("dead-agent", {"connection": conn, "create": "true"})
    assert message == f"dial unix {dead}: connect: no such file or directory"
    assert host.connections == 0, "no dial at all"


def test_an_agent_socket_path_that_is_no_socket_fails_the_step(
    plugin: Plugin, tmp_path: Path, host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    regular = tmp_path / "not-a-socket"
    regular.write_text("")
    conn = connection(host, client_key, agentSocketPath=str(regular))
    message = plugin.failure("file-agent", {"connection": conn, "create": "true"})
    assert message == f"dial unix {regular}: connect: connection refused"
    assert host.connections == 0


def test_agent_keys_log_in_when_there_is_no_private_key(
    tmp_path: Path, host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    with (
        ssh_agent(tmp_path, client_key) as agent,
        command_plugin(tmp_path / "logs", agent_socket=agent) as plugin,
    ):
        conn = {"host": host.address, "port": host.port, "user": "ubuntu", "hostKey": host.host_key}
        _, outputs = plugin.create("agent", {"connection": conn, "create": "echo via-agent"})
    assert outputs["stdout"] == "via-agent"


def test_the_private_key_goes_first_and_the_agent_is_never_tried_after_it(
    tmp_path: Path, host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    """config.Auth is [privateKey, ..., agent] (connection.go:106-145) and x/crypto tries each method
    *name* once (client_auth.go:66-111): once the private key's `publickey` failed, the agent's
    `publickey` (which holds the right key here) is not tried."""
    wrong = asyncssh.generate_private_key("ssh-ed25519")
    with (
        ssh_agent(tmp_path, client_key) as agent,
        command_plugin(tmp_path / "logs", agent_socket=agent) as plugin,
    ):
        conn = connection(host, wrong, dialErrorLimit=0)
        message = plugin.failure("key-first", {"connection": conn, "create": "true"})
    assert message == (
        "after 0 failed attempts: ssh: handshake failed: ssh: unable to authenticate, attempted methods "
        "[none publickey], no supported methods remain"
    )


# Host keys (connection.go:88-98).


@pytest.mark.parametrize("key_type", ["ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256"])
def test_a_pinned_host_key_offers_exactly_its_type_as_host_key_algorithm(
    plugin: Plugin, key_type: str
) -> None:
    """connection.go:94 `hostKeyAlgorithms = []string{publicKey.Type()}`: for RSA that is SHA-1
    `ssh-rsa` alone, which OpenSSH 8.8 and later refuse by default."""
    pinned = asyncssh.generate_private_key(key_type).export_public_key().decode().strip()
    with kexinit_server([key_type]) as server:
        conn = {"host": "127.0.0.1", "port": server.port, "hostKey": pinned, "dialErrorLimit": 0}
        plugin.failure(f"kex-{key_type}", {"connection": conn, "create": "true"})
    assert server.offered == [[key_type]]


def test_an_rsa_host_key_fails_against_a_server_without_sha1_host_keys(plugin: Plugin) -> None:
    pinned = asyncssh.generate_private_key("ssh-rsa").export_public_key().decode().strip()
    with kexinit_server(["rsa-sha2-512", "rsa-sha2-256"]) as server:
        conn = {"host": "127.0.0.1", "port": server.port, "hostKey": pinned, "dialErrorLimit": 1}
        message = plugin.failure("kex-no-sha1", {"connection": conn, "create": "true"})
    assert message == (
        "after 1 failed attempts: ssh: handshake failed: ssh: no common algorithm for host key; "
        "we offered: [ssh-rsa], peer offered: [rsa-sha2-512 rsa-sha2-256]"
    )
    assert server.offered == [["ssh-rsa"], ["ssh-rsa"]], "retried like any dial error"


def test_a_host_key_that_does_not_match_is_retried_then_fails_with_x_crypto_words(
    plugin: Plugin, host: HostHandle, client_key: asyncssh.SSHKey, audit_path: Path
) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    started = time.monotonic()
    conn = connection(host, client_key, hostKey=other, dialErrorLimit=2)
    message = plugin.failure("mismatch", {"connection": conn, "create": "echo no"})
    assert message == "after 2 failed attempts: ssh: handshake failed: ssh: host key mismatch"
    assert host.connections == 3, "dialWithRetry retries every dial error (connection.go:150-187)"
    assert time.monotonic() - started >= 0.25, "waits 0.1 s, then 0.15 s (until.go:62-115)"
    assert plugin.lines("mismatch") == ["Dial 1/2 failed: retrying", "Dial 2/2 failed: retrying"]
    assert commands_run(audit_path) == []


def test_a_host_key_that_does_not_parse_passes_check_and_fails_when_the_command_runs(
    plugin: Plugin, host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    news = {"connection": connection(host, client_key, hostKey="not a key"), "create": "true"}
    assert not plugin.check("badkey", news).failures
    _, preview = plugin.create("badkey", news, preview=True)
    assert preview["connection"]["value"]["hostKey"] == "not a key"
    message = plugin.failure("badkey", news)
    assert message == (
        "failed to parse host key: ssh: no key found; last parsing error for ignored line: "
        "illegal base64 data at input byte 0"
    )
    assert host.connections == 0, "SSHConfig fails before any dial"


# Logins (connection.go:106-129).


def test_a_rejected_login_is_retried_like_any_dial_error(
    plugin: Plugin, host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    wrong = asyncssh.generate_private_key("ssh-ed25519")
    message = plugin.failure(
        "rejected", {"connection": connection(host, wrong, dialErrorLimit=2), "create": "true"}
    )
    assert message == (
        "after 2 failed attempts: ssh: handshake failed: ssh: unable to authenticate, attempted methods "
        "[none publickey], no supported methods remain"
    )
    assert host.connections == 3


@pytest.fixture
def password_host(
    tmp_path: Path, client_key: asyncssh.SSHKey, control: StandInControl
) -> Iterator[HostHandle]:
    ecdsa = asyncssh.generate_private_key("ecdsa-sha2-nistp256")
    keys = [client_key.export_public_key().decode(), ecdsa.export_public_key().decode()]
    handle = start_host(tmp_path / "pw", keys, control.url, passwords={"ops": "hunter2-pw"})
    handle.ecdsa = ecdsa  # type: ignore[attr-defined]
    yield handle
    handle.stop()


def test_password_logins_try_password_then_keyboard_interactive(
    plugin: Plugin, password_host: HostHandle
) -> None:
    base = {"host": password_host.address, "port": password_host.port, "hostKey": password_host.host_key}
    _, outputs = plugin.create(
        "pw", {"connection": base | {"user": "ops", "password": "hunter2-pw"}, "create": "echo $USER"}
    )
    assert outputs["stdout"] == "ops"
    bad = base | {"user": "ops", "password": "wrong-pass", "dialErrorLimit": 0}
    assert plugin.failure("badpw", {"connection": bad, "create": "true"}) == (
        "after 0 failed attempts: ssh: handshake failed: ssh: unable to authenticate, attempted methods "
        "[none password keyboard-interactive], no supported methods remain"
    )


def test_private_keys_are_read_as_x_crypto_reads_them(plugin: Plugin, password_host: HostHandle) -> None:
    """ParsePrivateKey / ParsePrivateKeyWithPassphrase (x/crypto ssh/keys.go:1233-1345): an encrypted
    legacy PEM key decrypts; PKCS#8 encryption is not supported; errors end the step at once."""
    ecdsa: asyncssh.SSHKey = password_host.ecdsa  # type: ignore[attr-defined]
    base = {"host": password_host.address, "port": password_host.port, "user": "ubuntu"}
    pem = ecdsa.export_private_key("pkcs1-pem", passphrase="key-pass").decode()
    _, outputs = plugin.create(
        "enc",
        {"connection": base | {"privateKey": pem, "privateKeyPassword": "key-pass"}, "create": "echo $USER"},
    )
    assert outputs["stdout"] == "ubuntu"
    pkcs8 = ecdsa.export_private_key("pkcs8-pem", passphrase="key-pass").decode()
    cases = {
        "ssh: not an encrypted key": {"privateKey": pkcs8, "privateKeyPassword": "key-pass"},
        'ssh: unsupported key type "ENCRYPTED PRIVATE KEY"': {"privateKey": pkcs8},
        "x509: decryption password incorrect": {"privateKey": pem, "privateKeyPassword": "nope"},
        "ssh: this private key is passphrase protected": {"privateKey": pem},
        "ssh: no key found": {"privateKey": "not a key"},
    }
    for expected, extra in cases.items():
        assert plugin.failure("badkey", {"connection": base | extra, "create": "true"}) == expected
    assert password_host.connections == 1, "only the successful run dialled"


# Retries and timeouts (connection.go:150-201, x/crypto ssh/client.go:177-188).


def test_dropped_connections_are_retried_within_dial_error_limit(
    plugin: Plugin, host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    host.refuse_connections(2)
    _, outputs = plugin.create(
        "retry", {"connection": connection(host, client_key, dialErrorLimit=2), "create": "echo up"}
    )
    assert outputs["stdout"] == "up"
    assert host.connections == 3
    assert "Dial 1/2 failed: retrying" in plugin.lines("retry")


def test_dialling_fails_after_dial_error_limit_with_upstream_wording(
    plugin: Plugin, host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    host.refuse_connections(10)
    message = plugin.failure(
        "give-up", {"connection": connection(host, client_key, dialErrorLimit=2), "create": "echo up"}
    )
    assert message == "after 2 failed attempts: ssh: handshake failed: EOF", "it formats `try`, not `dials`"
    assert host.connections == 3, "limit + 1 dials"


def test_a_refused_port_is_retried_until_the_host_comes_up(
    plugin: Plugin, tmp_path: Path, client_key: asyncssh.SSHKey, control: StandInControl
) -> None:
    port = free_port("127.0.0.1")
    public = client_key.export_public_key().decode()
    late: list[HostHandle] = []
    starter = threading.Timer(
        0.5, lambda: late.append(start_host(tmp_path / "late", [public], control.url, port=port))
    )
    starter.start()
    try:
        conn = {
            "host": "127.0.0.1",
            "port": port,
            "user": "ubuntu",
            "privateKey": client_key.export_private_key().decode(),
        }
        _, outputs = plugin.create("booting", {"connection": conn, "create": "echo booted"})
        assert outputs["stdout"] == "booted"
    finally:
        starter.join()
        for handle in late:
            handle.stop()
    refused = {"host": "127.0.0.1", "port": free_port("127.0.0.1"), "dialErrorLimit": 0}
    message = plugin.failure("closed", {"connection": refused, "create": "true"})
    assert (
        message
        == f"after 0 failed attempts: dial tcp 127.0.0.1:{refused['port']}: connect: connection refused"
    )


def test_per_dial_timeout_bounds_the_tcp_connect(plugin: Plugin) -> None:
    """`ClientConfig.Timeout` is `net.DialTimeout`'s (x/crypto ssh/client.go:178, 239-242). A listener
    whose backlog is full drops the SYN, so the connect itself times out."""
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        time.sleep(0.2)
        conn = {"host": "127.0.0.1", "port": port, "perDialTimeout": 1, "dialErrorLimit": 0}
        started = time.monotonic()
        message = plugin.failure("timeout", {"connection": conn, "create": "true"})
        for filler in fillers:
            filler.close()
    assert message == f"after 0 failed attempts: dial tcp 127.0.0.1:{port}: i/o timeout"
    assert 0.9 < time.monotonic() - started < 5


def test_per_dial_timeout_does_not_bound_the_handshake(plugin: Plugin) -> None:
    """A server that accepts and never speaks holds the dial past `perDialTimeout`; it ends only
    when the server closes (`ssh: handshake failed: EOF`)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        conn = {
            "host": "127.0.0.1",
            "port": silent.getsockname()[1],
            "perDialTimeout": 1,
            "dialErrorLimit": 0,
        }
        inputs = plugin.checked("silent", {"connection": conn, "create": "true"})
        future = plugin.stub.Create.future(
            provider_pb2.CreateRequest(
                urn=urn("silent"), name="silent", type=TYPE, properties=to_struct(inputs)
            )
        )
        accepted, _ = silent.accept()
        time.sleep(2.5)
        assert not future.done(), "still in the handshake after perDialTimeout + 1.5 s"
        accepted.close()
        with pytest.raises(grpc.RpcError) as caught:
            future.result(timeout=10)
    assert caught.value.details() == "after 0 failed attempts: ssh: handshake failed: EOF"
