"""Who can reach what: Tailscale's evaluation of a policy file, and its `tests`.

Pure module. The program uses it to check the policy it generates, the policy pack to judge stacks,
and the sandbox's Tailscale API to run `tests` on every save, so all three agree by construction.

Identities are strings: a login (`alice@example.com`), a tag (`tag:gpu`), an IP address or a `hosts`
alias. Semantics follow Tailscale's policy syntax reference:
- `*` matches every identity; `autogroup:danger-all` too (and devices outside the tailnet);
- `group:x` matches its member logins (groups do not nest); `autogroup:member` every login;
  `autogroup:tagged` every tag; `autogroup:admin` and other role autogroups the logins the
  `Directory` says hold that role;
- `autogroup:self` as a destination matches the source user's own devices;
- `autogroup:internet` matches only the internet (the `INTERNET` destination), through exit nodes;
- hosts aliases and IPs/CIDRs match addresses; a destination given as an alias resolves to its address.
Access is the union of `acls` and the network part (`ip`) of `grants`; everything else is denied.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from components.policy_file import Acl, Grant, PolicyFile, PolicyTest

INTERNET = "autogroup:internet"
"""Destination identity that stands for the internet (reached only through exit nodes)."""

ROLE_AUTOGROUPS = (
    "autogroup:admin",
    "autogroup:owner",
    "autogroup:network-admin",
    "autogroup:it-admin",
    "autogroup:billing-admin",
    "autogroup:auditor",
)

PROTOCOLS = ("tcp", "udp", "icmp")


@dataclass(frozen=True)
class Directory:
    """Facts the policy file does not hold: which logins hold admin roles, which devices exist."""

    roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Role autogroup (e.g. `autogroup:admin`) -> logins holding it."""

    addresses: Mapping[str, str] = field(default_factory=dict)
    """Identity (login or tag) -> a tailnet IP of one of its devices, for IP/CIDR selectors."""


@dataclass(frozen=True)
class PortRange:
    """Protocols and an inclusive port range, parsed from `*`, `443`, `tcp:443`, `80-443`, ..."""

    protocols: frozenset[str]
    low: int
    high: int

    def covers(self, proto: str, port: int) -> bool:
        if proto not in self.protocols:
            return False
        if proto == "icmp":
            return True
        return self.low <= port <= self.high


ALL_PORTS = PortRange(frozenset(PROTOCOLS), 0, 65535)


class PortSpecError(ValueError):
    """A port spec Tailscale would reject, with its reason."""


def parse_ports(spec: str, default_protocols: Iterable[str] = PROTOCOLS) -> list[PortRange]:
    """`*`, `22`, `80,443`, `1000-2000`, `tcp:443`, `udp:*`, `icmp:*` -> port ranges."""
    protocols = frozenset(default_protocols)
    body = spec.strip()
    if ":" in body:
        proto, body = body.split(":", 1)
        proto = proto.lower()
        if proto not in PROTOCOLS:
            raise PortSpecError(f"port range {spec!r}: unknown protocol {proto!r}")
        protocols = frozenset({proto})
    ranges = []
    for part in body.split(","):
        part = part.strip()
        if part == "*":
            ranges.append(PortRange(protocols, 0, 65535))
            continue
        low_text, _, high_text = part.partition("-")
        try:
            low = int(low_text)
            high = int(high_text) if high_text else low
        except ValueError:
            raise PortSpecError(f'port range "{part}": invalid first integer') from None
        if low <= 0:
            raise PortSpecError(f"port range \"{part}\": first port must be >0, or use '*' for wildcard")
        if high < low or high > 65535:
            raise PortSpecError(f'port range "{part}": invalid range')
        ranges.append(PortRange(protocols, low, high))
    return ranges


@dataclass(frozen=True)
class Rule:
    """One network rule after normalisation: where it came from, sources, destinations, ports."""

    origin: str
    """`grants[3]` or `acls[0]`: where a user finds it in the policy file."""

    src: tuple[str, ...]
    dst: tuple[str, ...]
    ports: tuple[PortRange, ...]


def network_rules(policy: PolicyFile) -> Iterator[Rule]:
    """Every rule that opens network access: acls (dst `host:ports`) and grants with `ip`."""
    for index, acl in enumerate(policy.acls):
        if acl.action != "accept":
            continue
        yield from _acl_rules(index, acl)
    for index, grant in enumerate(policy.grants):
        if grant.ip:
            yield _grant_rule(index, grant)


def _acl_rules(index: int, acl: Acl) -> Iterator[Rule]:
    protocols = (acl.proto.lower(),) if acl.proto else PROTOCOLS
    for dst in acl.dst:
        host, sep, ports = dst.rpartition(":")
        if not sep:
            raise PortSpecError(f"acls[{index}].dst {dst!r}: expected host:ports")
        yield Rule(f"acls[{index}]", acl.src, (host,), tuple(parse_ports(ports, protocols)))


def _grant_rule(index: int, grant: Grant) -> Rule:
    ports: list[PortRange] = []
    for spec in grant.ip:
        ports.extend(parse_ports(spec))
    return Rule(f"grants[{index}]", grant.src, grant.dst, tuple(ports))


class Evaluator:
    """Answers `can_reach` for one policy; built once, then cheap per question."""

    NARROW = 64
    """Rules whose ports span at most this many ports are indexed per port; others are scanned."""

    def __init__(self, policy: PolicyFile, directory: Directory | None = None) -> None:
        self.policy = policy
        self.directory = directory or Directory()
        self.rules = list(network_rules(policy))
        # Index: a question about one port only looks at the rules that can cover it.
        self._by_port: dict[int, list[int]] = {}
        self._wide: list[int] = []
        for index, rule in enumerate(self.rules):
            if all(p.high - p.low < self.NARROW for p in rule.ports):
                for port in sorted({n for p in rule.ports for n in range(p.low, p.high + 1)}):
                    self._by_port.setdefault(port, []).append(index)
            else:
                self._wide.append(index)

    def _candidates(self, port: int) -> list[Rule]:
        indexes = sorted(self._by_port.get(port, []) + self._wide)
        return [self.rules[i] for i in indexes]

    # -- selectors ------------------------------------------------------------------------------

    def _address(self, identity: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        candidate = self.policy.hosts.get(identity, self.directory.addresses.get(identity, identity))
        try:
            return ipaddress.ip_address(candidate.split("/")[0] if "/" in candidate else candidate)
        except ValueError:
            return None

    def _network(self, selector: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        value = self.policy.hosts.get(selector, selector)
        try:
            return ipaddress.ip_network(value, strict=False)
        except ValueError:
            return None

    def matches_src(self, selector: str, identity: str) -> bool:
        """Does the source selector of a rule match this identity?"""
        if selector in ("*", "autogroup:danger-all"):
            return True
        return self._matches_common(selector, identity)

    def matches_dst(self, selector: str, identity: str, src: str) -> bool:
        """Does the destination selector of a rule match this destination identity?"""
        if identity == INTERNET:
            return selector == INTERNET
        if selector == "*":
            return True
        if selector == "autogroup:self":
            return _is_login(identity) and identity == src
        if selector == INTERNET:
            return False
        return self._matches_common(selector, identity)

    def _matches_common(self, selector: str, identity: str) -> bool:
        if selector == identity:
            return True
        if selector.startswith("group:"):
            return identity in self.policy.groups.get(selector, ())
        if selector in ("autogroup:member", "autogroup:members"):
            return _is_login(identity)
        if selector == "autogroup:tagged":
            return identity.startswith("tag:")
        if selector in ROLE_AUTOGROUPS:
            return identity in self.directory.roles.get(selector, frozenset())
        if selector.startswith(("tag:", "autogroup:")) or _is_login(selector):
            return False
        network = self._network(selector)
        address = self._address(identity)
        return network is not None and address is not None and address in network

    # -- questions ------------------------------------------------------------------------------

    def rules_allowing(self, src: str, dst: str, port: int, proto: str = "tcp") -> list[Rule]:
        """The rules that let `src` reach `dst` on `proto`/`port` (empty: denied)."""
        return [
            rule
            for rule in self._candidates(0 if proto == "icmp" else port)
            if any(p.covers(proto, port) for p in rule.ports)
            and any(self.matches_src(s, src) for s in rule.src)
            and any(self.matches_dst(d, dst, src) for d in rule.dst)
        ]

    def can_reach(self, src: str, dst: str, port: int, proto: str = "tcp") -> bool:
        """True when some acl or grant lets identity `src` reach `dst` on `proto`/`port`."""
        return bool(self.rules_allowing(src, dst, port, proto))


def can_reach(
    policy: PolicyFile,
    src: str,
    dst: str,
    port: int,
    proto: str = "tcp",
    directory: Directory | None = None,
) -> bool:
    """One-off question; build an `Evaluator` to ask many."""
    return Evaluator(policy, directory).can_reach(src, dst, port, proto)


def _is_login(identity: str) -> bool:
    return "@" in identity and not identity.startswith(("group:", "tag:", "autogroup:"))


# -- tests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestFailure:
    """One failed assertion of a policy test, worded as Tailscale words it."""

    __test__ = False  # not a pytest test class

    index: int
    src: str
    message: str

    def __str__(self) -> str:
        return f"tests[{self.index}] (src {self.src}): {self.message}"


def split_destination(destination: str) -> tuple[str, int]:
    """`tag:gpu:8000` -> (`tag:gpu`, 8000); tests take exactly one numeric port."""
    host, sep, port = destination.rpartition(":")
    if not sep or not port.isdigit():
        raise PortSpecError(f"address {destination!r}: a test destination is host:port with one port")
    return host, int(port)


def run_tests(
    policy: PolicyFile,
    tests: Iterable[PolicyTest] | None = None,
    directory: Directory | None = None,
) -> list[TestFailure]:
    """Evaluate `tests` (default: the policy's own) the way Tailscale does on save."""
    evaluator = Evaluator(policy, directory)
    failures = []
    for index, test in enumerate(policy.tests if tests is None else tests):
        protocols = (test.proto,) if test.proto else ("tcp", "udp")
        for want_accept, destinations in ((True, test.accept), (False, test.deny)):
            for destination in destinations:
                try:
                    host, port = split_destination(destination)
                except PortSpecError as exc:
                    failures.append(TestFailure(index, test.src, str(exc)))
                    continue
                unknown = _unknown_name(policy, host)
                if unknown:
                    failures.append(TestFailure(index, test.src, unknown))
                    continue
                got = any(evaluator.can_reach(test.src, host, port, proto) for proto in protocols)
                if got != want_accept:
                    want = "Accept" if want_accept else "Drop"
                    actual = "Accept" if got else "Drop"
                    failures.append(
                        TestFailure(index, test.src, f'address "{destination}": want: {want}, got: {actual}')
                    )
    return failures


def _unknown_name(policy: PolicyFile, host: str) -> str | None:
    if host.startswith("tag:") and host not in policy.tag_owners:
        return f'tag not found: "{host}"'
    if host.startswith("group:") and host not in policy.groups:
        return f'group not found: "{host}"'
    return None
