"""Which selectors of a policy file can name a GPU server, and which name only allowed sources.

Pure module, the guardrails' half of the evaluator: `policies.exposure` asks it about every rule,
with selections resolved by `tailnet_policy.selectors` (the same resolution `can_reach` uses).

A GPU server is a tagged device (its auth key carries the GPU tag), so a selector can name it as:
`*`, one of its tags, `autogroup:tagged`, or an address form (IP, CIDR, range, hosts alias, ipset)
that contains its tailnet address. Users, groups of users, `autogroup:member`, `autogroup:self`,
`autogroup:shared`, role autogroups and `user:*@domain` name user-owned devices, never a tagged one
(https://tailscale.com/kb/1068/tags). `autogroup:internet` names public addresses, never tailnet ones.

A server's IPv4 address is known once it has joined (the stack's state); before that, any address of
the tailnet range may become its address. Its IPv6 address is never known here, so any address in
Tailscale's IPv6 range counts as possibly naming it. Its LAN address (`sovereign-ai:hosts[].address`,
when it is an IP) names it too: a subnet router that advertises the LAN lets a tailnet rule reach it
there, around the gateway, as a tailnet address would.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from config.fields import DEFAULT_TAILNET_RANGE
from tailnet_policy.address_set import TAILSCALE_IPV6, AddressSet
from tailnet_policy.selectors import Selection


@dataclass(frozen=True)
class Naming:
    """How a selection names a GPU server: by a principal, or only by address."""

    how: str
    """`tag:gpu`, `*`, `autogroup:tagged`, or the address part, worded for a message."""

    by_address: bool
    """True when only an address form names it (the verdict depends on the server's address)."""

    detail: str = ""
    """For an address naming, which addresses and why they count (empty when the name says it)."""


@dataclass(frozen=True)
class GpuServers:
    """What identifies the GPU servers: their tags, known addresses, and where unknown ones may be."""

    name: str
    """How messages name them, e.g. `tag:gpu`."""

    tags: frozenset[str]
    """Tags the servers carry (the GPU tag and the auth keys' tags)."""

    addresses: AddressSet = field(default_factory=AddressSet)
    """Tailnet IPv4 addresses known from the stack's state."""

    pending: AddressSet = field(default_factory=lambda: AddressSet.parse(DEFAULT_TAILNET_RANGE))
    """Where a server whose address is not yet known may get one (empty when all are known)."""

    lan: AddressSet = field(default_factory=AddressSet)
    """The servers' LAN addresses (`hosts[].address` given as IPs), reachable through a subnet router."""

    @classmethod
    def for_stack(
        cls,
        gpu_tag: str,
        tags: Iterable[str],
        known: Iterable[str],
        hosts: int,
        address_range: str,
        lan: Iterable[str] = (),
    ) -> GpuServers:
        """Servers from the stack: `known` addresses from state; the range while some are unknown.

        :param hosts: how many GPU servers the config declares.
        :param lan: the hosts' SSH addresses (`hosts[].address`); names that are not IPs are skipped.
        """
        addresses = AddressSet()
        for address in known:
            addresses = addresses | AddressSet.parse(address)
        count = len({a for a in known})
        pending = AddressSet() if count >= hosts else AddressSet.parse(address_range)
        return cls(gpu_tag, frozenset({gpu_tag, *tags}), addresses, pending, lan_addresses(lan))

    def named_by(self, selection: Selection) -> Naming | None:
        """How `selection` can name a GPU server, or None when it cannot."""
        if selection.everything:
            return Naming("*", False)
        tags = sorted(self.tags & selection.tags)
        if tags:
            return Naming(tags[0], False)
        if "autogroup:tagged" in selection.autogroups:
            return Naming("autogroup:tagged", False)
        chosen = selection.addresses
        if chosen.overlaps(self.addresses):
            plain = self.addresses.contains(self.name)
            detail = "" if plain else f"{chosen}, which contains the server address {self.addresses}"
            return Naming(str(chosen), True, detail)
        if chosen.overlaps(self.lan):
            detail = (
                f"{chosen}, which contains a GPU server's LAN address ({self.lan}, sovereign-ai:hosts[].address), "
                "reachable through a subnet router"
            )
            return Naming(str(chosen), True, detail)
        if chosen.overlaps(self.pending):
            return Naming(
                str(chosen),
                True,
                f"{chosen}, which may contain a GPU server's address (not known before its first "
                f"join; the tailnet range is {self.pending})",
            )
        if chosen.overlaps(TAILSCALE_IPV6):
            detail = f"{chosen}, inside Tailscale's IPv6 range, where every device has an address"
            return Naming(str(chosen), True, detail)
        return None


def lan_addresses(addresses: Iterable[str]) -> AddressSet:
    """The IPs among `addresses` (LAN names or IPs, as `hosts[].address` holds them)."""
    found = AddressSet()
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            continue
        found = found | AddressSet.parse(address)
    return found


@dataclass(frozen=True)
class Allowed:
    """The only sources a port may have: principals and addresses that stand for them."""

    logins: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    autogroups: frozenset[str] = frozenset()
    addresses: AddressSet = field(default_factory=AddressSet)

    def admits(self, selection: Selection) -> bool:
        """True when everything `selection` names is allowed (nothing wider, nothing unknown)."""
        return (
            not selection.everything
            and not selection.unknown
            and not selection.domains
            and selection.logins <= self.logins
            and selection.tags <= self.tags
            and selection.autogroups <= self.autogroups
            and self.addresses.covers(selection.addresses)
        )
