"""StackConfig: every validation rule gives its own message naming the key and the fix."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from config.fields import (
    API_KEY_PLACEHOLDER,
    DEFAULT_GPU_MEMORY_UTILIZATION,
    DEFAULT_IMAGE,
    DEFAULT_PORT,
    Environment,
)
from config.model import ConfigError, StackConfig, parse_config
from config.plan import PolicyPlan
from tests.unit.config_edits import changed

HAPPY: dict[str, Any] = {
    "environment": "production",
    "tailnet": {
        "admins": ["admin@example.com"],
        "modelUsers": ["group:ai-users"],
        "groups": {"group:ai-users": ["alice@example.com"]},
    },
    "hosts": [
        {
            "name": "spark",
            "address": "192.168.1.50",
            "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForTests",
        }
    ],
    "secrets": {"sshPrivateKey": True},
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    """The happy config with one value changed; `path` like `hosts.0.port` (None deletes)."""
    return changed(HAPPY, path, value)


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    return info.value.problems


def test_happy_path_parses_with_defaults() -> None:
    config = parse_config(HAPPY)
    host = config.hosts[0]
    assert config.environment is Environment.PRODUCTION
    assert (host.port, host.image, host.gpu_memory_utilization) == (
        DEFAULT_PORT,
        DEFAULT_IMAGE,
        DEFAULT_GPU_MEMORY_UTILIZATION,
    )
    assert host.model_id == host.model, "served model name defaults to the model id"
    assert host.tailnet_hostname == "spark"


def test_config_is_frozen() -> None:
    config = parse_config(HAPPY)
    with pytest.raises(Exception, match="frozen"):
        config.hosts[0].port = 9000


def test_default_aperture_grants_give_admins_admin_and_users_their_models() -> None:
    grants = PolicyPlan.from_config(parse_config(HAPPY)).aperture_grants
    assert [(g.src, g.role, g.models) for g in grants] == [
        (["admin@example.com"], "admin", "**"),
        (["alice@example.com"], "user", "spark/**"),
    ]


def aperture_sources(raw: dict[str, Any]) -> list[list[str]]:
    return [grant.src for grant in PolicyPlan.from_config(parse_config(raw)).aperture_grants]


def test_aperture_grants_name_each_groups_members_once_in_order() -> None:
    raw = copy.deepcopy(HAPPY)
    raw["tailnet"]["groups"] = {"group:ai-users": ["alice@example.com", "bob@example.com"], "group:ops": []}
    raw["gateway"] = {
        "grants": [
            {"src": ["group:ops"], "role": "admin"},
            {"src": ["bob@example.com", "group:ai-users", "admin@example.com"], "role": "admin"},
            {"src": ["group:ai-users", "tag:ci"], "role": "user", "models": "spark/**"},
        ]
    }
    assert aperture_sources(raw) == [
        ["bob@example.com", "alice@example.com", "admin@example.com"],
        ["alice@example.com", "bob@example.com", "tag:ci"],
    ], "a group with no members matches nobody: its grant is left out"


def test_visible_groups_keep_the_group_sources() -> None:
    assert aperture_sources(with_change("gateway", {"visibleGroups": True})) == [
        ["admin@example.com"],
        ["group:ai-users"],
    ]


SCIM_GRANTS = [
    {"src": ["admin@example.com"], "role": "admin"},
    {"src": ["group:ai-users", "group:sales@example.com"], "role": "user", "models": "spark/**"},
]
NOT_EXPANDABLE = (
    "is not in sovereign-ai:tailnet.groups, so the program cannot write its members into the Aperture "
    "grants, and Aperture matches a group: source only on a tailnet with group visibility (elsewhere "
    "its members get 403 access denied: no role granted): list its members in "
    "sovereign-ai:tailnet.groups, or set sovereign-ai:gateway.visibleGroups: true on a tailnet where "
    "Tailscale has turned group visibility on"
)


def test_a_grant_group_the_config_cannot_expand_is_refused_naming_its_key() -> None:
    assert problems(with_change("gateway", {"grants": SCIM_GRANTS})) == [
        f"sovereign-ai:gateway.grants[1].src: group:sales@example.com {NOT_EXPANDABLE}"
    ]


def test_a_default_grant_group_only_the_base_policy_defines_is_refused_naming_its_key() -> None:
    raw = copy.deepcopy(HAPPY)
    raw["tailnet"].update(groups={}, basePolicy="policy/base.hujson", admins=["group:admins"])
    assert problems(raw) == [
        f"sovereign-ai:tailnet.admins: group:admins {NOT_EXPANDABLE}",
        f"sovereign-ai:tailnet.modelUsers: group:ai-users {NOT_EXPANDABLE}",
    ]


def test_visible_groups_accept_a_group_the_config_cannot_expand() -> None:
    raw = with_change("gateway", {"grants": SCIM_GRANTS, "visibleGroups": True})
    assert aperture_sources(raw)[1] == ["group:ai-users", "group:sales@example.com"]


CASES = [
    pytest.param(
        "hosts.0.baseUrl",
        "http://100.64.0.5:8000/v1",
        "sovereign-ai:hosts[0].baseUrl: 'http://100.64.0.5:8000/v1' ends in /v1: Aperture appends the "
        "request path (/v1/chat/completions), so it would call /v1/v1/... and get 404; use host:port only, "
        "e.g. http://spark:8000",
        id="base-url-ends-in-v1",
    ),
    pytest.param(
        "hosts.0.port",
        70000,
        "sovereign-ai:hosts[0].port: 70000 is not a TCP port: use 1-65535 (vLLM's default is 8000)",
        id="port-out-of-range",
    ),
    pytest.param(
        "hosts.0.port",
        22,
        "sovereign-ai:hosts[0]: port 22 collides with SSH: pick another model port (vLLM's default is 8000)",
        id="port-collides-with-ssh",
    ),
    pytest.param(
        "tailnet.gpuTag",
        "gpu",
        "sovereign-ai:tailnet.gpuTag: 'gpu' is not a tag: tags look like tag:name, and the name starts "
        "with a letter (for example tag:gpu)",
        id="tag-without-prefix",
    ),
    pytest.param(
        "tailnet.gatewayTag",
        "tag:1aperture",
        "sovereign-ai:tailnet.gatewayTag: 'tag:1aperture' is not a tag: tags look like tag:name, and the "
        "name starts with a letter (for example tag:gpu)",
        id="tag-name-starts-with-digit",
    ),
    pytest.param(
        "tailnet.modelUsers",
        ["alice"],
        "sovereign-ai:tailnet.modelUsers: 'alice' is not a login, group or autogroup: use a login such as "
        "alice@example.com, a group such as group:ai-users, or an autogroup such as autogroup:member",
        id="user-neither-login-group-nor-autogroup",
    ),
    pytest.param(
        "tailnet.gatewayAddress",
        "192.168.1.9",
        "sovereign-ai:tailnet: tailnet.gatewayAddress 192.168.1.9 is outside the tailnet range "
        "100.64.0.0/10: use the gateway's 100.x address from the admin console",
        id="gateway-address-outside-tailnet",
    ),
    pytest.param(
        "hosts.0.hostKey",
        None,
        "sovereign-ai: hosts[0].hostKey is not set: production pins the SSH host key; run "
        "`ssh-keyscan -t ed25519 192.168.1.50` and set hosts[0].hostKey",
        id="production-without-host-key",
    ),
    pytest.param(
        "hosts.0.gpuMemoryUtilization",
        0.99,
        "sovereign-ai:hosts[0].gpuMemoryUtilization: 0.99 is out of range: GB10 shares 128 GB of unified "
        "memory with the host, so use 0 < x <= 0.95 (0.8 is a safe start); above that vLLM claims all "
        "unified memory and the host runs out of memory",
        id="gpu-memory-above-0.95",
    ),
    pytest.param(
        "hosts.0.vllmArgs",
        ["--gpu-memory-utilization", "0.9"],
        "sovereign-ai:hosts[0].vllmArgs: --gpu-memory-utilization is set by the program: use "
        "hosts[].gpuMemoryUtilization instead",
        id="gpu-memory-flag-in-args",
    ),
    pytest.param(
        "hosts.0.vllmArgs",
        ["--api-key=sk-do-not-print"],
        "sovereign-ai:hosts[0].vllmArgs: --api-key is set by the program: use the secret "
        "sovereign-ai:vllmApiKey (a flag would put it on the command line) instead",
        id="api-key-flag-in-args",
    ),
    pytest.param(
        "hosts.0.vllmArgs",
        ["--hf-token", "hf_do_not_print"],
        "sovereign-ai:hosts[0].vllmArgs: --hf-token is set by the program: use the secret "
        "sovereign-ai:huggingfaceToken (a flag would put it on the command line) instead",
        id="hf-token-flag-in-args",
    ),
    pytest.param(
        "hosts.0.image",
        "vllm/vllm-openai:latest",
        "sovereign-ai:hosts[0].image: 'vllm/vllm-openai:latest' is not pinned: use a tag or digest such as "
        "vllm/vllm-openai:v0.28.0 (latest changes under you and may not load your model on sm_121)",
        id="image-not-pinned",
    ),
    pytest.param(
        "gateway",
        {"url": "http://203.0.113.7"},
        "sovereign-ai: 'http://203.0.113.7' points at 203.0.113.7, which is outside the tailnet range "
        "100.64.0.0/10: gateway.url must be a tailnet address or a MagicDNS name, never a public or LAN "
        "address",
        id="gateway-url-public-address",
    ),
    pytest.param(
        "hosts.0.baseUrl",
        "http://models.example.com:8000",
        "sovereign-ai: 'http://models.example.com:8000' points at models.example.com, a public DNS name: "
        "hosts[0].baseUrl must be a tailnet address (100.64.0.0/10) or a MagicDNS name (a short name such "
        "as ai, or <name>.<tailnet>.ts.net)",
        id="base-url-public-name",
    ),
    pytest.param(
        "gateway",
        {"url": "http://ai/v1"},
        "sovereign-ai:gateway.url: 'http://ai/v1' ends in /v1: give the gateway root (http://ai); clients "
        "add /v1 themselves",
        id="gateway-url-ends-in-v1",
    ),
    pytest.param(
        "tailnet.magicDns",
        False,
        "sovereign-ai: gateway.url http://ai is a MagicDNS name but tailnet.magicDns is false: `gateway` "
        "will not resolve on clients; enable MagicDNS or use the gateway's 100.x address",
        id="magicdns-off-with-short-name",
    ),
    pytest.param(
        "secrets",
        {"sshPrivateKey": True, "gatewayApiKeyEmpty": True},
        'sovereign-ai: gatewayApiKey is empty (Aperture: "No API key configured"): remove it to use the '
        f"placeholder {API_KEY_PLACEHOLDER!r}, or set the key vLLM expects",
        id="empty-gateway-api-key",
    ),
    pytest.param(
        "secrets",
        {"sshPrivateKey": False},
        "sovereign-ai: sshPrivateKey is not set: run `pulumi config set --secret sovereign-ai:sshPrivateKey "
        "< ~/.ssh/id_ed25519` (or set sshPrivateKeyPath to the key file)",
        id="missing-ssh-private-key",
    ),
    pytest.param(
        "gateway",
        {"grants": [{"src": ["admin@example.com"], "role": "admin", "models": "**"}]},
        "sovereign-ai: gateway.grants give no models to group:ai-users: they would get 403 / access denied "
        "through the gateway; add a grant for them and the model",
        id="model-users-without-grant-get-403",
    ),
    pytest.param(
        "gateway",
        {"grants": [{"src": ["group:ai-users"], "role": "user", "models": "spark/**"}]},
        "sovereign-ai: gateway.grants has no admin grant: Aperture refuses a save that removes every admin; "
        "add {src: [<your login>], role: admin}",
        id="no-admin-grant",
    ),
    pytest.param(
        "gateway",
        {
            "grants": [
                {"src": ["admin@example.com"], "role": "admin", "models": "**"},
                {"src": ["group:ai-users"], "role": "user", "models": "sparky/**"},
            ]
        },
        "sovereign-ai: gateway.grants[1].models 'sparky/**' references provider 'sparky', which does not "
        "match any host (spark)",
        id="grant-models-unknown-provider",
    ),
    pytest.param(
        "gateway",
        {"grants": [{"src": ["group:ai-users"], "role": "user"}]},
        "sovereign-ai:gateway.grants[0]: a user grant without models lets nobody call a model (404): set "
        "models, e.g. spark/**",
        id="user-grant-without-models",
    ),
    pytest.param(
        "gateway",
        {"grants": [{"src": ["admin@example.com"], "role": "owner"}]},
        "sovereign-ai:gateway.grants[0].role: 'owner' is not an Aperture role: use admin or user",
        id="unknown-aperture-role",
    ),
    pytest.param(
        "environment",
        "prod",
        "sovereign-ai:environment: 'prod' is not an environment: use development or production",
        id="unknown-environment",
    ),
    pytest.param(
        "tailnet.modelUsers",
        ["group:ml"],
        "sovereign-ai:tailnet: group:ml not defined: add it under tailnet.groups, or point "
        "tailnet.basePolicy at the policy file that defines it",
        id="undefined-group",
    ),
    pytest.param(
        "tailnet.admins",
        ["autogroup:member"],
        "sovereign-ai:tailnet.admins: 'autogroup:member' is wider than administrators: list logins or a "
        "group of admins",
        id="admins-autogroup-member",
    ),
    pytest.param(
        "tailnet.modelUsers",
        ["autogroup:danger-all"],
        "sovereign-ai:tailnet.modelUsers: 'autogroup:danger-all' includes devices outside your tailnet: "
        "list logins or groups of people who may use the model",
        id="model-users-danger-all",
    ),
    pytest.param(
        "tailnet.gatewayTag",
        "tag:gpu",
        "sovereign-ai:tailnet: tailnet.gatewayTag and tailnet.gpuTag are both tag:gpu: the gateway must be "
        "the only source that reaches the model port, so give it a tag of its own",
        id="gateway-tag-equals-gpu-tag",
    ),
    pytest.param(
        "hosts.0.bindAddress",
        "0.0.0.0",
        "sovereign-ai: hosts[0].bindAddress is 0.0.0.0: production binds vLLM to the tailnet address only; "
        "remove bindAddress",
        id="production-binds-all-interfaces",
    ),
    pytest.param(
        "hosts.0.vllmArgs",
        ["--enforce-eager"],
        "sovereign-ai:hosts[0].vllmArgs: --enforce-eager roughly halves decode speed on GB10: remove it "
        "unless you are debugging",
        id="enforce-eager",
    ),
    pytest.param(
        "hosts.0.prot",
        8000,
        "sovereign-ai:hosts[0].prot: is not a known setting: check the spelling against "
        "README.md#configuration",
        id="misspelled-key",
    ),
    pytest.param(
        "hosts.0.address",
        None,
        "sovereign-ai:hosts[0].address: is required",
        id="missing-address",
    ),
]


@pytest.mark.parametrize(("path", "value", "message"), CASES)
def test_config_rejects(path: str, value: Any, message: str) -> None:
    assert problems(with_change(path, value)) == [message]


def test_config_rejects_duplicate_host_names() -> None:
    raw = copy.deepcopy(HAPPY)
    raw["hosts"].append(dict(raw["hosts"][0], address="192.168.1.51"))
    assert problems(raw) == ["sovereign-ai: hosts[1].name 'spark' is used twice: each host needs its own"]


def test_config_rejects_duplicate_tailnet_hostnames() -> None:
    raw = copy.deepcopy(HAPPY)
    raw["hosts"].append(dict(raw["hosts"][0], name="spark2", hostname="spark"))
    assert problems(raw) == ["sovereign-ai: hosts[1].hostname 'spark' is used twice: each host needs its own"]


def test_config_reports_every_bad_key_at_once() -> None:
    raw = with_change("hosts.0.port", 0)
    raw["hosts"][0]["gpuMemoryUtilization"] = 1.0
    assert len(problems(raw)) == 2


def test_config_never_prints_a_secret_flag_value() -> None:
    message = "\n".join(problems(with_change("hosts.0.vllmArgs", ["--api-key=sk-do-not-print"])))
    assert "sk-do-not-print" not in message


def test_development_allows_unpinned_host_key_and_bind_all() -> None:
    raw = with_change("environment", "development")
    del raw["hosts"][0]["hostKey"]
    raw["hosts"][0]["bindAddress"] = "0.0.0.0"
    assert parse_config(raw).hosts[0].bind_address == "0.0.0.0"


def test_tailnet_magicdns_name_is_a_valid_base_url() -> None:
    config = parse_config(with_change("hosts.0.baseUrl", "http://spark.tail1234.ts.net:8000"))
    assert config.hosts[0].base_url == "http://spark.tail1234.ts.net:8000"


def test_gateway_by_address_inside_the_tailnet() -> None:
    raw = with_change("tailnet.gatewayAddress", "100.100.7.7")
    raw["tailnet"]["gatewayTag"] = None
    config = parse_config(raw)
    assert (config.tailnet.gateway_tag, config.tailnet.gateway_address) == (None, "100.100.7.7")


def test_stack_config_schema_names_are_camel_case() -> None:
    properties = StackConfig.model_json_schema(by_alias=True)["$defs"]["HostConfig"]["properties"]
    assert "gpuMemoryUtilization" in properties and "gpu_memory_utilization" not in properties


RSA_HOST_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 root@spark"


@pytest.mark.parametrize(
    ("host_key", "ssh_port", "scan"),
    [
        (RSA_HOST_KEY, 22, "ssh-keyscan -t ed25519 192.168.1.50"),
        (f"192.168.1.50 {RSA_HOST_KEY}", 2222, "ssh-keyscan -t ed25519 -p 2222 192.168.1.50"),
    ],
    ids=["authorized-keys-line", "known-hosts-line-other-port"],
)
def test_an_rsa_host_key_is_refused_naming_the_key_and_the_ed25519_fix(
    host_key: str, ssh_port: int, scan: str
) -> None:
    """A pinned key makes pulumi-command v1.2.1 offer only its type (`remote/connection.go:94`): for
    RSA only SHA-1 `ssh-rsa`, which OpenSSH 8.8 and later refuse, so the deploy could never connect."""
    raw = with_change("hosts.0.hostKey", host_key)
    raw["hosts"][0]["sshPort"] = ssh_port
    assert problems(raw) == [
        "sovereign-ai:hosts[0].hostKey: an RSA key (ssh-rsa) is pinned: pulumi-command then offers only "
        "SHA-1 `ssh-rsa` as host-key algorithm, which OpenSSH 8.8 and later refuse, so every deploy would "
        f"fail to connect; pin the host's ed25519 key instead: `{scan}`"
    ]


def test_ed25519_and_ecdsa_host_keys_are_accepted() -> None:
    for host_key in ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA", "ecdsa-sha2-nistp256 AAAAE2VjZHNh"):
        assert parse_config(with_change("hosts.0.hostKey", host_key)).hosts[0].host_key == host_key
