"""Who can reach what: Tailscale's evaluation of a policy file, and its `tests`.

Pure module. The program uses it to check the policy it generates (`policy_for`), the policy pack to
judge stacks (`policies.exposure`), and the sandbox's Tailscale API to run `tests` on every save
and to decide what the gateway reaches, so all three agree by construction.

Identities are strings: a login (`alice@example.com`), a tag (`tag:gpu`), an IP address or a `hosts`
alias. What each selector of a rule denotes comes from `tailnet_policy.selectors` (every documented
form: https://tailscale.com/kb/1396/targets). Semantics follow Tailscale's references
(https://tailscale.com/kb/1538/grants-syntax, https://tailscale.com/kb/1337/acl-syntax):
- `*` matches every identity; `autogroup:danger-all` too (and devices outside the tailnet);
- `group:x` matches its members; `autogroup:member` every login; `autogroup:tagged` every tag;
  `autogroup:admin` and other role autogroups the logins the `Directory` says hold that role;
  `user:*@example.com` every login of that domain;
- `autogroup:self` as a destination matches the source user's own devices;
- `autogroup:internet` matches only the internet (the `INTERNET` destination), through exit nodes;
- addresses (IP, CIDR, range, hosts alias, `ipset:`) match an identity whose address is inside
  them: a literal IP, a hosts alias, or the `Directory`'s addresses of a login or tag.
Access is the union of `acls` (`action: accept`; legacy `users`/`ports`, `Action`/`Users`/`Ports`;
`proto` by IANA name or number; `dst` as `host:ports` with IPv6 in brackets) and the network part
(`ip`) of `grants`. `srcPosture` and `via` only narrow a grant, so they are ignored: the answer may
say "reachable" where a posture would refuse, never the reverse. `app` opens no network access.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from tailnet_policy.address_set import AddressError, AddressSet
from tailnet_policy.policy_file import Acl, Grant, PolicyFile, PolicyTest
from tailnet_policy.selectors import INTERNET, ROLE_AUTOGROUPS, Resolver, Selection, is_login

__all__ = [
    "ALL_PORTS",
    "INTERNET",
    "PROTOCOLS",
    "ROLE_AUTOGROUPS",
    "Directory",
    "Evaluator",
    "PortRange",
    "PortSpecError",
    "Rule",
    "TestFailure",
    "can_reach",
    "network_rules",
    "parse_ports",
    "run_tests",
    "split_destination",
]

PROTOCOLS = ("tcp", "udp", "icmp")
"""What a rule without a protocol opens."""

IANA_PROTOCOLS = {
    "icmp": 1,
    "igmp": 2,
    "ipv4": 4,
    "ip-in-ip": 4,
    "tcp": 6,
    "egp": 8,
    "igp": 9,
    "udp": 17,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "ipv6-icmp": 58,
    "sctp": 132,
}
"""Protocol names an ACL's `proto` may use, with their IANA numbers (a number is accepted too)."""

_CANONICAL = {1: "icmp", 6: "tcp", 17: "udp"}


@dataclass(frozen=True)
class Directory:
    """Facts the policy file does not hold: which logins hold admin roles, which devices exist."""

    roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Role autogroup (e.g. `autogroup:admin`) -> logins holding it."""

    addresses: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    """Identity (login or tag) -> the tailnet IPs of its devices, for address selectors."""


@dataclass(frozen=True)
class PortRange:
    """Protocols and an inclusive port range, parsed from `*`, `443`, `tcp:443`, `80-443`, ..."""

    protocols: frozenset[str]
    low: int
    high: int

    def covers(self, proto: str, port: int) -> bool:
        if proto not in self.protocols:
            return False
        if proto not in ("tcp", "udp", "sctp"):
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


def acl_protocols(proto: str | None, where: str) -> frozenset[str]:
    """An ACL's `proto` (IANA name or number; unset: tcp, udp and icmp) as protocol names."""
    if proto is None or proto == "":
        return frozenset(PROTOCOLS)
    text = proto.strip().lower()
    number = int(text) if text.isdigit() else IANA_PROTOCOLS.get(text)
    if number is None or not 0 <= number <= 255:
        raise PortSpecError(f"{where}.proto {proto!r}: unknown protocol")
    return frozenset({_CANONICAL.get(number, text if not text.isdigit() else f"proto-{number}")})


def split_host_ports(destination: str, where: str) -> tuple[str, str]:
    """An ACL `dst` entry: `tag:gpu:22`, `100.64.0.1:80,443`, `[fd7a:115c:a1e0::1]:22` -> host, ports."""
    if destination.startswith("["):
        host, sep, ports = destination[1:].partition("]:")
    else:
        host, sep, ports = destination.rpartition(":")
    if not sep or not host:
        raise PortSpecError(f"{where} {destination!r}: expected host:ports")
    return host, ports


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
        if acl.action.lower() != "accept":
            continue
        yield from _acl_rules(index, acl)
    for index, grant in enumerate(policy.grants):
        if grant.ip:
            yield _grant_rule(index, grant)


def _acl_rules(index: int, acl: Acl) -> Iterator[Rule]:
    where = f"acls[{index}]"
    protocols = acl_protocols(acl.proto, where)
    for dst in acl.dst:
        host, ports = split_host_ports(dst, f"{where}.dst")
        yield Rule(where, acl.src, (host,), tuple(parse_ports(ports, protocols)))


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
        self.resolver = Resolver(policy)
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
        self._identity_addresses: dict[str, AddressSet] = {}

    def _candidates(self, port: int) -> list[Rule]:
        indexes = sorted(self._by_port.get(port, []) + self._wide)
        return [self.rules[i] for i in indexes]

    # -- selectors ------------------------------------------------------------------------------

    def selection(self, selectors: Iterable[str]) -> Selection:
        """What a list of selectors (a rule's `src` or `dst`) denotes."""
        return self.resolver.resolve_all(tuple(selectors))

    def addresses_of(self, identity: str) -> AddressSet:
        """The addresses an identity stands for: a literal IP, a hosts alias, or the Directory's."""
        found = self._identity_addresses.get(identity)
        if found is not None:
            return found
        texts: Sequence[str]
        if identity in self.policy.hosts:
            texts = (self.policy.hosts[identity],)
        else:
            known = self.directory.addresses.get(identity, identity)
            texts = (known,) if isinstance(known, str) else known
        found = AddressSet()
        for text in texts:
            try:
                found = found | AddressSet.parse(text)
            except AddressError:
                continue
        self._identity_addresses[identity] = found
        return found

    def selects(self, selection: Selection, identity: str, src: str | None = None) -> bool:
        """Does `selection` include `identity`? `src` is the source, for `autogroup:self`."""
        if identity == INTERNET:
            return INTERNET in selection.autogroups
        if selection.everything:
            return True
        if is_login(identity) and self._selects_login(selection, identity, src):
            return True
        if identity.startswith("tag:") and (
            identity in selection.tags or "autogroup:tagged" in selection.autogroups
        ):
            return True
        addresses = self.addresses_of(identity)
        return bool(addresses) and selection.addresses.overlaps(addresses)

    def _selects_login(self, selection: Selection, login: str, src: str | None) -> bool:
        if login in selection.logins or "autogroup:member" in selection.autogroups:
            return True
        if any(login.endswith(f"@{domain}") for domain in selection.domains):
            return True
        if login == src and "autogroup:self" in selection.autogroups:
            return True
        return any(login in self.directory.roles.get(g, frozenset()) for g in selection.autogroups)

    def matches_src(self, selector: str, identity: str) -> bool:
        """Does the source selector of a rule match this identity?"""
        return self.selects(self.resolver.resolve(selector), identity)

    def matches_dst(self, selector: str, identity: str, src: str) -> bool:
        """Does the destination selector of a rule match this destination identity?"""
        selection = self.resolver.resolve(selector)
        if selector in ("*", "autogroup:danger-all"):
            return identity != INTERNET
        return self.selects(selection, identity, src)

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
