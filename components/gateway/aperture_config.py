"""`ApertureConfig`: a Pulumi dynamic resource that manages part of an Aperture gateway's config.

Token `pulumi-python:dynamic/aperture:Config`. The resource owns the providers and the quota buckets
it declares and the whole `grants` list (a new instance lets everyone be admin, so leaving grants
alone would leave that in force); every other part of the document stays byte for byte (docs/architecture.md §6). The HTTP client
(`aperture_client`) and the document merge (`aperture_merge`) are pure modules; this one only holds
the inputs, the provider and the resource.

Writes follow gitops-pusher: GET (ETag) -> merge -> POST `:validate` -> PUT with `If-Match`; a 412
re-reads and re-merges, at most `MAX_ATTEMPTS` times, with a jittered wait between rounds. 403 and 422 become errors quoting Aperture's
messages item by item.

API keys: Aperture's GET redacts them, so the resource never writes back a key it did not set. Owned
providers are written from the inputs (their own `apikey`, or none); other providers' text is not
touched. A key cannot be read back, so a key changed out of band is not seen as drift. The
`providers` output echoes the inputs (with keys) and is always secret.

`delete` removes the owned providers and buckets and, because the grants list is owned too, replaces it with
the admin grants found in it at delete time, each reduced to `{"role": "admin"}` for the same
`src`: user grants and model patterns go (they may name the providers just removed, which Aperture
would reject), but whoever administered the gateway still does, so the instance is not locked out.
It does not bring back the new-instance default (`*` admin), which would open the gateway to all.

Dill: nothing is captured at construction except the class; the gateway URL is read at run time in
`configure` (stack config `sovereign-ai:gateway`, a JSON object with `url`, default `http://ai`),
and `SOVEREIGN_AI_GATEWAY_URL` overrides it in every call; an HTTP client is built in each method.
`SOVEREIGN_AI_IDENTITY` (sandbox only) is sent as `X-Sandbox-Identity`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi.dynamic
from pulumi.output import Unknown
from pulumi.runtime import rpc

from components.gateway.aperture_client import (
    ApertureClient,
    ApertureConflictError,
    ApertureRejectedError,
    ConfigSnapshot,
    gateway_url_from_config,
    resolve_settings,
)
from components.gateway.aperture_merge import (
    UNKNOWN,
    DesiredConfig,
    changed_inputs,
    input_failures,
    merge,
    same_except_keys,
    unmerge,
    view,
)

MAX_ATTEMPTS = 5
"""GET -> PUT rounds before giving up on a config that keeps changing (412)."""

BACKOFF_SECONDS = 0.2
"""Before round n (from the second), a random wait of up to BACKOFF_SECONDS * 2**(n-1): writers that
collided once do not collide again in lockstep (make bench, figure 5: 4 concurrent writers)."""


def _rounds() -> Iterator[int]:
    """Round numbers for a read-merge-write loop, with a jittered, growing wait between rounds."""
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, BACKOFF_SECONDS * 2 ** (attempt - 1)))
        yield attempt


class ApertureConfigArgs(TypedDict):
    """Inputs of `ApertureConfig`."""

    providers: pulumi.Input[Mapping[str, Any]]
    """Provider id -> `{baseurl, models: [...], apikey?, compatibility?...}`; baseurl without `/v1`.
    `apikey` should be a secret; omit it for a provider without auth."""

    grants: pulumi.Input[Sequence[Any]]
    """The whole Aperture grants list, in Aperture's shape
    (`{"src": [...], "app": {"tailscale.com/cap/aperture": [{"role": ...}, {"models": ...}]}}`)."""

    quotas: NotRequired[pulumi.Input[Mapping[str, Any]] | None]
    """Bucket name -> `{capacity, rate, on_exceed}`: the quota buckets the grants reference
    (`config.quota_buckets`); owned like the providers, every other bucket is left alone."""

    environment: NotRequired[pulumi.Input[str] | None]
    """The stack's environment name, echoed in outputs (dynamic providers cannot ask the stack)."""


class ApertureConfigProvider(pulumi.dynamic.ResourceProvider):
    """CRUD for the owned parts of an Aperture config document, over the admin config API."""

    def __init__(self) -> None:
        super().__init__()
        self._config_url: str | None = None

    def configure(self, req: pulumi.dynamic.ConfigureRequest) -> None:
        """Read the gateway URL from stack config `sovereign-ai:gateway` (run time, not captured)."""
        self._config_url = gateway_url_from_config(req.config)

    def _client(self) -> ApertureClient:
        return ApertureClient(resolve_settings(getattr(self, "_config_url", None)))

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        """Reject a baseurl ending in /v1, a provider without models, a grant without a role."""
        failures = [pulumi.dynamic.CheckFailure(f.property, f.reason) for f in input_failures(_plain(news))]
        return pulumi.dynamic.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        """Compare the real inputs only (never `__provider`); nothing forces a replacement."""
        changed = changed_inputs(olds, news)
        return pulumi.dynamic.DiffResult(
            changes=bool(changed), replaces=[], stables=[], delete_before_replace=False
        )

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        """Merge the owned providers and grants into the live document."""
        desired = DesiredConfig.from_props(props)
        client = self._client()
        outs = self._write(client, desired, drop=(set(), set()), previous_keys={})
        return pulumi.dynamic.CreateResult(f"{client.settings.url}/aperture/config", outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        """Re-merge; drop providers no longer declared; no PUT when nothing changed. Full outs."""
        desired = DesiredConfig.from_props(news)
        previous = DesiredConfig.from_props(olds)
        outs = self._write(
            self._client(),
            desired,
            drop=(set(previous.providers), set(previous.quotas)),
            previous_keys=previous.api_keys(),
        )
        return pulumi.dynamic.UpdateResult(outs)

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        """Report the live state of the owned parts (drift) with full outs; keys cannot be read."""
        desired = DesiredConfig.from_props(props)
        snapshot = self._client().get_config()
        live = view(snapshot.text, desired.providers, desired.quotas)
        providers: dict[str, dict[str, Any]] = {}
        for provider_id, provider in live.providers.items():
            own_key = desired.providers[provider_id].get("apikey")
            if "apikey" in provider and own_key:
                provider["apikey"] = own_key
            providers[provider_id] = provider
        outs = {
            "providers": providers,
            "grants": live.grants,
            "quotas": live.quotas,
            "environment": desired.environment,
            "effective_grants": live.grants,
            "provider_names": live.provider_names,
            "etag": snapshot.etag,
        }
        return pulumi.dynamic.ReadResult(id_, outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Remove the owned providers; keep only the admin grants (see the module docstring)."""
        desired = DesiredConfig.from_props(props)
        client = self._client()
        for _ in _rounds():
            snapshot = client.get_config()
            text = unmerge(snapshot.text, desired.providers, desired.quotas)
            if text == snapshot.text:
                return
            if self._save(client, text, snapshot) is not None:
                return
        raise _gave_up()

    def _write(
        self,
        client: ApertureClient,
        desired: DesiredConfig,
        drop: tuple[set[str], set[str]],
        previous_keys: dict[str, str],
    ) -> dict[str, Any]:
        """Merge and save; `drop`: the providers and the buckets owned before (update)."""
        keys_unchanged = all(previous_keys.get(pid) == key for pid, key in desired.api_keys().items())
        for _ in _rounds():
            snapshot = client.get_config()
            text = merge(snapshot.text, desired, *drop)
            if keys_unchanged and same_except_keys(text, snapshot.text, desired.providers):
                return _outs(desired, snapshot)
            saved = self._save(client, text, snapshot)
            if saved is not None:
                return _outs(desired, saved)
        raise _gave_up()

    @staticmethod
    def _save(client: ApertureClient, text: str, snapshot: ConfigSnapshot) -> ConfigSnapshot | None:
        """Validate then PUT with If-Match; None on 412 (the caller re-reads and re-merges)."""
        problems = client.validate(text)
        if problems:
            raise ApertureRejectedError("Aperture rejected the config", 422, problems)
        try:
            return client.put_config(text, snapshot.etag)
        except ApertureConflictError:
            return None


def _gave_up() -> ApertureConflictError:
    return ApertureConflictError(
        f"Aperture's config changed between read and write {MAX_ATTEMPTS} times in a row (412 "
        "Precondition Failed each time): another writer (the dashboard, another stack) is editing "
        "it; run again once it is idle",
        412,
        [],
    )


def _outs(desired: DesiredConfig, snapshot: ConfigSnapshot) -> dict[str, Any]:
    live = view(snapshot.text, desired.providers, desired.quotas)
    return {
        "providers": desired.providers,
        "grants": desired.grants,
        "quotas": desired.quotas,
        "environment": desired.environment,
        "effective_grants": live.grants,
        "provider_names": live.provider_names,
        "etag": snapshot.etag,
    }


def _plain(value: Any) -> Any:
    """Inputs as `check` validates them: preview unknowns as the UNKNOWN sentinel, secrets unwrapped.

    The dynamic provider host deserializes with unknowns kept (`rpc.Unknown` objects) and marks a
    container holding a secret as a secret itself; the pure validation speaks plain values only.
    """
    if isinstance(value, Unknown):
        return UNKNOWN
    if rpc.is_rpc_secret(value):
        return _plain(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class ApertureConfig(pulumi.dynamic.Resource, module="aperture", name="Config"):
    """The owned providers and the grants of one Aperture gateway's config document."""

    providers: pulumi.Output[dict[str, Any]]
    """The declared providers, as given (secret: they carry API keys)."""

    grants: pulumi.Output[list[Any]]
    """The declared grants list."""

    quotas: pulumi.Output[dict[str, Any]]
    """The declared quota buckets."""

    environment: pulumi.Output[str | None]
    """The environment name given as input."""

    effective_grants: pulumi.Output[list[Any]]
    """The grants list read back from Aperture after the write."""

    provider_names: pulumi.Output[list[str]]
    """Every provider id in the document after the write (owned or not)."""

    etag: pulumi.Output[str]
    """The document's ETag after the write."""

    def __init__(
        self, name: str, args: ApertureConfigArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {
            "providers": args["providers"],
            "grants": args["grants"],
            "quotas": args.get("quotas") or {},
            "environment": args.get("environment"),
            "effective_grants": None,
            "provider_names": None,
            "etag": None,
        }
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["providers"])
        )
        super().__init__(ApertureConfigProvider(), name, props, opts)
