"""`ProviderRouting`: take one host's provider out of the gateway's routing, or put it back, on a roll.

Token `pulumi-python:dynamic/aperture:Routing`. A rolling update (docs/architecture.md §11) gives each
host of a group two of these: `<host>-drain` (`routed: false`) before its container is replaced and
`<host>-restore` (`routed: true`) after its readiness check. Both act only when their `revision`
changes, and `revision` is the container step's triggers, so they act exactly when the container is
replaced; `create` (a first deploy, a host joining a group) and `delete` change nothing, because the
gateway's `ApertureConfig` owns the providers and writes them all once the roll is done.

- **Drain** removes `providers.<id>` from the live document (GET, edit, validate, PUT with
  `If-Match`, as `ApertureConfig` writes). It first checks that another provider in the document
  serves one of the models this one serves now or will serve, and refuses otherwise, naming the
  model: the gateway is never left without a provider for a model that had one. The provider's
  object as it stood, its redacted `apikey` left out, is kept as the `entry` output.
- **Restore** writes `providers.<id>` back: the drain's `entry` (its `previous` input: whatever else
  the gateway config wrote there, such as pricing) overlaid with its `provider` input (what the host
  now serves: `baseurl`, `models`, key). The next gateway config write owns it again. `provider`,
  `previous` and `entry` are secret.

Aperture refuses a grant whose `models` pattern names no provider; `config.fleet.drain_problems`
refuses such grants before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi.dynamic

import hujson
from components.gateway.aperture_client import ApertureClient, ApertureError
from components.gateway.aperture_config import ApertureConfigProvider, _gave_up, _rounds
from components.gateway.aperture_merge import _remove_provider, _set_provider, render_provider

INPUT_KEYS = ("provider_id", "model_id", "routed", "revision", "provider", "previous")
OUTPUT_KEYS = (*INPUT_KEYS, "entry")


class ProviderRoutingArgs(TypedDict):
    """Inputs of `ProviderRouting`."""

    provider_id: str
    """The host's Aperture provider id (its name)."""

    model_id: str
    """The model id the host serves once its container is replaced."""

    routed: bool
    """False: the drain (take the provider out); True: the restore (put it back)."""

    revision: pulumi.Input[Sequence[Any]]
    """The container step's triggers: a change means the container is being replaced."""

    provider: NotRequired[pulumi.Input[Mapping[str, Any]] | None]
    """The provider entry the restore writes (secret: it carries the key); none for a drain."""

    previous: NotRequired[pulumi.Input[dict[str, Any] | None]]
    """For a restore: the drain's `entry`, the provider's object before the roll (no key)."""


class RoutingError(ApertureError):
    """A drain that would leave a model without a provider."""


def other_providers(text: str, provider_id: str, model_id: str) -> list[str]:
    """Providers of the document, other than `provider_id`, that serve `model_id` or a model that
    `provider_id` lists now."""
    providers = hujson.loads(text).get("providers") or {}
    own = providers.get(provider_id)
    own = own if isinstance(own, dict) else {}
    wanted = {model_id, *(own.get("models") or [])}
    return [
        pid
        for pid, provider in providers.items()
        if pid != provider_id and isinstance(provider, dict) and wanted & set(provider.get("models") or [])
    ]


def drained(text: str, provider_id: str, model_id: str) -> str:
    """`text` without `providers.<provider_id>`; RoutingError when no other provider serves its models."""
    providers = hujson.loads(text).get("providers") or {}
    if provider_id not in providers:
        return text
    if not other_providers(text, provider_id, model_id):
        models = ", ".join(sorted({model_id, *(providers[provider_id].get("models") or [])}))
        raise RoutingError(
            f"draining {provider_id}: no other provider in the gateway serves {models}, so taking "
            f"{provider_id} out of its routing would leave the model with no provider; bring the rest "
            "of its group back first (`make up` finishes a roll an earlier run left half done), or "
            f"set rollingUpdate: false on {provider_id} to replace it at once",
            None,
            [],
        )
    return _remove_provider(text, provider_id)


def live_entry(text: str, provider_id: str) -> dict[str, Any] | None:
    """The provider's object in the (redacted) document, without its `apikey`; None when absent."""
    provider = (hujson.loads(text).get("providers") or {}).get(provider_id)
    if not isinstance(provider, dict):
        return None
    return {key: value for key, value in provider.items() if key != "apikey"}


def restored(
    text: str, provider_id: str, provider: Mapping[str, Any], previous: Mapping[str, Any] | None = None
) -> str:
    """`text` with `providers.<provider_id>` written whole: `previous` overlaid with `provider`."""
    return _set_provider(text, provider_id, render_provider({**(previous or {}), **provider}))


class ProviderRoutingProvider(ApertureConfigProvider):
    """Drain or restore one provider; shares the gateway URL configuration and the save of
    `ApertureConfigProvider` (validate, then PUT with `If-Match`, re-read on 412)."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        """Nothing to refuse: the entry is `Gateway`'s, checked by `ApertureConfig`."""
        return pulumi.dynamic.CheckResult(news, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        """An update for any changed input (never `__provider`); never a replacement."""
        changed = [key for key in INPUT_KEYS if olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(
            changes=bool(changed), replaces=[], stables=[], delete_before_replace=False
        )

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        """Nothing to do: on a first deploy the gateway config writes every provider."""
        kind = "restore" if props.get("routed") else "drain"
        return pulumi.dynamic.CreateResult(f"{props['provider_id']}-{kind}", _outs(props, None))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        """Act when the container is being replaced (a new revision); otherwise only record."""
        entry = olds.get("entry")
        if olds.get("revision") != news.get("revision"):
            entry = self._apply(news) or entry
        return pulumi.dynamic.UpdateResult(_outs(news, entry))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        """Nothing to observe: the gateway config's own read reports a provider left out."""
        return pulumi.dynamic.ReadResult(id_, _outs(props, props.get("entry")))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to undo: the provider belongs to the gateway config."""

    def _apply(self, props: Mapping[str, Any]) -> dict[str, Any] | None:
        """Drain or restore; a drain returns the provider's object as it stood (None if already out)."""
        provider_id, model_id = str(props["provider_id"]), str(props["model_id"])
        client: ApertureClient = self._client()
        for _ in _rounds():
            snapshot = client.get_config()
            entry = None
            if props.get("routed"):
                provider, previous = dict(props.get("provider") or {}), props.get("previous")
                text = restored(snapshot.text, provider_id, provider, previous)
            else:
                entry = live_entry(snapshot.text, provider_id)
                text = drained(snapshot.text, provider_id, model_id)
                if text == snapshot.text:
                    return None
            if self._save(client, text, snapshot) is not None:
                return entry
        raise _gave_up()


def _outs(props: Mapping[str, Any], entry: Any) -> dict[str, Any]:
    return {**{key: props.get(key) for key in INPUT_KEYS}, "entry": entry}


class ProviderRouting(pulumi.dynamic.Resource, module="aperture", name="Routing"):
    """One host's provider in or out of the gateway's routing, switched when its container is replaced."""

    provider_id: pulumi.Output[str]
    routed: pulumi.Output[bool]
    revision: pulumi.Output[list[Any]]
    entry: pulumi.Output[dict[str, Any] | None]
    """A drain's: the provider's object before it went out of routing (without its key)."""

    def __init__(
        self, name: str, args: ProviderRoutingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {**{key: args.get(key) for key in INPUT_KEYS}, "entry": None}
        secret = pulumi.ResourceOptions(additional_secret_outputs=["provider", "previous", "entry"])
        super().__init__(ProviderRoutingProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret))
