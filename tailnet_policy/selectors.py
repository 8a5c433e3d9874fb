"""What a source or destination selector of a policy file denotes.

Pure module, used by `tailnet_policy.reachability` (which answers `can_reach`) and so by everything
that judges a policy. Every form Tailscale documents for a `src` or `dst` entry
(https://tailscale.com/kb/1396/targets, https://tailscale.com/kb/1538/grants-syntax,
https://tailscale.com/kb/1337/acl-syntax, https://tailscale.com/kb/1387/ipsets) resolves to one
`Selection`:

- `*` and `autogroup:danger-all`: everything;
- a login (`alice@example.com`, `alice@github`), and `user:*@example.com` for a whole domain;
- `group:x`: its members, each resolved as a selector (groups do not nest); an undefined group is
  unknown;
- `tag:x`: the devices carrying the tag;
- `autogroup:member`/`members`, `tagged`, `self`, `shared`, `internet` and the role autogroups
  (`admin`, `owner`, `network-admin`, `it-admin`, `billing-admin`, `auditor`);
- addresses: an IP (v4 or v6), a CIDR, a range `a-b`, a `hosts` alias (also written `host:name`),
  an alias with a prefix (`name/24`, the legacy "hostname/CIDR" form), and `ipset:x`, whose
  entries (`add X`, `remove X`, or plain `X`) are addresses, CIDRs, ranges, hosts, other ipsets
  and `autogroup:internet`.

Anything else is `unknown`, with the reason: never "matches nothing" silently. Unknown today:
Tailscale Services (`svc:x`), `autogroup:nonroot` and `localpart:` outside `ssh` users, other
`autogroup:` names, names that are neither hosts nor addresses, ipset cycles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tailnet_policy.address_set import AddressError, AddressSet
from tailnet_policy.policy_file import PolicyFile

WILDCARDS = ("*", "autogroup:danger-all")
"""Selectors that match every source (danger-all also devices outside the tailnet)."""

ROLE_AUTOGROUPS = (
    "autogroup:admin",
    "autogroup:owner",
    "autogroup:network-admin",
    "autogroup:it-admin",
    "autogroup:billing-admin",
    "autogroup:auditor",
)
"""Autogroups whose members are the logins holding a role (the `Directory` knows who)."""

PRINCIPAL_AUTOGROUPS = (
    "autogroup:member",
    "autogroup:tagged",
    "autogroup:self",
    "autogroup:shared",
    "autogroup:internet",
    *ROLE_AUTOGROUPS,
)
"""Autogroups a network rule may name (besides `autogroup:danger-all`)."""

INTERNET = "autogroup:internet"
"""Destination identity that stands for the internet (reached only through exit nodes)."""


@dataclass(frozen=True)
class Selection:
    """What one or more selectors denote: principals, addresses, and what could not be read."""

    everything: bool = False
    """`*` or `autogroup:danger-all`."""

    logins: frozenset[str] = frozenset()
    """User logins named directly or through groups."""

    domains: frozenset[str] = frozenset()
    """`example.com` for `user:*@example.com`: every login in that domain."""

    tags: frozenset[str] = frozenset()
    """Tags: every device carrying one."""

    autogroups: frozenset[str] = frozenset()
    """`autogroup:member`, `autogroup:tagged`, `autogroup:self`, role autogroups, ..."""

    addresses: AddressSet = field(default_factory=AddressSet)
    """IPs, CIDRs, ranges, hosts aliases and ipsets, as one set of addresses."""

    unknown: tuple[str, ...] = ()
    """Why parts of it could not be resolved (each says which selector and why)."""

    def __or__(self, other: Selection) -> Selection:
        return Selection(
            everything=self.everything or other.everything,
            logins=self.logins | other.logins,
            domains=self.domains | other.domains,
            tags=self.tags | other.tags,
            autogroups=self.autogroups | other.autogroups,
            addresses=self.addresses | other.addresses,
            unknown=self.unknown + tuple(u for u in other.unknown if u not in self.unknown),
        )

    @property
    def principals_only_addresses(self) -> bool:
        """True when it names nothing but addresses (no principal, no wildcard, nothing unknown)."""
        return not (
            self.everything or self.logins or self.domains or self.tags or self.autogroups or self.unknown
        )


NOTHING = Selection()


def is_login(identity: str) -> bool:
    """`alice@example.com` or `alice@github`, not `group:`/`tag:`/`autogroup:` names."""
    return "@" in identity and ":" not in identity


class Resolver:
    """Resolves selectors against one policy file's groups, hosts and ipsets; memoised."""

    def __init__(self, policy: PolicyFile) -> None:
        self.policy = policy
        raw = policy.extra.get("ipsets", {})
        self.ipsets: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        self._cache: dict[str, Selection] = {}

    def resolve(self, selector: str) -> Selection:
        """What `selector` denotes; unknown parts are reported in `Selection.unknown`."""
        found = self._cache.get(selector)
        if found is None:
            found = self._resolve(selector, ())
            self._cache[selector] = found
        return found

    def resolve_all(self, selectors: tuple[str, ...]) -> Selection:
        """The union of what several selectors denote."""
        result = NOTHING
        for selector in selectors:
            result = result | self.resolve(selector)
        return result

    def _resolve(self, selector: str, seen: tuple[str, ...]) -> Selection:
        if selector in WILDCARDS:
            return Selection(everything=True)
        if selector.startswith("group:"):
            return self._group(selector)
        if selector.startswith("tag:"):
            return Selection(tags=frozenset({selector}))
        if selector in ("autogroup:members",):
            return Selection(autogroups=frozenset({"autogroup:member"}))
        if selector in PRINCIPAL_AUTOGROUPS:
            return Selection(autogroups=frozenset({selector}))
        if selector.startswith("user:"):
            return self._user(selector)
        if is_login(selector):
            return Selection(logins=frozenset({selector}))
        if selector.startswith("ipset:"):
            return self._ipset(selector, seen)
        if selector.startswith(("autogroup:", "svc:", "localpart:")) or (
            selector.count(":") == 1 and not selector.startswith("host:")
        ):
            return _unknown(selector, _why_unknown(selector))
        return self._addresses(selector)

    def _group(self, name: str) -> Selection:
        members = self.policy.groups.get(name)
        if members is None:
            return _unknown(name, "the group is not defined in groups")
        result = NOTHING
        for member in members:
            if member.startswith("group:"):
                result = result | _unknown(name, f"it contains {member}, and groups cannot nest")
            else:
                result = result | self.resolve(member)
        return result

    def _user(self, selector: str) -> Selection:
        local, _, domain = selector[len("user:") :].rpartition("@")
        if local == "*" and domain:
            return Selection(domains=frozenset({domain}))
        if local and domain:
            return Selection(logins=frozenset({selector[len("user:") :]}))
        return _unknown(selector, "expected user:*@domain or user:login@domain")

    def _addresses(self, selector: str) -> Selection:
        name, slash, prefix = selector.partition("/")
        alias = name[len("host:") :] if name.startswith("host:") else name
        if alias in self.policy.hosts:
            value = self.policy.hosts[alias]
            if slash:
                value = f"{value.split('/')[0]}/{prefix}"
            try:
                return Selection(addresses=AddressSet.parse(value))
            except AddressError as exc:
                return _unknown(selector, f"its hosts entry is not an address ({exc})")
        try:
            return Selection(addresses=AddressSet.parse(selector))
        except AddressError:
            return _unknown(selector, "it is neither a hosts alias nor an IP address, CIDR or range")

    def _ipset(self, name: str, seen: tuple[str, ...]) -> Selection:
        if name in seen:
            return _unknown(name, "ipsets refer to each other in a cycle")
        entries = self.ipsets.get(name)
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            return _unknown(name, "the ipset is not defined in ipsets as a list of strings")
        result = NOTHING
        for entry in entries:
            verb, _, rest = entry.strip().partition(" ")
            if verb in ("add", "remove") and rest:
                target = rest.strip()
            else:
                verb, target = "add", entry.strip()
            part = self._resolve(target, (*seen, name)) if target.startswith("ipset:") else None
            if part is None:
                part = (
                    Selection(autogroups=frozenset({INTERNET}))
                    if target == INTERNET
                    else self._addresses(target)
                )
            if not part.principals_only_addresses and part.autogroups != frozenset({INTERNET}):
                result = result | _unknown(name, f"entry {entry!r} is not an address, host or ipset")
                continue
            if verb == "add":
                result = result | part
            else:
                result = Selection(
                    autogroups=result.autogroups - part.autogroups,
                    addresses=result.addresses - part.addresses,
                    unknown=result.unknown + part.unknown,
                )
        return result


def _unknown(selector: str, why: str) -> Selection:
    return Selection(unknown=(f"{selector}: {why}",))


def _why_unknown(selector: str) -> str:
    if selector.startswith("svc:"):
        return "Tailscale Services are not modelled, so which devices serve it is unknown"
    if selector.startswith("autogroup:"):
        return "this autogroup is not one a network rule can use, or it is not modelled"
    if selector.startswith("localpart:"):
        return "localpart: selects SSH users, not sources or destinations"
    return "this kind of selector is not modelled"
