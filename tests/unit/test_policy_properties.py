"""Properties of the policy model, in the spirit of hujson's fuzz tests."""

from __future__ import annotations

from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from config.model import parse_config
from config.plan import PolicyConflict, policy_for
from tailnet_policy.policy_file import Grant, PolicyFile, PolicyTest, parse, render
from tailnet_policy.reachability import Evaluator, run_tests

USERS = ["alice@example.com", "bob@example.com", "carol@example.com"]
TAGS = ["tag:gpu", "tag:aperture", "tag:web"]
GROUPS = {"group:a": ("alice@example.com",), "group:ab": ("alice@example.com", "bob@example.com")}
SELECTORS = [*USERS, *TAGS, *GROUPS, "*", "autogroup:member", "autogroup:tagged"]
PORT_SPECS = ["*", "22", "tcp:22", "tcp:8000", "udp:53", "8000-8010", "tcp:80,443"]
IDENTITIES = [*USERS, *TAGS]
PORTS = [22, 53, 80, 443, 8000, 8005, 9000]

grants = st.builds(
    Grant,
    src=st.lists(st.sampled_from(SELECTORS), min_size=1, max_size=3).map(tuple),
    dst=st.lists(
        st.sampled_from([s for s in SELECTORS if s != "autogroup:member"]), min_size=1, max_size=3
    ).map(tuple),
    ip=st.lists(st.sampled_from(PORT_SPECS), min_size=1, max_size=2).map(tuple),
)
policies = st.builds(
    lambda gs, extra: PolicyFile(
        groups=GROUPS, tag_owners={t: ("autogroup:admin",) for t in TAGS}, grants=tuple(gs), extra=extra
    ),
    st.lists(grants, max_size=6),
    st.dictionaries(
        st.sampled_from(["postures", "randomizeClientPort", "derpMap"]), st.integers(), max_size=2
    ),
)


@given(policies)
def test_render_then_parse_round_trips(policy: PolicyFile) -> None:
    assert parse(render(policy)) == policy


@given(policies)
def test_render_is_deterministic(policy: PolicyFile) -> None:
    assert render(parse(render(policy))) == render(policy)


@given(policies, grants)
def test_adding_a_grant_never_removes_reachability(policy: PolicyFile, extra: Grant) -> None:
    before, after = Evaluator(policy), Evaluator(policy.with_changes(grants=(*policy.grants, extra)))
    for src in IDENTITIES:
        for dst in IDENTITIES:
            for port in PORTS:
                if before.can_reach(src, dst, port):
                    assert after.can_reach(src, dst, port), (src, dst, port)


@given(policies)
@settings(max_examples=50)
def test_tests_built_from_can_reach_pass(policy: PolicyFile) -> None:
    """run_tests and can_reach agree: tests written from can_reach's answers all pass."""
    evaluator = Evaluator(policy)
    tests = []
    for src in IDENTITIES:
        accept: list[str] = []
        deny: list[str] = []
        for dst in TAGS:
            for port in PORTS:
                reachable = evaluator.can_reach(src, dst, port, "tcp") or evaluator.can_reach(
                    src, dst, port, "udp"
                )
                (accept if reachable else deny).append(f"{dst}:{port}")
        tests.append(PolicyTest(src=src, accept=tuple(accept), deny=tuple(deny)))
    assert run_tests(policy, tests) == []


configs = st.fixed_dictionaries(
    {
        "admins": st.lists(st.sampled_from(USERS), min_size=1, max_size=2, unique=True),
        "users": st.lists(st.sampled_from([*USERS, "group:ab"]), min_size=1, max_size=3, unique=True),
        "ports": st.lists(st.integers(min_value=1024, max_value=9000), min_size=1, max_size=3, unique=True),
        "base": st.lists(grants.filter(lambda g: "tag:gpu" not in g.dst and "*" not in g.dst), max_size=3),
    }
)


@given(configs)
@settings(max_examples=60)
def test_generated_tests_agree_with_can_reach(cfg: dict[str, Any]) -> None:
    """For random configs and harmless base policies, the generated tests pass and mean what they say."""
    raw = {
        "tailnet": {
            "admins": cfg["admins"],
            "modelUsers": cfg["users"],
            "groups": {"group:ab": list(GROUPS["group:ab"])},
        },
        "hosts": [{"name": f"h{i}", "address": "10.0.0.1", "port": p} for i, p in enumerate(cfg["ports"])],
        "secrets": {"sshPrivateKey": True},
    }
    base = render(PolicyFile(grants=tuple(g for g in cfg["base"] if "tag:gpu" not in g.src)), header=None)
    try:
        policy = policy_for(parse_config(raw), base)
    except PolicyConflict:
        # A base grant opened a path the invariant forbids: refused, which is what we want; the
        # refusal must be one of the generated tests failing, not a crash.
        event("base refused")
        return
    event("base accepted")
    assert run_tests(policy) == []
    evaluator = Evaluator(policy)
    for port in cfg["ports"]:
        assert evaluator.can_reach("tag:aperture", "tag:gpu", port)


harmless_bases = st.builds(
    lambda gs, extra: PolicyFile(
        groups=GROUPS, tag_owners={"tag:web": ("alice@example.com",)}, grants=tuple(gs), extra=extra
    ),
    st.lists(grants.filter(lambda g: not {"tag:gpu", "*", "autogroup:tagged"} & set(g.dst)), max_size=4),
    st.dictionaries(
        st.sampled_from(["postures", "randomizeClientPort", "derpMap"]), st.integers(), max_size=2
    ),
)


@given(harmless_bases)
def test_merge_never_drops_user_content(base: PolicyFile) -> None:
    raw = {
        "tailnet": {"admins": ["admin@example.com"], "modelUsers": ["carol@example.com"]},
        "hosts": [{"name": "spark", "address": "10.0.0.1"}],
        "secrets": {"sshPrivateKey": True},
    }
    merged = policy_for(parse_config(raw), render(base))
    assert merged.grants[: len(base.grants)] == base.grants
    assert all(merged.groups[k] == v for k, v in base.groups.items())
    assert merged.extra == base.extra
