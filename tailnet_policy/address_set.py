"""A set of IP addresses, as Tailscale's policy engine sees one: addresses, CIDRs and ranges.

Pure module. Tailscale "translates everything in the IP set to a list of IP address ranges"
(https://tailscale.com/kb/1387/ipsets), and an address selector in a grant or ACL is one address,
one CIDR (`100.64.0.0/10`) or one range (`100.64.0.1-100.64.0.9`). `AddressSet` keeps those as
sorted, merged intervals per IP version, so that union, difference (`ipsets` "remove"), overlap and
containment are exact, whatever spelling built the set.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Interval = tuple[int, int, int]
"""(IP version, first address as an integer, last address as an integer), inclusive."""


class AddressError(ValueError):
    """Text that is not an IP address, CIDR or address range."""


def _merge(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    merged: list[Interval] = []
    for version, low, high in sorted(intervals):
        if merged and merged[-1][0] == version and low <= merged[-1][2] + 1:
            last = merged[-1]
            merged[-1] = (version, last[1], max(last[2], high))
        else:
            merged.append((version, low, high))
    return tuple(merged)


@dataclass(frozen=True)
class AddressSet:
    """Addresses as merged inclusive intervals; the empty set is `AddressSet()`."""

    intervals: tuple[Interval, ...] = ()
    """Sorted, non-overlapping, non-adjacent intervals."""

    @classmethod
    def parse(cls, text: str) -> AddressSet:
        """`100.64.0.1`, `100.64.0.0/10`, `fd7a:115c:a1e0::/48`, `100.64.0.1-100.64.0.9`.

        Raises AddressError for anything else.
        """
        body = text.strip()
        try:
            if "-" in body:
                first_text, last_text = body.split("-", 1)
                first = ipaddress.ip_address(first_text.strip())
                last = ipaddress.ip_address(last_text.strip())
                if first.version != last.version or int(last) < int(first):
                    raise AddressError(f"{text!r}: an address range runs from a lower to a higher address")
                return cls(((first.version, int(first), int(last)),))
            network = ipaddress.ip_network(body, strict=False)
        except ValueError as exc:
            if isinstance(exc, AddressError):
                raise
            raise AddressError(f"{text!r} is not an IP address, CIDR or address range") from None
        low = int(network.network_address)
        return cls(((network.version, low, low + network.num_addresses - 1),))

    @classmethod
    def of(cls, *texts: str) -> AddressSet:
        """The union of several addresses, CIDRs or ranges."""
        result = cls()
        for text in texts:
            result = result | cls.parse(text)
        return result

    def __bool__(self) -> bool:
        return bool(self.intervals)

    def __or__(self, other: AddressSet) -> AddressSet:
        return AddressSet(_merge(self.intervals + other.intervals))

    def __sub__(self, other: AddressSet) -> AddressSet:
        remaining = list(self.intervals)
        for version, low, high in other.intervals:
            cut: list[Interval] = []
            for v, a, b in remaining:
                if v != version or b < low or a > high:
                    cut.append((v, a, b))
                    continue
                if a < low:
                    cut.append((v, a, low - 1))
                if b > high:
                    cut.append((v, high + 1, b))
            remaining = cut
        return AddressSet(_merge(remaining))

    def overlaps(self, other: AddressSet) -> bool:
        """True when some address is in both sets."""
        return any(v == w and a <= d and c <= b for v, a, b in self.intervals for w, c, d in other.intervals)

    def covers(self, other: AddressSet) -> bool:
        """True when every address of `other` is in this set (the empty set is covered)."""
        return not (other - self)

    def contains(self, address: str) -> bool:
        """True when `address` (one IP) is in the set; False for text that is not an IP."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(v == ip.version and a <= int(ip) <= b for v, a, b in self.intervals)

    def __str__(self) -> str:
        parts = []
        for version, low, high in self.intervals:
            make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
            if low == high:
                parts.append(str(make(low)))
                continue
            blocks = list(ipaddress.summarize_address_range(make(low), make(high)))
            parts.append(str(blocks[0]) if len(blocks) == 1 else f"{make(low)}-{make(high)}")
        return ", ".join(parts) or "no addresses"


TAILSCALE_IPV6 = AddressSet.parse("fd7a:115c:a1e0::/48")
"""Tailscale's IPv6 range: every device also has an address here (https://tailscale.com/kb/1033/ip-and-dns-addresses)."""
