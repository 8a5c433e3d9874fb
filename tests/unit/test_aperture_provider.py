"""`ApertureConfigProvider` against the Aperture emulator over real HTTP.

Each test calls one provider method (check/diff/create/read/update/delete) directly, as the dynamic
provider server would, and inspects the emulator's stored document and audit log.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dill
import pulumi.dynamic
import pytest
from pulumi.dynamic.dynamic import serialize_provider

import hujson
from components.gateway.aperture_client import (
    ApertureConflictError,
    ApertureForbiddenError,
    ApertureRejectedError,
    resolve_settings,
)
from components.gateway.aperture_config import MAX_ATTEMPTS, ApertureConfig, ApertureConfigProvider
from sandbox.aperture import ApertureBackend, ApertureServer, serve

ADMIN = "admin@example.com"
OPENAI_KEY = "sk-openai-unmanaged"
SPARK_KEY = "sk-spark-managed"
CAP = "tailscale.com/cap/aperture"

BASE = f"""{{
  // Hand-written by the admin; only spark and the grants belong to the stack.
  "providers": {{
    "openai": {{
      "baseurl": "https://api.openai.com", // keep
      "apikey": "{OPENAI_KEY}",
      "models": ["gpt-5"],
    }},
    "spark": {{ "baseurl": "http://old-spark:8000", "models": ["old"] }}, /* stale, adopted */
    "anthropic": {{
      "baseurl": "https://api.anthropic.com", "authorization": "x-api-key", "models": ["claude"],
    }},
  }},
  "quotas": {{ "daily": {{ "capacity": "$10.00",   "rate": "$5.00/day" }} }},
  "grants": [
    {{ "src": ["*"], "app": {{ "{CAP}": [ {{ "role": "admin" }}, {{ "models": "**" }} ] }} }},
  ],
  "database": {{ "retention": {{ "duration": "30d" }} }}, // trailing section
}}
"""


def grants() -> list[dict[str, Any]]:
    return [
        {"src": [ADMIN], "app": {CAP: [{"role": "admin"}, {"models": "**"}]}},
        {"src": ["group:ml"], "app": {CAP: [{"role": "user"}, {"models": "spark/**"}]}},
    ]


def props(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "providers": {
            "spark": {
                "baseurl": "http://spark.example.ts.net:8000",
                "models": ["Qwen/Qwen3-8B"],
                "apikey": SPARK_KEY,
                "compatibility": {"openai_chat": True},
            }
        },
        "grants": grants(),
        "environment": "development",
        "__provider": "serialized-provider-v1",
    }
    value.update(overrides)
    return value


class Gateway:
    """The emulator under test and its audit log."""

    def __init__(self, server: ApertureServer, audit: Path) -> None:
        self.server = server
        self.backend: ApertureBackend = server.backend
        self.audit = audit

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def requests(self, method: str) -> list[int]:
        """Statuses of the config requests with this method, in order."""
        if not self.audit.exists():
            return []
        lines = [json.loads(line) for line in self.audit.read_text().splitlines()]
        return [
            line["status"]
            for line in lines
            if line["method"] == method and line["path"] == "/aperture/config"
        ]

    def document(self) -> dict[str, Any]:
        value: dict[str, Any] = hujson.loads(self.backend.stored_text)
        return value


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    audit = tmp_path / "audit.jsonl"
    server, _ = serve(config=BASE, audit_path=audit, groups={"group:ml": ["bob@example.com"]})
    monkeypatch.delenv("SOVEREIGN_AI_GATEWAY_URL", raising=False)
    monkeypatch.setenv("SOVEREIGN_AI_IDENTITY", ADMIN)
    yield Gateway(server, audit)
    server.shutdown()
    server.server_close()


def configured(url: str) -> ApertureConfigProvider:
    provider = ApertureConfigProvider()
    config = pulumi.dynamic.Config({"sovereign-ai:gateway": json.dumps({"url": url})}, "sovereign-ai")
    provider.configure(pulumi.dynamic.ConfigureRequest(config))
    return provider


@pytest.fixture
def provider(gateway: Gateway) -> ApertureConfigProvider:
    return configured(gateway.url)


def outside(text: str, owned: list[str]) -> str:
    """The text with each owned provider member and the grants value cut out (marked)."""
    root = hujson.parse(text)
    spans = [(root.member("grants").value.start, root.member("grants").value.end)]  # type: ignore[union-attr]
    providers = root.member("providers").value  # type: ignore[union-attr]
    spans += [(m.start, m.value.end) for m in providers.members if m.key in owned]
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + "<managed>" + text[end:]
    return text


# -- check and diff ------------------------------------------------------------------------------


def test_check_accepts_valid_inputs(provider: ApertureConfigProvider) -> None:
    assert provider.check({}, props()).failures == []


def test_check_rejects_a_baseurl_ending_in_v1(provider: ApertureConfigProvider) -> None:
    news = props(providers={"spark": {"baseurl": "http://spark:8000/v1/", "models": ["m"]}})
    assert [(f.property, f.reason) for f in provider.check({}, news).failures] == [
        (
            "providers",
            "providers.spark.baseurl 'http://spark:8000/v1/' ends in /v1: Aperture appends the request path, "
            "so clients would hit /v1/v1/... (404); set it to the API root 'http://spark:8000'",
        )
    ]


def test_check_rejects_a_grant_without_a_role(provider: ApertureConfigProvider) -> None:
    news = props(grants=[*grants(), {"src": ["tag:ci"], "app": {CAP: [{"models": "spark/**"}]}}])
    assert [(f.property, f.reason) for f in provider.check({}, news).failures] == [
        (
            "grants",
            'grants[2] has no role: without one Aperture answers 403; add {"role": "user"} '
            f'(or "admin") to app["{CAP}"]',
        )
    ]


def test_diff_ignores_the_serialized_provider(provider: ApertureConfigProvider) -> None:
    result = provider.diff("id", props(__provider="old-code"), props(__provider="new-code"))
    assert (result.changes, result.replaces, result.delete_before_replace) == (False, [], False)


def test_diff_ignores_outputs(provider: ApertureConfigProvider) -> None:
    olds = props(effective_grants=[], provider_names=["spark"], etag='"x"')
    assert provider.diff("id", olds, props()).changes is False


@pytest.mark.parametrize(
    "news",
    [
        props(grants=grants()[:1]),
        props(providers={"spark": {"baseurl": "http://spark.example.ts.net:8000", "models": ["other"]}}),
        props(environment="production"),
    ],
    ids=["grants", "providers", "environment"],
)
def test_diff_reports_a_changed_input(provider: ApertureConfigProvider, news: dict[str, Any]) -> None:
    result = provider.diff("id", props(), news)
    assert (result.changes, result.replaces) == (True, [])


# -- create --------------------------------------------------------------------------------------


def test_create_leaves_everything_outside_the_managed_parts_byte_for_byte(
    provider: ApertureConfigProvider, gateway: Gateway
) -> None:
    provider.create(props())
    assert outside(gateway.backend.stored_text, ["spark"]) == outside(BASE, ["spark"])


def test_create_writes_the_declared_provider_and_grants(
    provider: ApertureConfigProvider, gateway: Gateway
) -> None:
    provider.create(props())
    document = gateway.document()
    assert (document["providers"]["spark"], document["grants"]) == (props()["providers"]["spark"], grants())


def test_create_inserts_a_new_provider_without_touching_the_others(
    provider: ApertureConfigProvider, gateway: Gateway
) -> None:
    news = props(providers={"gpu2": {"baseurl": "http://gpu2:8000", "models": ["m"]}})
    provider.create(news)
    stored = gateway.backend.stored_text
    providers = hujson.parse(stored).member("providers").value  # type: ignore[union-attr]
    without_gpu2 = hujson.remove_member(stored, providers, "gpu2")
    assert outside(without_gpu2, []) == outside(BASE, [])


def test_create_keeps_the_stored_key_of_an_unmanaged_provider(
    provider: ApertureConfigProvider, gateway: Gateway
) -> None:
    provider.create(props())
    assert gateway.document()["providers"]["openai"]["apikey"] == OPENAI_KEY


def test_create_never_writes_a_redacted_value(provider: ApertureConfigProvider, gateway: Gateway) -> None:
    provider.create(props())
    assert "<redacted>" not in gateway.backend.stored_text


def test_create_omits_apikey_for_a_provider_without_one(
    provider: ApertureConfigProvider, gateway: Gateway
) -> None:
    provider.create(
        props(providers={"spark": {"baseurl": "http://spark:8000", "models": ["m"], "apikey": None}})
    )
    assert "apikey" not in gateway.document()["providers"]["spark"]


def test_create_validates_then_puts_with_if_match(provider: ApertureConfigProvider, gateway: Gateway) -> None:
    etag = gateway.backend.etag
    provider.create(props())
    lines = [json.loads(line) for line in gateway.audit.read_text().splitlines()]
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("GET", "/aperture/config", 200),
        ("POST", "/aperture/config:validate", 200),
        ("PUT", "/aperture/config", 200),
    ], f"the PUT must carry If-Match {etag}"


def test_create_outputs(provider: ApertureConfigProvider, gateway: Gateway) -> None:
    result = provider.create(props())
    assert result.outs == {
        "providers": props()["providers"],
        "quotas": {},
        "grants": grants(),
        "environment": "development",
        "effective_grants": grants(),
        "provider_names": ["openai", "spark", "anthropic"],
        "etag": gateway.backend.etag,
    }


def test_outputs_other_than_providers_hold_no_plaintext_key(provider: ApertureConfigProvider) -> None:
    outs = provider.create(props()).outs or {}
    rest = json.dumps({key: value for key, value in outs.items() if key != "providers"})
    assert (SPARK_KEY in rest, OPENAI_KEY in rest) == (False, False)


def test_create_quotes_aperture_422_messages_item_by_item(
    provider: ApertureConfigProvider, gateway: Gateway
) -> None:
    bad = props(
        providers={"spark": {"models": ["m"]}},
        grants=[*grants(), {"src": ["x@example.com"], "app": {CAP: [{"role": "user"}, {"models": "gpu/*"}]}}],
    )
    with pytest.raises(ApertureRejectedError) as caught:
        provider.create(bad)
    assert str(caught.value) == (
        "Aperture rejected the config:\n"
        " - provider spark has no baseurl configured\n"
        ' - models pattern "gpu/*" references provider "gpu" which does not match any declared provider'
    )


def test_create_rejected_by_validate_sends_no_put(provider: ApertureConfigProvider, gateway: Gateway) -> None:
    with pytest.raises(ApertureRejectedError):
        provider.create(props(providers={"spark": {"models": ["m"]}}))
    assert gateway.requests("PUT") == []


def test_create_surfaces_the_put_422_for_a_self_lockout(provider: ApertureConfigProvider) -> None:
    lockout = [{"src": ["root@example.com"], "app": {CAP: [{"role": "admin"}]}}]
    with pytest.raises(ApertureRejectedError) as caught:
        provider.create(props(grants=lockout))
    assert str(caught.value) == (
        "Aperture rejected the config:\n - this change would remove your own admin role (admin@example.com)"
    )


def test_create_quotes_aperture_403(
    provider: ApertureConfigProvider, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway.backend.replace_document(BASE.replace('"src": ["*"]', f'"src": ["{ADMIN}"]'))
    monkeypatch.setenv("SOVEREIGN_AI_IDENTITY", "mallory@example.com")
    with pytest.raises(ApertureForbiddenError) as caught:
        provider.create(props())
    url = provider._client().config_url
    assert str(caught.value) == (
        f"Aperture denied GET {url} (403) for mallory@example.com; it needs a grant with role admin:\n"
        " - access denied: no role granted"
    )


# -- 412 -----------------------------------------------------------------------------------------


def concurrent_writer(backend: ApertureBackend, times: int) -> list[int]:
    """Make the next `times` PUTs race an out-of-band edit (a new unmanaged provider each time)."""
    done: list[int] = []

    def write() -> None:
        if len(done) >= times:
            return
        done.append(1)
        root = hujson.parse(backend.stored_text)
        providers = root.member("providers").value  # type: ignore[union-attr]
        name = f"late{len(done)}"
        backend.replace_document(
            hujson.insert_member(
                backend.stored_text, providers, name, {"baseurl": "http://late", "models": ["x"]}
            )
        )

    backend.before_write = write
    return done


def test_412_rereads_and_remerges(provider: ApertureConfigProvider, gateway: Gateway) -> None:
    concurrent_writer(gateway.backend, times=1)
    provider.create(props())
    document = gateway.document()
    assert (gateway.requests("PUT"), "late1" in document["providers"], "spark" in document["providers"]) == (
        [412, 200],
        True,
        True,
    )


def test_412_gives_up_after_max_attempts(provider: ApertureConfigProvider, gateway: Gateway) -> None:
    concurrent_writer(gateway.backend, times=100)
    with pytest.raises(ApertureConflictError) as caught:
        provider.create(props())
    assert (str(caught.value), gateway.requests("PUT")) == (
        f"Aperture's config changed between read and write {MAX_ATTEMPTS} times in a row (412 Precondition Failed each "
        "time): another writer (the dashboard, another stack) is editing it; run again once it is idle",
        [412] * MAX_ATTEMPTS,
    )


# -- update --------------------------------------------------------------------------------------


def test_update_returns_full_outs(provider: ApertureConfigProvider) -> None:
    olds = {**(provider.create(props()).outs or {}), "__provider": "old"}
    news = props(environment="production")
    outs = provider.update("id", olds, news).outs or {}
    assert (sorted(outs), outs["environment"]) == (
        ["effective_grants", "environment", "etag", "grants", "provider_names", "providers", "quotas"],
        "production",
    )


def test_update_without_change_sends_no_put(provider: ApertureConfigProvider, gateway: Gateway) -> None:
    outs = provider.create(props()).outs or {}
    changed = props(grants=grants()[:1])
    outs = provider.update("id", outs, changed).outs or {}
    provider.update("id", outs, changed)
    assert gateway.requests("PUT") == [200, 200]


def test_update_with_a_new_api_key_puts_it(provider: ApertureConfigProvider, gateway: Gateway) -> None:
    outs = provider.create(props()).outs or {}
    rotated = props()
    rotated["providers"]["spark"]["apikey"] = "sk-rotated"
    provider.update("id", outs, rotated)
    assert gateway.document()["providers"]["spark"]["apikey"] == "sk-rotated"


def test_update_drops_a_provider_no_longer_declared(
    provider: ApertureConfigProvider, gateway: Gateway
) -> None:
    two = props()
    two["providers"]["gpu2"] = {"baseurl": "http://gpu2:8000", "models": ["m"]}
    outs = provider.create(two).outs or {}
    provider.update("id", outs, props())
    assert sorted(gateway.document()["providers"]) == ["anthropic", "openai", "spark"]


def test_update_keeps_the_stored_key_of_an_unmanaged_provider(
    provider: ApertureConfigProvider, gateway: Gateway
) -> None:
    outs = provider.create(props()).outs or {}
    provider.update("id", outs, props(grants=grants()[:1]))
    assert gateway.document()["providers"]["openai"]["apikey"] == OPENAI_KEY


# -- read ----------------------------------------------------------------------------------------


def out_of_band(gateway: Gateway, old: str, new: str) -> None:
    text = gateway.backend.stored_text
    assert text.count(old) == 1, f"{old!r} must occur once in the stored document"
    gateway.backend.replace_document(text.replace(old, new))


def test_read_reports_grant_drift(provider: ApertureConfigProvider, gateway: Gateway) -> None:
    outs = provider.create(props()).outs or {}
    out_of_band(gateway, '"group:ml"', '"group:everyone"')
    read = provider.read("id", outs).outs or {}
    assert read["grants"][1]["src"] == ["group:everyone"]


def test_read_drift_shows_in_the_next_diff(provider: ApertureConfigProvider, gateway: Gateway) -> None:
    outs = provider.create(props()).outs or {}
    out_of_band(gateway, '"http://spark.example.ts.net:8000"', '"http://spark.example.ts.net:8000/v1"')
    read = provider.read("id", outs).outs or {}
    assert provider.diff("id", read, props()).changes is True


def test_read_keeps_the_own_key_for_a_redacted_provider(provider: ApertureConfigProvider) -> None:
    outs = provider.create(props()).outs or {}
    read = provider.read("id", outs).outs or {}
    assert read["providers"] == props()["providers"]


def test_read_ignores_changes_outside_the_managed_parts(
    provider: ApertureConfigProvider, gateway: Gateway
) -> None:
    outs = provider.create(props()).outs or {}
    out_of_band(gateway, '"models": ["gpt-5"]', '"models": ["gpt-5", "gpt-5-mini"]')
    read = provider.read("id", outs).outs or {}
    assert provider.diff("id", read, props()).changes is False


def test_read_returns_full_outs(provider: ApertureConfigProvider, gateway: Gateway) -> None:
    outs = provider.create(props()).outs or {}
    read = provider.read("id", outs).outs or {}
    assert read == outs


# -- delete --------------------------------------------------------------------------------------


def test_delete_removes_only_the_managed_parts(provider: ApertureConfigProvider, gateway: Gateway) -> None:
    outs = provider.create(props()).outs or {}
    provider.delete("id", outs)
    root = hujson.parse(gateway.backend.stored_text)
    providers = root.member("providers").value  # type: ignore[union-attr]
    base = hujson.parse(BASE)
    base_providers = base.member("providers").value  # type: ignore[union-attr]
    expected = outside(hujson.remove_member(BASE, base_providers, "spark"), [])
    assert (providers.member("spark"), outside(gateway.backend.stored_text, [])) == (None, expected)


def test_delete_keeps_admin_grants_only(provider: ApertureConfigProvider, gateway: Gateway) -> None:
    outs = provider.create(props()).outs or {}
    provider.delete("id", outs)
    assert gateway.document()["grants"] == [{"src": [ADMIN], "app": {CAP: [{"role": "admin"}]}}]


def test_delete_keeps_the_stored_key_of_an_unmanaged_provider(
    provider: ApertureConfigProvider, gateway: Gateway
) -> None:
    outs = provider.create(props()).outs or {}
    provider.delete("id", outs)
    assert gateway.document()["providers"]["openai"]["apikey"] == OPENAI_KEY


def test_second_delete_sends_no_put(provider: ApertureConfigProvider, gateway: Gateway) -> None:
    outs = provider.create(props()).outs or {}
    provider.delete("id", outs)
    provider.delete("id", outs)
    assert gateway.requests("PUT") == [200, 200]


# -- serialization and configuration ------------------------------------------------------------


def test_provider_survives_pulumi_dill_serialization(gateway: Gateway) -> None:
    serialized = serialize_provider(ApertureConfigProvider())
    copy_ = dill.loads(base64.b64decode(serialized))
    copy_.configure(
        pulumi.dynamic.ConfigureRequest(
            pulumi.dynamic.Config({"sovereign-ai:gateway": json.dumps({"url": gateway.url})}, "sovereign-ai")
        )
    )
    assert copy_.create(props()).outs["etag"] == gateway.backend.etag


def test_environment_variable_overrides_the_stack_config_url(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = configured("http://127.0.0.1:9")
    monkeypatch.setenv("SOVEREIGN_AI_GATEWAY_URL", gateway.url)
    assert provider.read("id", props()).outs["etag"] == gateway.backend.etag  # type: ignore[index]


def test_gateway_url_defaults_to_magicdns_name() -> None:
    assert resolve_settings(None, {}).url == "http://ai"


def test_resource_type_token() -> None:
    token = f"pulumi-python:{ApertureConfig._resource_type_name}"
    assert token == "pulumi-python:dynamic/aperture:Config"


def test_props_are_not_mutated(provider: ApertureConfigProvider) -> None:
    news = props()
    before = copy.deepcopy(news)
    provider.create(news)
    assert news == before


# -- quota buckets: owned like the providers --------------------------------------------------------

BUCKET = "sovereign-ai:<user>"
QUOTA = {"capacity": "$10.00", "rate": "$5.00/day", "on_exceed": "reject"}


def budgeted(**quotas: dict[str, str]) -> dict[str, Any]:
    """Inputs whose user grant is charged against `BUCKET`, with `quotas` as the declared buckets."""
    charged = [
        grants()[0],
        {
            "src": ["group:ml"],
            "app": {CAP: [{"role": "user"}, {"models": "spark/**", "quotas": [{"bucket": BUCKET}]}]},
        },
    ]
    return props(grants=charged, quotas=quotas or {BUCKET: QUOTA})


def test_create_writes_the_declared_buckets_and_keeps_the_others(
    provider: ApertureConfigProvider, gateway: Gateway
) -> None:
    outs = provider.create(budgeted()).outs or {}
    quotas = gateway.document()["quotas"]
    assert (quotas, outs["quotas"]) == (
        {"daily": {"capacity": "$10.00", "rate": "$5.00/day"}, BUCKET: QUOTA},
        {BUCKET: QUOTA},
    )
    assert '"daily": { "capacity": "$10.00",   "rate": "$5.00/day" }' in gateway.backend.stored_text


def test_update_drops_the_buckets_it_no_longer_declares_only(
    provider: ApertureConfigProvider, gateway: Gateway
) -> None:
    olds = provider.create(budgeted()).outs or {}
    provider.update("id", olds, props())
    assert gateway.document()["quotas"] == {"daily": {"capacity": "$10.00", "rate": "$5.00/day"}}


def test_delete_removes_the_owned_buckets_and_the_grants_that_name_them(
    provider: ApertureConfigProvider, gateway: Gateway
) -> None:
    outs = provider.create(budgeted()).outs or {}
    provider.delete("id", outs)
    document = gateway.document()
    assert (document["quotas"], document["grants"]) == (
        {"daily": {"capacity": "$10.00", "rate": "$5.00/day"}},
        [{"src": [ADMIN], "app": {CAP: [{"role": "admin"}]}}],
    )


def test_read_reports_a_bucket_changed_by_hand(provider: ApertureConfigProvider, gateway: Gateway) -> None:
    outs = provider.create(budgeted()).outs or {}
    document = gateway.document()
    document["quotas"][BUCKET]["capacity"] = "$99.00"
    gateway.backend.replace_document(json.dumps(document))
    read = provider.read("id", outs).outs or {}
    assert read["quotas"] == {BUCKET: {**QUOTA, "capacity": "$99.00"}}
