"""`tailscale:index/tailnetKey:TailnetKey`: an auth key.

Upstream: github.com/tailscale/terraform-provider-tailscale `tailscale/resource_tailnet_key.go`
(the version pulumi-tailscale 0.29.2 bridges).

- Inputs `reusable`, `ephemeral`, `preauthorized` (false), `tags` (a set, `[]`), `expiry` (seconds,
  optional and computed), `description` (`""`, at most 50 characters), `recreateIfInvalid` (`""`,
  `always`, `never`), `userId`. Outputs add `key` (secret), `createdAt`, `expiresAt`, `invalid`.
  id = the API's key id.
- Diff: a change of reusable, ephemeral, tags, preauthorized, expiry or description replaces the
  key; recreateIfInvalid and userId update in place. When the stored key is `invalid` (used,
  revoked, expired or deleted, as found by a refresh) and `recreateIfInvalid` is `always`, or unset
  and the key is reusable, the plan replaces it.
- Create: POST `keys`; Read: GET `keys/{id}` (404 keeps the state with `invalid=true`); Update: GET
  only (upstream then crashes on a deleted key; this build reports it); Delete: DELETE, 404 ignored.
"""

from __future__ import annotations

from typing import Any

from plugins.tailscale.client import TailscaleAPI
from plugins.tailscale.errors import APIError, ProviderError, check_failure_reason
from plugins.tailscale.resource import Diff, Failure, ReadResult, Resource, bool_input, differs
from plugins.wire import UNKNOWN, Props, has_unknown, secret

TOKEN = "tailscale:index/tailnetKey:TailnetKey"
REPLACING = ("reusable", "ephemeral", "tags", "preauthorized", "expiry", "description")
"""Inputs whose change replaces the key (RequiresReplace upstream)."""
IN_PLACE = ("recreateIfInvalid", "userId")
INPUTS = (*REPLACING, *IN_PLACE)
RECREATE_CHOICES = ("", "always", "never")
MAX_DESCRIPTION = 50


def _normal(key: str, value: Any) -> Any:
    """Tags are a set: order and duplicates do not count."""
    if key == "tags" and isinstance(value, list) and not has_unknown(value):
        return sorted(set(value))
    return value


def should_recreate(state: Props, inputs: Props) -> bool:
    """Upstream's recreate-if-invalid rule, applied to the stored `invalid` flag."""
    if not state.get("invalid"):
        return False
    choice = inputs.get("recreateIfInvalid") or ""
    return choice == "always" or (choice == "" and bool(inputs.get("reusable")))


def _from_api(document: dict[str, Any]) -> Props:
    create = (((document.get("capabilities") or {}).get("devices") or {}).get("create")) or {}
    return {
        "reusable": bool(create.get("reusable", False)),
        "ephemeral": bool(create.get("ephemeral", False)),
        "preauthorized": bool(create.get("preauthorized", False)),
        "tags": list(create.get("tags") or []),
        "expiry": int(document.get("expirySeconds") or 0),
        "description": str(document.get("description") or ""),
        "userId": str(document.get("userId") or ""),
        "createdAt": str(document.get("created") or ""),
        "expiresAt": str(document.get("expires") or ""),
        "invalid": bool(document.get("invalid", False)),
    }


class TailnetKey(Resource):
    """A tagged (or untagged) auth key; see the module docstring for upstream's rules."""

    token = TOKEN

    def check(self, name: str, news: Props) -> tuple[Props, list[Failure]]:
        inputs = dict(news)
        failures: list[Failure] = []
        for flag in ("reusable", "ephemeral", "preauthorized"):
            bool_input(inputs, flag, name, failures)
        inputs.setdefault("tags", [])
        inputs.setdefault("description", "")
        description = inputs["description"]
        if isinstance(description, str) and len(description) > MAX_DESCRIPTION:
            summary = f"Attribute description string length must be at most {MAX_DESCRIPTION}, got: {len(description)}"
            failures.append(Failure("description", check_failure_reason(summary, "", name, "description")))
        choice = inputs.get("recreateIfInvalid")
        if choice is not None and not has_unknown(choice) and choice not in RECREATE_CHOICES:
            summary = (
                f'Attribute recreate_if_invalid value must be one of: ["" "always" "never"], got: "{choice}"'
            )
            failures.append(
                Failure("recreateIfInvalid", check_failure_reason(summary, "", name, "recreateIfInvalid"))
            )
        expiry = inputs.get("expiry")
        if expiry is not None and not has_unknown(expiry) and (not isinstance(expiry, int) or expiry < 0):
            summary = f"Attribute expiry must be a non-negative number of seconds, got: {expiry!r}"
            failures.append(Failure("expiry", check_failure_reason(summary, "", name, "expiry")))
        return inputs, failures

    def diff(self, state: Props, inputs: Props) -> Diff:
        diff = Diff()
        for key in INPUTS:
            if key not in inputs and key in ("expiry", "userId"):
                continue  # optional and computed: an unset input keeps the stored value
            old = state.get(key, "" if key in ("recreateIfInvalid", "description") else None)
            new = inputs.get(key, "" if key == "recreateIfInvalid" else None)
            if differs(_normal(key, old), _normal(key, new)):
                diff.add(key, replace=key in REPLACING)
        if should_recreate(state, inputs):
            diff.add("invalid", replace=True)
        return diff

    def create(self, api: TailscaleAPI, inputs: Props, preview: bool) -> tuple[str, Props]:
        if preview:
            computed = dict.fromkeys(("key", "createdAt", "expiresAt", "invalid"), UNKNOWN)
            computed |= {key: UNKNOWN for key in ("expiry", "userId") if key not in inputs}
            return "", self._inputs(inputs) | computed
        body = {
            "capabilities": {
                "devices": {
                    "create": {
                        "reusable": inputs["reusable"],
                        "ephemeral": inputs["ephemeral"],
                        "tags": inputs.get("tags") or [],
                        "preauthorized": inputs["preauthorized"],
                    }
                }
            },
            "expirySeconds": inputs.get("expiry") or 0,
            "description": inputs.get("description") or "",
        }
        try:
            document = api.call("POST", api.tailnet_path("keys"), body, idempotent=False).json()
        except APIError as exc:
            raise ProviderError("Failed to create key", f"Error creating tailnet key: {exc}") from None
        outputs = self._inputs(inputs) | _from_api(document) | {"key": secret(str(document.get("key", "")))}
        return str(document["id"]), outputs

    def read(self, api: TailscaleAPI, id: str, state: Props, inputs: Props) -> ReadResult:
        try:
            document = api.call("GET", api.tailnet_path("keys", id)).json()
        except APIError as exc:
            if exc.status != 404:
                raise ProviderError("Failed to fetch key", str(exc)) from None
            outputs = self._with_secret_key(state) | {"invalid": True}
            return ReadResult(id, outputs, self._inputs(state))
        key_type = document.get("keyType")
        if key_type not in (None, "auth"):
            raise ProviderError(
                f"Invalid key type '{key_type}'",
                f"key {id} is a '{key_type}' key; tailscale_tailnet_key manages auth keys only",
            )
        outputs = self._with_secret_key(state) | _from_api(document)
        outputs["recreateIfInvalid"] = state.get("recreateIfInvalid")
        return ReadResult(
            id, outputs, self._inputs(outputs | {"recreateIfInvalid": inputs.get("recreateIfInvalid")})
        )

    def update(self, api: TailscaleAPI, id: str, state: Props, inputs: Props, preview: bool) -> Props:
        outputs = self._with_secret_key(state) | self._inputs(inputs)
        for key in ("expiry", "userId"):
            if key not in inputs:
                outputs[key] = state.get(key)
        if preview:
            return outputs
        try:
            document = api.call("GET", api.tailnet_path("keys", id)).json()
        except APIError as exc:
            raise ProviderError("Failed to fetch key", str(exc)) from None
        fresh = _from_api(document)
        return outputs | {
            key: fresh[key] for key in ("createdAt", "expiresAt", "invalid", "userId", "expiry")
        }

    def delete(self, api: TailscaleAPI, id: str, state: Props) -> None:
        try:
            api.call("DELETE", api.tailnet_path("keys", id))
        except APIError as exc:
            if exc.status != 404:
                raise ProviderError("Failed to delete key", str(exc)) from None

    @staticmethod
    def _inputs(values: Props) -> Props:
        return {key: values[key] for key in INPUTS if values.get(key) is not None}

    @staticmethod
    def _with_secret_key(state: Props) -> Props:
        outputs = dict(state)
        if outputs.get("key") is not None:
            outputs["key"] = secret(outputs["key"])
        return outputs
