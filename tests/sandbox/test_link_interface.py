"""The emulated host's link interface (`enp1s0f1np1`): the `ip` shim's iproute2 output and `ufw allow in on`."""

from __future__ import annotations

import json

import asyncssh

from sandbox.host import HostHandle
from sandbox.host.state import read_json
from sandbox.orchestrator import link_address
from tests.sandbox.test_host_contract import ssh


def test_ip_addr_show_prints_iproute2s_format(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    address = host.link["address"]
    broadcast = address.rsplit(".", 1)[0] + ".255"
    result = ssh(host, client_key, "ip -4 addr show enp1s0f1np1")
    assert (result.exit_status, result.stdout) == (
        0,
        "3: enp1s0f1np1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP group default qlen 1000\n"
        f"    inet {address}/24 brd {broadcast} scope global enp1s0f1np1\n"
        "       valid_lft forever preferred_lft forever\n",
    )


def test_ip_oneline_is_one_line_per_address(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    address = host.link["address"]
    broadcast = address.rsplit(".", 1)[0] + ".255"
    result = ssh(host, client_key, "ip -4 -o addr show dev enp1s0f1np1")
    assert result.stdout == (
        f"3: enp1s0f1np1    inet {address}/24 brd {broadcast} scope global enp1s0f1np1\\"
        "       valid_lft forever preferred_lft forever\n"
    )
    assert result.stdout.split()[3] == f"{address}/24"


def test_ip_of_an_unknown_device_fails_as_iproute2_does(
    host: HostHandle, client_key: asyncssh.SSHKey
) -> None:
    result = ssh(host, client_key, "ip -4 addr show dev eth9")
    assert (result.exit_status, result.stdout, result.stderr) == (1, "", 'Device "eth9" does not exist.\n')


def test_the_link_is_recorded_in_settings(host: HostHandle) -> None:
    link = read_json(host.paths.settings, {})["link"]
    assert link == host.link and link["interface"] == "enp1s0f1np1"
    host.set_vllm_startup_seconds(2.0)
    assert json.loads(host.paths.settings.read_text()) == {"vllm_startup_seconds": 2.0, "link": link}


def test_link_addresses_are_unique_per_host_and_per_sandbox() -> None:
    assert [link_address(7, i) for i in range(3)] == ["127.101.7.1", "127.101.7.2", "127.101.7.3"]
    assert link_address(8, 0) != link_address(7, 0)


def test_ufw_allow_in_on_the_link_is_recorded(host: HostHandle, client_key: asyncssh.SSHKey) -> None:
    inactive = ssh(host, client_key, "sudo ufw allow in on enp1s0f1np1")
    assert (inactive.exit_status, inactive.stdout) == (0, "Rules updated\nRules updated (v6)\n")
    ssh(host, client_key, "sudo ufw --force enable")
    active = ssh(host, client_key, "sudo ufw allow 22/tcp")
    assert active.stdout == "Rule added\nRule added (v6)\n"
    assert read_json(host.paths.ufw, {})["rules"] == ["allow in on enp1s0f1np1", "allow 22/tcp"]
    assert "Anywhere on enp1s0f1np1" in ssh(host, client_key, "sudo ufw status").stdout
