"""Every selector form and older spelling: one rule that reaches a GPU server's model port or SSH and
is refused, and one look-alike (another device, port or address outside the range) that passes.

The same for the forms of issue 22: keys in another letter case (Tailscale's decoder matches keys
case-insensitively), keys the evaluator does not know (undecidable), a GPU server's LAN address
(`hosts[].address`, reached through a subnet router), and a login pattern in an Aperture admin grant."""

from __future__ import annotations

import json
from typing import Any

import pytest

from policies.exposure import exposures
from policies.gateway import too_wide_for_admin
from policies.gpu_servers import GpuServers, lan_addresses
from tailnet_policy.address_set import AddressSet
from tailnet_policy.policy_file import parse

ALICE = "alice@example.com"
ADMIN = "admin@example.com"
KNOWN = GpuServers("tag:gpu", frozenset({"tag:gpu"}), AddressSet.parse("100.101.1.2"), AddressSet())
"""A stack whose GPU server has joined: its address is in the state."""

UNKNOWN = GpuServers("tag:gpu", frozenset({"tag:gpu"}))
"""Before the first join: the address may be anywhere in 100.64.0.0/10."""

ON_LAN = GpuServers(
    "tag:gpu",
    frozenset({"tag:gpu"}),
    AddressSet.parse("100.101.1.2"),
    AddressSet(),
    lan_addresses(["192.168.1.50", "spark.lan"]),
)
"""A joined server whose SSH address (`hosts[].address`) is 192.168.1.50 on its LAN."""

AT_PRINTER = GpuServers(
    "tag:gpu", frozenset({"tag:gpu"}), AddressSet(), AddressSet(), lan_addresses(["192.168.1.5"])
)
"""A server whose LAN address is the one the policy's `printer` alias names."""


def policy_with(**sections: Any) -> str:
    base: dict[str, Any] = {
        "tagOwners": {"tag:gpu": [ADMIN], "tag:aperture": [ADMIN], "tag:web": [ADMIN]},
        "groups": {"group:ai": [ALICE], "group:admins": [ADMIN]},
        "hosts": {"spark": "100.101.1.2", "nas": "100.101.9.9", "printer": "192.168.1.5"},
        "ipsets": {
            "ipset:lab": ["add 100.101.0.0/16", "remove 100.101.1.2"],
            "ipset:all": ["100.101.0.0/16", "ipset:lab"],
            "ipset:byhost": ["host:spark"],
        },
        "grants": [{"src": ["tag:aperture"], "dst": ["tag:gpu"], "ip": ["tcp:8000"]}],
    }
    for key, value in sections.items():
        base[key] = base.get(key, []) + value if isinstance(value, list) else value
    return json.dumps(base)


def section(name: str, **entry: Any) -> dict[str, Any]:
    """A policy-file section holding one entry, e.g. `section("acls", action="accept", ...)`."""
    return {name: [entry]}


def grant(src: list[str], dst: list[str], ip: list[str], **extra: Any) -> dict[str, Any]:
    return section("grants", src=src, dst=dst, ip=ip, **extra)


def rules(text_sections: dict[str, Any], servers: GpuServers = UNKNOWN) -> list[tuple[str, str]]:
    policy = parse(policy_with(**text_sections))
    found = exposures(policy, "tag:gpu", "tag:aperture", [8000], [ADMIN], servers, "100.100.0.2")
    return [(f.rule, f.where) for f in found]


MODEL = "tailnet-model-port-gateway-only"
SSH = "tailnet-ssh-admins-only"
WIDE = "tailnet-no-wide-source"
CHECK = "tailnet-policy-checkable"
EXIT = "tailnet-no-exit-node"

# id: (sections, servers, expected findings when refused, then the look-alike that passes and its servers)
CASES: dict[str, tuple[dict[str, Any], GpuServers, list[tuple[str, str]], dict[str, Any], GpuServers]] = {
    "star-dst": (
        grant([ALICE], ["*"], ["tcp:8000"]),
        UNKNOWN,
        [(MODEL, "grants[1]")],
        grant([ALICE], ["*"], ["tcp:9000"]),
        UNKNOWN,
    ),
    "tag-dst": (
        grant([ALICE], ["tag:gpu"], ["8000"]),
        UNKNOWN,
        [(MODEL, "grants[1]")],
        grant([ALICE], ["tag:web"], ["8000"]),
        UNKNOWN,
    ),
    "autogroup-tagged-dst": (
        grant([ALICE], ["autogroup:tagged"], ["tcp:22"]),
        UNKNOWN,
        [(SSH, "grants[1]")],
        grant([ALICE], ["autogroup:member"], ["tcp:22"]),
        UNKNOWN,
    ),
    "autogroup-self-is-not-a-gpu": (
        grant(["group:ai"], ["tag:gpu"], ["tcp:22"]),
        UNKNOWN,
        [(SSH, "grants[1]")],
        grant(["group:ai"], ["autogroup:self"], ["tcp:22"]),
        UNKNOWN,
    ),
    "ip-in-range-before-join": (
        grant([ALICE], ["100.120.0.7"], ["tcp:8000"]),
        UNKNOWN,
        [(MODEL, "grants[1]")],
        grant([ALICE], ["192.168.1.9"], ["tcp:8000"]),
        UNKNOWN,
    ),
    "ip-known-address": (
        grant([ALICE], ["100.101.1.2"], ["tcp:8000"]),
        KNOWN,
        [(MODEL, "grants[1]")],
        grant([ALICE], ["100.101.1.3"], ["tcp:8000"]),
        KNOWN,
    ),
    "cidr": (
        grant([ALICE], ["100.64.0.0/10"], ["tcp:8000"]),
        KNOWN,
        [(MODEL, "grants[1]")],
        grant([ALICE], ["10.0.0.0/8"], ["tcp:8000"]),
        UNKNOWN,
    ),
    "address-range": (
        grant([ALICE], ["100.101.1.1-100.101.1.9"], ["tcp:8000"]),
        KNOWN,
        [(MODEL, "grants[1]")],
        grant([ALICE], ["100.101.1.3-100.101.1.9"], ["tcp:8000"]),
        KNOWN,
    ),
    "hosts-alias": (
        grant([ALICE], ["spark"], ["tcp:8000"]),
        KNOWN,
        [(MODEL, "grants[1]")],
        grant([ALICE], ["printer"], ["tcp:8000"]),
        UNKNOWN,
    ),
    "hosts-alias-with-prefix": (
        grant([ALICE], ["nas/16"], ["tcp:8000"]),
        KNOWN,
        [(MODEL, "grants[1]")],
        grant([ALICE], ["nas/32"], ["tcp:8000"]),
        KNOWN,
    ),
    "ipset-add": (
        grant([ALICE], ["ipset:all"], ["tcp:8000"]),
        KNOWN,
        [(MODEL, "grants[1]")],
        grant([ALICE], ["ipset:lab"], ["tcp:8000"]),
        KNOWN,
    ),
    "ipset-host-entry": (
        grant([ALICE], ["ipset:byhost"], ["tcp:22"]),
        KNOWN,
        [(SSH, "grants[1]")],
        grant([ADMIN], ["ipset:byhost"], ["tcp:22"]),
        KNOWN,
    ),
    "ipv6-tailscale-range": (
        grant([ALICE], ["fd7a:115c:a1e0::/48"], ["tcp:8000"]),
        KNOWN,
        [(MODEL, "grants[1]")],
        grant([ALICE], ["fd00::/64"], ["tcp:8000"]),
        KNOWN,
    ),
    "port-range": (
        grant([ALICE], ["tag:gpu"], ["tcp:7999-8001"]),
        UNKNOWN,
        [(MODEL, "grants[1]")],
        grant([ALICE], ["tag:gpu"], ["tcp:7990-7999"]),
        UNKNOWN,
    ),
    "port-list": (
        grant([ALICE], ["tag:gpu"], ["tcp:80,22"]),
        UNKNOWN,
        [(SSH, "grants[1]")],
        grant([ALICE], ["tag:gpu"], ["tcp:80,443"]),
        UNKNOWN,
    ),
    "udp-is-not-the-model-port": (
        grant([ALICE], ["tag:gpu"], ["8000"]),
        UNKNOWN,
        [(MODEL, "grants[1]")],
        grant([ALICE], ["tag:gpu"], ["udp:8000"]),
        UNKNOWN,
    ),
    "via-and-posture-do-not-hide-a-grant": (
        grant([ALICE], ["tag:gpu"], ["tcp:8000"], via=["tag:web"], srcPosture=["posture:x"]),
        UNKNOWN,
        [(MODEL, "grants[1]")],
        grant([ALICE], ["tag:web"], ["tcp:8000"], via=["tag:web"]),
        UNKNOWN,
    ),
    "acl-accept": (
        section("acls", action="accept", src=[ALICE], dst=["tag:gpu:8000"]),
        UNKNOWN,
        [(MODEL, "acls[0]")],
        section("acls", action="accept", src=[ALICE], dst=["tag:gpu:8001"]),
        UNKNOWN,
    ),
    "acl-users-ports": (
        section("acls", action="accept", users=[ALICE], ports=["spark:22"]),
        KNOWN,
        [(SSH, "acls[0]")],
        section("acls", action="accept", users=[ALICE], ports=["nas:22"]),
        KNOWN,
    ),
    "acl-capitalised": (
        section("ACLs", Action="accept", Users=[ALICE], Ports=["*:8000"]),
        UNKNOWN,
        [(MODEL, "acls[0]")],
        section("ACLs", Action="accept", Users=[ALICE], Ports=["*:8080"]),
        UNKNOWN,
    ),
    "acl-proto-name": (
        section("acls", action="accept", src=[ALICE], proto="tcp", dst=["tag:gpu:22"]),
        UNKNOWN,
        [(SSH, "acls[0]")],
        section("acls", action="accept", src=[ALICE], proto="udp", dst=["tag:gpu:22"]),
        UNKNOWN,
    ),
    "acl-proto-number": (
        section("acls", action="accept", src=[ALICE], proto="6", dst=["tag:gpu:8000"]),
        UNKNOWN,
        [(MODEL, "acls[0]")],
        section("acls", action="accept", src=[ALICE], proto="17", dst=["tag:gpu:8000"]),
        UNKNOWN,
    ),
    "acl-ipv6-brackets": (
        section("acls", action="accept", src=[ALICE], dst=["[fd7a:115c:a1e0::9]:22"]),
        KNOWN,
        [(SSH, "acls[0]")],
        section("acls", action="accept", src=[ALICE], dst=["[fd00::9]:22"]),
        KNOWN,
    ),
    "src-group-of-non-admins": (
        grant(["group:ai"], ["tag:gpu"], ["tcp:22"]),
        UNKNOWN,
        [(SSH, "grants[1]")],
        grant(["group:admins"], ["tag:gpu"], ["tcp:22"]),
        UNKNOWN,
    ),
    "src-domain": (
        grant(["user:*@example.com"], ["tag:gpu"], ["tcp:22"]),
        UNKNOWN,
        [(SSH, "grants[1]")],
        grant(["user:*@example.com"], ["tag:web"], ["tcp:22"]),
        UNKNOWN,
    ),
    "src-address-not-the-gateway": (
        grant(["100.100.0.3"], ["tag:gpu"], ["tcp:8000"]),
        UNKNOWN,
        [(MODEL, "grants[1]")],
        grant(["100.100.0.2"], ["tag:gpu"], ["tcp:8000"]),
        UNKNOWN,
    ),
    "src-role-autogroup": (
        grant(["autogroup:member"], ["tag:gpu"], ["tcp:22"]),
        UNKNOWN,
        [(SSH, "grants[1]")],
        grant(["autogroup:admin"], ["tag:gpu"], ["tcp:22"]),
        UNKNOWN,
    ),
    "src-danger-all": (
        grant(["autogroup:danger-all"], ["tag:gpu"], ["tcp:22"]),
        UNKNOWN,
        [(WIDE, "grants[1]"), (SSH, "grants[1]")],
        grant(["autogroup:danger-all"], ["tag:web"], ["tcp:22"]),
        UNKNOWN,
    ),
    "tailscale-ssh-by-address": (
        section("ssh", action="accept", src=[ALICE], dst=["100.64.0.0/10"], users=["root"]),
        UNKNOWN,
        [(SSH, "ssh[0]")],
        section("ssh", action="accept", src=[ADMIN], dst=["100.64.0.0/10"], users=["root"]),
        UNKNOWN,
    ),
    "service-dst-is-undecidable": (
        grant([ALICE], ["svc:model"], ["tcp:8000"]),
        UNKNOWN,
        [(CHECK, "grants[1]")],
        grant([ALICE], ["svc:model"], ["tcp:9000"]),
        UNKNOWN,
    ),
    "undefined-group-dst-is-undecidable": (
        grant([ALICE], ["group:nobody"], ["tcp:22"]),
        UNKNOWN,
        [(CHECK, "grants[1]")],
        grant([ALICE], ["group:nobody"], ["tcp:9000"]),
        UNKNOWN,
    ),
    "undefined-ipset-src-is-undecidable": (
        grant(["ipset:nope"], ["tag:gpu"], ["tcp:8000"]),
        UNKNOWN,
        [(MODEL, "grants[1]"), (CHECK, "grants[1]")],
        grant(["ipset:nope"], ["tag:web"], ["tcp:8000"]),
        UNKNOWN,
    ),
    "grant-keys-in-another-case": (
        section("grants", Src=[ALICE], DST=["tag:gpu"], Ip=["tcp:8000"]),
        UNKNOWN,
        [(MODEL, "grants[1]")],
        section("grants", Src=[ALICE], DST=["tag:web"], Ip=["tcp:8000"]),
        UNKNOWN,
    ),
    "section-and-acl-keys-in-another-case": (
        {"ACLS": [{"ACTION": "accept", "SRC": [ALICE], "DST": ["tag:gpu:22"]}]},
        UNKNOWN,
        [(SSH, "acls[0]")],
        {"ACLS": [{"ACTION": "accept", "SRC": [ADMIN], "DST": ["tag:gpu:22"]}]},
        UNKNOWN,
    ),
    "ssh-keys-in-another-case": (
        section("Ssh", Action="accept", Src=[ALICE], Dst=["tag:gpu"], Users=["root"]),
        UNKNOWN,
        [(SSH, "ssh[0]")],
        section("Ssh", Action="accept", Src=[ADMIN], Dst=["tag:gpu"], Users=["root"]),
        UNKNOWN,
    ),
    "nested-keys-in-another-case": (
        {"AutoApprovers": {"ExitNode": ["tag:gpu"]}},
        UNKNOWN,
        [(EXIT, "autoApprovers.exitNode")],
        {"AutoApprovers": {"ExitNode": ["tag:web"]}},
        UNKNOWN,
    ),
    "unknown-key-in-a-rule-is-undecidable": (
        section("grants", src=[ALICE], dst=["tag:web"], ip=["tcp:443"], dstPorts=["tcp:8000"]),
        UNKNOWN,
        [(CHECK, "grants[1]")],
        section("grants", src=[ALICE], dst=["tag:web"], ip=["tcp:443"], SrcPosture=["posture:x"]),
        UNKNOWN,
    ),
    "unknown-section-is-undecidable": (
        {"Grant": [{"src": [ALICE], "dst": ["tag:gpu"], "ip": ["tcp:8000"]}]},
        UNKNOWN,
        [(CHECK, "top level")],
        {"Postures": {"posture:x": ["node:os == 'linux'"]}},
        UNKNOWN,
    ),
    "unknown-nested-key-is-undecidable": (
        {"autoApprovers": {"exitNodes": ["tag:gpu"]}},
        UNKNOWN,
        [(CHECK, "autoApprovers")],
        {"autoApprovers": {"routes": {"10.0.0.0/8": ["tag:gpu"]}}},
        UNKNOWN,
    ),
    "same-key-twice-in-two-cases-is-undecidable": (
        section("grants", src=[ADMIN], Src=[ALICE], dst=["tag:web"], ip=["tcp:443"]),
        UNKNOWN,
        [(CHECK, "grants[1]")],
        section("grants", SRC=[ALICE], dst=["tag:web"], ip=["tcp:443"]),
        UNKNOWN,
    ),
    "lan-address-model-port": (
        grant([ALICE], ["192.168.1.50"], ["tcp:8000"]),
        ON_LAN,
        [(MODEL, "grants[1]")],
        grant(["tag:aperture"], ["192.168.1.50"], ["tcp:8000"]),
        ON_LAN,
    ),
    "lan-subnet-ssh": (
        grant([ALICE], ["192.168.1.0/24"], ["tcp:22"]),
        ON_LAN,
        [(SSH, "grants[1]")],
        grant([ADMIN], ["192.168.1.0/24"], ["tcp:22"]),
        ON_LAN,
    ),
    "hosts-alias-of-a-lan-address": (
        grant([ALICE], ["printer"], ["tcp:22"]),
        AT_PRINTER,
        [(SSH, "grants[1]")],
        grant([ALICE], ["printer"], ["tcp:22"]),
        ON_LAN,
    ),
}


@pytest.mark.parametrize(
    ("sections", "servers", "expected"), [c[:3] for c in CASES.values()], ids=CASES.keys()
)
def test_selector_form_reaching_a_gpu_server_is_refused(
    sections: dict[str, Any], servers: GpuServers, expected: list[tuple[str, str]]
) -> None:
    assert rules(sections, servers) == expected


@pytest.mark.parametrize(("sections", "servers"), [c[3:] for c in CASES.values()], ids=CASES.keys())
def test_selector_form_look_alike_passes(sections: dict[str, Any], servers: GpuServers) -> None:
    assert rules(sections, servers) == []


# id: (admin grant sources that are a wildcard, the look-alike that is not)
ADMIN_SOURCES = {
    "login-pattern": (["*@example.com"], [ADMIN]),
    "domain-of-the-policy-file": (["user:*@example.com"], ["ops@example.com"]),
    "one-character-glob": (["admi?@example.com"], ["tag:ci"]),
    "listed-in-admins-still-wide": (["*@example.com"], ["admin@example.com", "group:admins"]),
}


@pytest.mark.parametrize(("refused", "look_alike"), ADMIN_SOURCES.values(), ids=ADMIN_SOURCES.keys())
def test_a_login_pattern_in_an_admin_grant_is_a_wildcard_admin(
    refused: list[str], look_alike: list[str]
) -> None:
    admins = [ADMIN, "*@example.com"]
    assert too_wide_for_admin(refused, admins, {"group:admins": (ADMIN,)}) == refused
    assert too_wide_for_admin(look_alike, admins, {"group:admins": (ADMIN,)}) == []


def test_an_unknown_key_is_named_in_the_message() -> None:
    policy = parse(
        policy_with(**section("grants", src=[ALICE], dst=["tag:web"], ip=["tcp:443"], dstPorts=["8000"]))
    )
    [found] = exposures(policy, "tag:gpu", "tag:aperture", [8000], [ADMIN])
    assert found.message == (
        'key "dstPorts" is not a key of a grant (src, dst, ip, app, srcPosture, via), so the guardrails '
        "cannot tell what Tailscale makes of it (it matches keys in any letter case); write the documented "
        "key once, or remove it"
    )


def test_a_lan_finding_names_the_lan_address() -> None:
    policy = parse(policy_with(**grant([ALICE], ["192.168.1.0/24"], ["tcp:8000"])))
    [found] = exposures(policy, "tag:gpu", "tag:aperture", [8000], [ADMIN], ON_LAN)
    assert found.by_address
    assert (
        "dst 192.168.1.0/24, which contains a GPU server's LAN address (192.168.1.50, "
        "sovereign-ai:hosts[].address), reachable through a subnet router"
    ) in found.message


def test_address_finding_names_the_address_it_rests_on() -> None:
    policy = parse(policy_with(**grant([ALICE], ["100.120.0.0/16"], ["tcp:8000"])))
    [found] = exposures(policy, "tag:gpu", "tag:aperture", [8000], [ADMIN], UNKNOWN)
    assert found.by_address
    assert "dst 100.120.0.0/16, which may contain a GPU server's address" in found.message


def test_undecidable_message_says_what_and_how_to_fix() -> None:
    policy = parse(policy_with(**grant([ALICE], ["svc:model"], ["tcp:8000"])))
    [found] = exposures(policy, "tag:gpu", "tag:aperture", [8000], [ADMIN])
    assert found.message.startswith(
        "cannot be checked (svc:model: Tailscale Services are not modelled, so which devices serve it is "
        "unknown), so the guardrails cannot tell who it lets reach tag:gpu on tcp:8000; name destinations"
    )
