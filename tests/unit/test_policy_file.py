"""Policy file model: HuJSON parse with locations, deterministic render, unknown sections kept."""

from __future__ import annotations

import pytest

from hujson import HuJSONError
from tailnet_policy.policy_file import GENERATED_HEADER, Grant, PolicyError, PolicyFile, parse, render

USER_POLICY = """// my tailnet
{
  "groups": {"group:family": ["me@example.com", "kid@example.com",],},  // trailing commas
  /* block comment */
  "autoApprovers": {"routes": {"192.168.1.0/24": ["tag:router"]}},
  "grants": [
    {"src": ["group:family"], "dst": ["tag:nas"], "ip": ["tcp:445"], "srcPosture": ["posture:ok"]},
  ],
  "ACLs": [{"action": "accept", "users": ["me@example.com"], "ports": ["*:*"]}],
  "randomizeClientPort": true,
}
"""


def test_parse_reads_typed_sections_and_legacy_names() -> None:
    policy = parse(USER_POLICY)
    assert policy.groups["group:family"] == ("me@example.com", "kid@example.com")
    assert policy.grants[0].ip == ("tcp:445",)
    assert policy.acls[0].src == ("me@example.com",) and policy.acls[0].dst == ("*:*",)


def test_unknown_sections_and_keys_survive_a_round_trip() -> None:
    text = render(parse(USER_POLICY))
    again = parse(text)
    assert again.extra["autoApprovers"] == {"routes": {"192.168.1.0/24": ["tag:router"]}}
    assert again.extra["randomizeClientPort"] is True
    assert again.grants[0].extra["srcPosture"] == ["posture:ok"]
    assert again == parse(USER_POLICY)


def test_render_is_deterministic_and_starts_with_the_generated_header() -> None:
    policy = parse(USER_POLICY)
    first, second = render(policy), render(parse(render(policy)))
    assert first == second
    assert first.startswith("// " + GENERATED_HEADER.splitlines()[0])


def test_render_orders_sections_typed_first_then_unknown_in_source_order() -> None:
    text = render(parse(USER_POLICY), header=None)
    positions = [text.index(f'"{key}"') for key in ("groups", "acls", "grants", "autoApprovers")]
    assert positions == sorted(positions)


def test_empty_typed_section_survives() -> None:
    assert '"acls": []' in render(parse('{"acls": []}'), header=None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{\n  "grants": [\n    {"src": ["*"] "dst": ["*"]}\n  ]\n}',
            "line 3, column 19: expected ',' or '}'",
        ),
        ('{\n  "groups": {},\n  "groups": {}\n}', "line 3, column 3: duplicate key 'groups'"),
        ("{\n  /* never closed\n}", "line 2, column 3: unterminated /* comment"),
        ("", "line 1, column 1: empty document"),
    ],
    ids=["missing-comma", "duplicate-key", "open-comment", "empty"],
)
def test_parse_errors_carry_line_and_column(text: str, message: str) -> None:
    with pytest.raises(HuJSONError) as info:
        parse(text)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"grants": {}}', "grants: expected a list, got dict"),
        ('{"grants": [{"src": "*", "dst": [1]}]}', "grants[0].dst: expected a list of strings, got [1]"),
        ('{"hosts": {"nas": 1}}', "hosts['nas']: expected an address string, got 1"),
        ('{"tests": [{"accept": []}]}', "tests[0].src: expected one identity as a string, got None"),
    ],
)
def test_parse_shape_errors_name_the_path(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse(text)
    assert str(info.value) == message


def test_with_changes_marks_sections_present() -> None:
    policy = PolicyFile().with_changes(grants=(Grant(src=("*",), dst=("*",), ip=("*",)),))
    assert "grants" in policy.present and parse(render(policy)) == policy
