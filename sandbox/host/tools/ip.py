"""The emulated iproute2 `ip` on the host: `ip [-4] [-o] addr show [dev] IFACE` for the link interface.

Each emulated host has one link interface, `enp1s0f1np1` (the QSFP port between two Sparks, as
NVIDIA's dgx-spark-playbooks name it), whose IPv4 address the SSH server passes in
`SANDBOX_LINK_ADDRESS` (`A.B.C.D/24`; also recorded as `link` in state/settings.json). Output is
iproute2's (ip/ipaddress.c `print_linkinfo`, `print_addrinfo`):

    3: enp1s0f1np1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP group default qlen 1000
        inet 127.101.7.1/24 brd 127.101.7.255 scope global enp1s0f1np1
           valid_lft forever preferred_lft forever

and with `-o` one line per address: `3: enp1s0f1np1    inet 127.101.7.1/24 brd 127.101.7.255 scope
global enp1s0f1np1\\       valid_lft forever preferred_lft forever`. Without a device, `lo` comes
first. An unknown device: `Device "X" does not exist.` on stderr, exit 1. `addr`, `address`, `a` and
`show`, `list`, `sh`, `ls`, `s` are accepted spellings. SANDBOX ONLY: no IPv6 addresses, no link
layer lines (`link/ether`), other objects (`link`, `route`, ...) are refused.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Sequence

from sandbox.host.state import LINK_INTERFACE

LINK_ADDRESS_ENV = "SANDBOX_LINK_ADDRESS"
"""The host's link interface address with its prefix (`127.101.X.Y/24`), set by the SSH server."""


def _interfaces() -> list[tuple[int, str, str, str]]:
    """(index, name, flags+attributes, inet line) of each interface with an IPv4 address."""
    interfaces = [
        (
            1,
            "lo",
            "<LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000",
            "inet 127.0.0.1/8 scope host lo",
        )
    ]
    value = os.environ.get(LINK_ADDRESS_ENV)
    if value:
        network = ipaddress.ip_interface(value)
        interfaces.append(
            (
                3,
                LINK_INTERFACE,
                "<BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP group default qlen 1000",
                f"inet {network.with_prefixlen} brd {network.network.broadcast_address} scope global "
                f"{LINK_INTERFACE}",
            )
        )
    return interfaces


def main(argv: Sequence[str]) -> int:
    """`ip [-4] [-o|-oneline] addr show [dev] [IFACE]`."""
    words = list(argv)
    oneline = False
    while words and words[0].startswith("-"):
        option = words.pop(0)
        if option in ("-o", "-oneline", "--oneline"):
            oneline = True
        elif option not in ("-4", "-f", "inet") and option != "-family":
            print(f'Option "{option}" is unknown, try "ip -help".', file=sys.stderr)
            return 255
        elif option in ("-f", "-family") and words:
            words.pop(0)
    if not words or words[0] not in ("addr", "address", "a"):
        target = words[0] if words else ""
        print(
            f"ip: SANDBOX ONLY: `ip {target}` is not emulated (only `ip [-4] [-o] addr show`)",
            file=sys.stderr,
        )
        return 1
    words = words[1:]
    if words and words[0] in ("show", "list", "sh", "ls", "s", "lst"):
        words = words[1:]
    if words and words[0] == "dev":
        words = words[1:]
    device = words[0] if words else None
    chosen = [i for i in _interfaces() if device is None or i[1] == device]
    if not chosen:
        print(f'Device "{device}" does not exist.', file=sys.stderr)
        return 1
    for index, name, attributes, inet in chosen:
        lifetime = "valid_lft forever preferred_lft forever"
        if oneline:
            print(f"{index}: {name}    {inet}\\       {lifetime}")
        else:
            print(f"{index}: {name}: {attributes}\n    {inet}\n       {lifetime}")
    return 0
