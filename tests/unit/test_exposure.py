"""exposures(): each kind of public or over-broad access is found, named and located."""

from __future__ import annotations

import pytest

from policies.exposure import GPU_TAG_OWNERS, MODEL_PORT, SSH_ADMINS, exposures
from tailnet_policy.policy_file import parse

SAFE = """{
  "tagOwners": {"tag:gpu": ["admin@example.com"], "tag:aperture": ["admin@example.com"]},
  "grants": [
    {"src": ["group:ai"], "dst": ["tag:aperture"], "ip": ["tcp:443"]},
    {"src": ["tag:aperture"], "dst": ["tag:gpu"], "ip": ["tcp:8000"]},
    {"src": ["admin@example.com"], "dst": ["tag:gpu"], "ip": ["tcp:22"]},
  ],
  "groups": {"group:ai": ["alice@example.com"]},
}"""


def findings(text: str) -> list[tuple[str, str, str]]:
    found = exposures(parse(text), "tag:gpu", "tag:aperture", [8000], ["admin@example.com"])
    return [(f.rule, f.where, f.message) for f in found]


def add_grant(grant: str) -> str:
    return SAFE.replace('"grants": [', f'"grants": [\n    {grant},', 1)


def test_safe_policy_has_no_findings() -> None:
    assert findings(SAFE) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            SAFE.replace(
                '"groups"', '"nodeAttrs": [{"target": ["tag:gpu"], "attr": ["funnel"]}],\n  "groups"'
            ),
            [
                (
                    "tailnet-no-funnel",
                    "nodeAttrs[0]",
                    'grants Funnel to tag:gpu, which publishes services on the public internet; remove "funnel" '
                    "from attr",
                )
            ],
            id="funnel",
        ),
        pytest.param(
            add_grant('{"src": ["autogroup:danger-all"], "dst": ["tag:gpu"], "ip": ["*"]}'),
            [
                (
                    "tailnet-no-wide-source",
                    "grants[0]",
                    "src autogroup:danger-all reaches tag:gpu on tcp:8000, tcp:22; name the gateway (model port) "
                    "or the admins (SSH) instead",
                ),
                (
                    "tailnet-model-port-gateway-only",
                    "grants[0]",
                    "lets autogroup:danger-all reach tag:gpu on the model port tcp:8000, bypassing the gateway; "
                    "only tag:aperture may reach it; " + MODEL_PORT.fix,
                ),
                (
                    "tailnet-ssh-admins-only",
                    "grants[0]",
                    "lets autogroup:danger-all reach tag:gpu on tcp:22; only admins may; " + SSH_ADMINS.fix,
                ),
            ],
            id="danger-all",
        ),
        pytest.param(
            add_grant('{"src": ["autogroup:member"], "dst": ["tag:gpu"], "ip": ["tcp:8000"]}'),
            [
                (
                    "tailnet-model-port-gateway-only",
                    "grants[0]",
                    "lets autogroup:member reach tag:gpu on the model port tcp:8000, bypassing the gateway; "
                    "only tag:aperture may reach it; " + MODEL_PORT.fix,
                )
            ],
            id="members-reach-model-port",
        ),
        pytest.param(
            SAFE.replace(
                '"groups"',
                '"acls": [{"action": "accept", "src": ["group:ai"], "dst": ["*:22"]}],\n  "groups"',
            ),
            [
                (
                    "tailnet-ssh-admins-only",
                    "acls[0]",
                    "lets group:ai reach tag:gpu on tcp:22; only admins may; " + SSH_ADMINS.fix,
                )
            ],
            id="acl-ssh-to-everything",
        ),
        pytest.param(
            add_grant('{"src": ["tag:gpu"], "dst": ["autogroup:internet"], "ip": ["*"]}'),
            [
                (
                    "tailnet-no-exit-node",
                    "grants[0]",
                    "lets tag:gpu use exit nodes (autogroup:internet); GPU servers need no internet route through "
                    "the tailnet: remove it",
                )
            ],
            id="gpu-exit-node",
        ),
        pytest.param(
            SAFE.replace(
                '"tag:gpu": ["admin@example.com"]', '"tag:gpu": ["admin@example.com", "autogroup:member"]'
            ),
            [
                (
                    "tailnet-gpu-tag-admins-only",
                    'tagOwners["tag:gpu"]',
                    "autogroup:member may tag a device tag:gpu and so receive model traffic; only admins may own it; "
                    + GPU_TAG_OWNERS.fix,
                )
            ],
            id="gpu-tag-owned-by-members",
        ),
        pytest.param(
            SAFE.replace(
                '"groups"',
                '"ssh": [{"action": "accept", "src": ["group:ai"], "dst": ["tag:gpu"], '
                '"users": ["root"]}],\n  "groups"',
            ),
            [
                (
                    "tailnet-ssh-admins-only",
                    "ssh[0]",
                    "Tailscale SSH from group:ai into tag:gpu; only admins may; " + SSH_ADMINS.fix,
                )
            ],
            id="tailscale-ssh-for-users",
        ),
    ],
)
def test_exposures_find(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert findings(text) == expected
