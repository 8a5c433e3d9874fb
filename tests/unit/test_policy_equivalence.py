"""Metamorphic property: rewriting a policy in a form that means the same to Tailscale never changes
the guardrails' verdict (tag -> its devices' addresses or a hosts alias of them, group -> members,
port list -> equal range, grant -> the equivalent older ACL rule, any key -> the same key in another
letter case, since Tailscale's decoder matches keys case-insensitively)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.exposure import exposures
from policies.gateway import gives_admin, too_wide_for_admin
from policies.gpu_servers import GpuServers, lan_addresses
from tailnet_policy.address_set import AddressSet
from tailnet_policy.keys import ENTRY_LEVELS
from tailnet_policy.policy_file import Acl, Grant, PolicyFile, parse

ADMIN = "admin@example.com"
USERS = ["alice@example.com", "bob@example.com", ADMIN]
GROUPS = {"group:ai": ("alice@example.com", "bob@example.com"), "group:ops": (ADMIN,)}
DEVICES = {"tag:gpu": "100.101.1.2", "tag:aperture": "100.100.0.2", "tag:web": "100.102.0.9"}
"""Each tag is carried by one device, with this address (the GPU server's is known from state)."""

SERVERS = GpuServers(
    "tag:gpu",
    frozenset({"tag:gpu"}),
    AddressSet.parse("100.101.1.2"),
    AddressSet(),
    lan_addresses(["192.168.1.50"]),
)
"""The GPU server, joined, with its LAN address (`hosts[].address`) 192.168.1.50."""

LAN = ["192.168.1.50", "192.168.1.0/24", "192.168.2.0/24"]
SELECTORS = [*USERS, *GROUPS, *DEVICES, "autogroup:member", "*", *LAN]
PORTS = [(22, 22), (8000, 8000), (7990, 8010), (80, 80), (443, 443), (21, 23)]


def verdict(policy: PolicyFile) -> list[tuple[str, str]]:
    found = exposures(policy, "tag:gpu", "tag:aperture", [8000], [ADMIN], SERVERS, DEVICES["tag:aperture"])
    return sorted((f.rule, f.where) for f in found)


grants = st.builds(
    Grant,
    src=st.lists(st.sampled_from(SELECTORS), min_size=1, max_size=3, unique=True).map(tuple),
    dst=st.lists(
        st.sampled_from([s for s in SELECTORS if s != "autogroup:member"]),
        min_size=1,
        max_size=2,
        unique=True,
    ).map(tuple),
    ip=st.lists(st.sampled_from(PORTS), min_size=1, max_size=2, unique=True).map(
        lambda ps: tuple(f"tcp:{a}" if a == b else f"tcp:{a}-{b}" for a, b in ps)
    ),
)
policies = st.lists(grants, min_size=1, max_size=5).map(
    lambda gs: PolicyFile(groups=GROUPS, tag_owners={t: (ADMIN,) for t in DEVICES}, grants=tuple(gs))
)


def rewrite_selectors(policy: PolicyFile, change: Callable[[str], tuple[str, ...]]) -> PolicyFile:
    def each(selectors: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(new for s in selectors for new in change(s)))

    return policy.with_changes(grants=tuple(Grant(each(g.src), each(g.dst), g.ip) for g in policy.grants))


def tags_to_addresses(policy: PolicyFile) -> PolicyFile:
    return rewrite_selectors(policy, lambda s: (DEVICES[s],) if s in DEVICES else (s,))


def tags_to_hosts(policy: PolicyFile) -> PolicyFile:
    hosts = {f"host-{t[4:]}": address for t, address in DEVICES.items()}
    rewritten = rewrite_selectors(policy, lambda s: (f"host-{s[4:]}",) if s in DEVICES else (s,))
    return rewritten.with_changes(hosts=hosts)


def groups_to_members(policy: PolicyFile) -> PolicyFile:
    return rewrite_selectors(policy, lambda s: GROUPS.get(s, (s,)))


def lists_to_ranges(policy: PolicyFile) -> PolicyFile:
    """`tcp:21-23` -> `tcp:21,22,23`, and a single port list stays: the same ports either way."""

    def split(spec: str) -> str:
        low, _, high = spec[4:].partition("-")
        return "tcp:" + ",".join(str(p) for p in range(int(low), int(high or low) + 1))

    return policy.with_changes(
        grants=tuple(Grant(g.src, g.dst, tuple(map(split, g.ip))) for g in policy.grants)
    )


def grants_to_acls(policy: PolicyFile) -> PolicyFile:
    """Each grant as the older ACL rule: `dst` entries `host:ports`, the index kept by position."""
    acls = tuple(
        Acl("accept", g.src, tuple(f"{d}:{spec[4:]}" for d in g.dst for spec in g.ip), proto="tcp")
        for g in policy.grants
    )
    return policy.with_changes(grants=(), acls=acls)


def keys_in_case(change: Callable[[str], str]) -> Callable[[PolicyFile], PolicyFile]:
    """The rewrite that writes every section name and every key of an entry with `change` (names you
    choose, such as groups and tags, stay as they are), through the text Tailscale would read."""

    def entry(value: object) -> object:
        return {change(key): item for key, item in value.items()} if isinstance(value, dict) else value

    def rewrite(policy: PolicyFile) -> PolicyFile:
        document = {
            change(section): [entry(e) for e in value] if section in ENTRY_LEVELS else value
            for section, value in policy.to_dict().items()
        }
        return parse(json.dumps(document))

    return rewrite


def as_is(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return found


def same_places(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The findings of the ACL form at the places of the grants they came from."""
    return sorted((rule, where.replace("acls", "grants")) for rule, where in found)


# (the rewrite, how to compare its findings' places with the original's)
REWRITES = [
    pytest.param(tags_to_addresses, as_is, id="tags-as-addresses"),
    pytest.param(tags_to_hosts, as_is, id="tags-as-hosts-aliases"),
    pytest.param(groups_to_members, as_is, id="groups-as-members"),
    pytest.param(lists_to_ranges, as_is, id="port-ranges-as-lists"),
    pytest.param(grants_to_acls, same_places, id="grants-as-acls"),
    pytest.param(keys_in_case(str.upper), as_is, id="keys-in-upper-case"),
    pytest.param(keys_in_case(lambda key: key[0].upper() + key[1:]), as_is, id="keys-capitalised"),
    pytest.param(keys_in_case(str.swapcase), as_is, id="keys-in-swapped-case"),
    pytest.param(
        lambda policy: keys_in_case(str.upper)(grants_to_acls(policy)),
        same_places,
        id="acl-keys-in-upper-case",
    ),
]


@pytest.mark.parametrize(("rewrite", "places"), REWRITES)
@given(policies)
def test_rewrite_keeps_the_verdict(
    rewrite: Callable[[PolicyFile], PolicyFile],
    places: Callable[[list[tuple[str, str]]], list[tuple[str, str]]],
    policy: PolicyFile,
) -> None:
    assert places(verdict(rewrite(policy))) == verdict(policy)


CAP = "tailscale.com/cap/aperture"
admin_grants = st.lists(
    st.builds(
        lambda src: Grant(src, ("tag:aperture",), app={CAP: [{"role": "admin"}]}),
        st.lists(
            st.sampled_from([*USERS, *GROUPS, "*", "*@example.com", "user:*@example.com", "tag:ci"]),
            min_size=1,
            max_size=3,
            unique=True,
        ).map(tuple),
    ),
    min_size=1,
    max_size=4,
)


def admin_verdict(policy: PolicyFile) -> list[tuple[int, list[str]]]:
    """`tailnet-aperture-no-wildcard-admin`'s judgement: each admin grant's sources wider than the admins."""
    return [
        (index, too_wide_for_admin(grant.src, [ADMIN], GROUPS))
        for index, grant in enumerate(policy.grants)
        if gives_admin(grant.app)
    ]


@pytest.mark.parametrize("change", [str.upper, str.swapcase], ids=["upper", "swapped"])
@given(admin_grants)
def test_key_case_keeps_the_aperture_admin_verdict(change: Callable[[str], str], grants: list[Grant]) -> None:
    """A login pattern in an Aperture admin grant stays a wildcard admin however its keys are written."""
    policy = PolicyFile(groups=GROUPS, grants=tuple(grants))
    assert admin_verdict(keys_in_case(change)(policy)) == admin_verdict(policy)
