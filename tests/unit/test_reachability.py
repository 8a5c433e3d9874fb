"""can_reach and run_tests against a table of Tailscale's documented policy semantics."""

from __future__ import annotations

import pytest

from tailnet_policy.policy_file import parse
from tailnet_policy.reachability import (
    INTERNET,
    Directory,
    Evaluator,
    PortSpecError,
    can_reach,
    parse_ports,
    run_tests,
)

POLICY = parse(
    """
// A policy that exercises every selector kind.
{
  "groups": {
    "group:ai": ["alice@example.com", "bob@example.com"],
    "group:ops": ["olga@example.com"],
  },
  "tagOwners": {
    "tag:gpu": ["group:ops"],
    "tag:aperture": ["autogroup:admin"],
    "tag:web": [],
    "tag:ci": ["group:ops"],
  },
  "hosts": {
    "nas": "100.70.0.10",
    "lab": "100.80.0.0/16",
  },
  "grants": [
    {"src": ["group:ai"], "dst": ["tag:aperture"], "ip": ["tcp:80", "tcp:443"]},
    {"src": ["tag:aperture"], "dst": ["tag:gpu"], "ip": ["tcp:8000"]},
    {"src": ["group:ops"], "dst": ["tag:gpu"], "ip": ["22"]},
    {"src": ["autogroup:member"], "dst": ["autogroup:self"], "ip": ["*"]},
    {"src": ["autogroup:tagged"], "dst": ["nas"], "ip": ["tcp:2049"]},
    {"src": ["carol@example.com"], "dst": ["lab"], "ip": ["tcp:1000-2000"]},
    {"src": ["autogroup:admin"], "dst": ["tag:web"], "ip": ["udp:53"]},
    {"src": ["tag:ci"], "dst": ["autogroup:internet"], "ip": ["*"]},
    {"src": ["dave@example.com"], "dst": ["tag:web"], "ip": ["icmp:*"]},
    {"src": ["group:ai"], "dst": ["tag:web"], "app": {"example.com/cap/x": [{}]}},
  ],
  "acls": [
    {"action": "accept", "src": ["erin@example.com"], "dst": ["tag:web:80,443", "100.70.0.10:22"]},
    {"action": "accept", "src": ["frank@example.com"], "proto": "udp", "dst": ["tag:web:*"]},
  ],
  "postures": {"posture:latest": ["node:tsVersion >= '1.60'"]},
}
"""
)

DIRECTORY = Directory(
    roles={"autogroup:admin": frozenset({"root@example.com"})},
    addresses={"tag:ci": "100.80.1.1", "alice@example.com": "100.90.0.1"},
)

# (src, dst, port, proto, expected)
TABLE = [
    ("alice@example.com", "tag:aperture", 443, "tcp", True),
    ("alice@example.com", "tag:aperture", 80, "tcp", True),
    ("alice@example.com", "tag:aperture", 8080, "tcp", False),
    ("alice@example.com", "tag:aperture", 443, "udp", False),
    ("bob@example.com", "tag:aperture", 443, "tcp", True),
    ("olga@example.com", "tag:aperture", 443, "tcp", False),
    ("alice@example.com", "tag:gpu", 8000, "tcp", False),
    ("tag:aperture", "tag:gpu", 8000, "tcp", True),
    ("tag:aperture", "tag:gpu", 8001, "tcp", False),
    ("tag:aperture", "tag:gpu", 22, "tcp", False),
    ("olga@example.com", "tag:gpu", 22, "tcp", True),
    ("olga@example.com", "tag:gpu", 22, "udp", True),
    ("olga@example.com", "tag:gpu", 8000, "tcp", False),
    ("alice@example.com", "tag:gpu", 22, "tcp", False),
    ("alice@example.com", "alice@example.com", 5000, "tcp", True),
    ("alice@example.com", "bob@example.com", 5000, "tcp", False),
    ("tag:gpu", "tag:gpu", 5000, "tcp", False),
    ("tag:gpu", "nas", 2049, "tcp", True),
    ("tag:ci", "100.70.0.10", 2049, "tcp", True),
    ("tag:gpu", "nas", 2050, "tcp", False),
    ("alice@example.com", "nas", 2049, "tcp", False),
    ("carol@example.com", "100.80.3.4", 1500, "tcp", True),
    ("carol@example.com", "100.80.3.4", 1000, "tcp", True),
    ("carol@example.com", "100.80.3.4", 2000, "tcp", True),
    ("carol@example.com", "100.80.3.4", 2001, "tcp", False),
    ("carol@example.com", "100.81.3.4", 1500, "tcp", False),
    ("carol@example.com", "tag:ci", 1500, "tcp", True),
    ("root@example.com", "tag:web", 53, "udp", True),
    ("root@example.com", "tag:web", 53, "tcp", False),
    ("alice@example.com", "tag:web", 53, "udp", False),
    ("tag:ci", INTERNET, 443, "tcp", True),
    ("tag:gpu", INTERNET, 443, "tcp", False),
    ("alice@example.com", INTERNET, 443, "tcp", False),
    ("dave@example.com", "tag:web", 0, "icmp", True),
    ("dave@example.com", "tag:web", 80, "tcp", False),
    ("alice@example.com", "tag:web", 80, "tcp", False),
    ("erin@example.com", "tag:web", 80, "tcp", True),
    ("erin@example.com", "tag:web", 443, "tcp", True),
    ("erin@example.com", "tag:web", 8080, "tcp", False),
    ("erin@example.com", "nas", 22, "tcp", True),
    ("erin@example.com", "100.70.0.10", 22, "udp", True),
    ("frank@example.com", "tag:web", 9999, "udp", True),
    ("frank@example.com", "tag:web", 9999, "tcp", False),
    ("100.90.0.1", "100.90.0.1", 22, "tcp", False),
]


@pytest.mark.parametrize(
    ("src", "dst", "port", "proto", "expected"),
    TABLE,
    ids=[f"{s}->{d}:{proto}/{p}={'accept' if e else 'drop'}" for s, d, p, proto, e in TABLE],
)
def test_can_reach_table(src: str, dst: str, port: int, proto: str, expected: bool) -> None:
    assert can_reach(POLICY, src, dst, port, proto, DIRECTORY) is expected


DEFAULT_POLICY = parse(
    """// Example/default ACLs for unrestricted connections.
{
  // Declare static groups of users.
  // "groups": {},
  "grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"]}],
  "ssh": [{"action": "check", "src": ["autogroup:member"], "dst": ["autogroup:self"],
           "users": ["autogroup:nonroot", "root"]}],
}
"""
)


@pytest.mark.parametrize(
    ("src", "dst", "port"),
    [
        ("alice@example.com", "tag:gpu", 8000),
        ("tag:anything", "bob@example.com", 22),
        ("100.64.0.1", "100.64.0.2", 65535),
    ],
)
def test_default_policy_allows_everything_in_the_tailnet(src: str, dst: str, port: int) -> None:
    assert can_reach(DEFAULT_POLICY, src, dst, port)


def test_default_policy_does_not_reach_the_internet() -> None:
    assert not can_reach(DEFAULT_POLICY, "alice@example.com", INTERNET, 443)


def test_empty_policy_denies_everything() -> None:
    assert not can_reach(parse("{}"), "alice@example.com", "tag:gpu", 22)


def test_danger_all_matches_any_source() -> None:
    policy = parse('{"grants": [{"src": ["autogroup:danger-all"], "dst": ["tag:gpu"], "ip": ["8000"]}]}')
    assert can_reach(policy, "203.0.113.9", "tag:gpu", 8000)


def test_tag_owned_by_group_does_not_make_the_group_the_tag() -> None:
    """Owning tag:gpu lets group:ops apply it, not receive traffic meant for it."""
    assert not can_reach(POLICY, "tag:aperture", "olga@example.com", 8000)


def test_app_only_grant_opens_no_network_access() -> None:
    assert not can_reach(POLICY, "alice@example.com", "tag:web", 443)


def test_rules_allowing_names_the_rule() -> None:
    rules = Evaluator(POLICY).rules_allowing("erin@example.com", "tag:web", 443)
    assert [r.origin for r in rules] == ["acls[0]"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("*", [("icmp,tcp,udp", 0, 65535)]),
        ("443", [("icmp,tcp,udp", 443, 443)]),
        ("tcp:443", [("tcp", 443, 443)]),
        ("80-443", [("icmp,tcp,udp", 80, 443)]),
        ("udp:53", [("udp", 53, 53)]),
        ("80,443", [("icmp,tcp,udp", 80, 80), ("icmp,tcp,udp", 443, 443)]),
    ],
)
def test_parse_ports(spec: str, expected: list[tuple[str, int, int]]) -> None:
    got = [(",".join(sorted(r.protocols)), r.low, r.high) for r in parse_ports(spec)]
    assert got == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0", "port range \"0\": first port must be >0, or use '*' for wildcard"),
        ("self", 'port range "self": invalid first integer'),
        ("sctp:1", "port range 'sctp:1': unknown protocol 'sctp'"),
        ("90-80", 'port range "90-80": invalid range'),
    ],
)
def test_parse_ports_rejects(spec: str, message: str) -> None:
    with pytest.raises(PortSpecError) as info:
        parse_ports(spec)
    assert str(info.value) == message


def test_run_tests_passes_and_fails_with_tailscale_wording() -> None:
    policy = parse(
        """{
      "tagOwners": {"tag:gpu": []},
      "grants": [{"src": ["alice@example.com"], "dst": ["tag:gpu"], "ip": ["tcp:8000"]}],
      "tests": [
        {"src": "alice@example.com", "accept": ["tag:gpu:8000"]},
        {"src": "alice@example.com", "deny": ["tag:gpu:8000", "tag:gpu:22"]},
        {"src": "alice@example.com", "accept": ["tag:nope:80", "tag:gpu:1-2"]},
      ],
    }"""
    )
    assert [str(f) for f in run_tests(policy)] == [
        'tests[1] (src alice@example.com): address "tag:gpu:8000": want: Drop, got: Accept',
        'tests[2] (src alice@example.com): tag not found: "tag:nope"',
        "tests[2] (src alice@example.com): address 'tag:gpu:1-2': a test destination is host:port "
        "with one port",
    ]
