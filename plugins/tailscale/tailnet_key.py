"""`tailscale:index/tailnetKey:TailnetKey`: an auth key.

Upstream: terraform-provider-tailscale v0.29.2 `tailscale/resource_tailnet_key.go` (cited by line
below), tailscale-client-go v2.9.0 `keys.go:93-129,183-223`.

- Inputs `reusable`, `ephemeral`, `preauthorized` (false), `tags` (a set, `[]`), `description`
  (`""`, at most 50 bytes), `expiry` (seconds; optional and computed), `recreateIfInvalid` (`""`,
  `always`, `never`; optional), `userId` (optional and computed). Outputs add `key` (secret),
  `createdAt`, `expiresAt` (RFC3339, whole seconds), `invalid`. id = the API's key id.
- Diff: a change of reusable, ephemeral, tags, preauthorized, expiry or description replaces the
  key; recreateIfInvalid and userId update in place. A stored `invalid` key (found by a refresh) is
  replaced when `recreateIfInvalid` is `always`, or unset and the key reusable (`:216-229,317-344`).
- Create (`:161-199`): POST `keys`; the state is the plan with id, key, createdAt, expiresAt,
  expiry, invalid and userId taken from the answer; reusable, ephemeral, preauthorized, tags and
  description stay as planned.
- Read (`:231-280`): GET `keys/{id}`; a 404 keeps the state with `invalid` true; anything but an
  auth key is an error; else every field from the answer.
- Update (`:282-315`): GET `keys/{id}`; the plan with invalid, createdAt, expiresAt, description
  and userId from the answer (expiry stays as planned). On a 404 upstream dereferences the nil key
  and the plugin process dies (Go panic); this build dies the same way (`GoPanic`, panic.py).
- Delete (`:201-214`): DELETE, a 404 ignored.
- Errors name the id as Go's `%q` of a framework string prints it: `"\\"<id>\\""`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plugins.tailscale.client import Reply, TailscaleAPI
from plugins.tailscale.errors import (
    ClientError,
    GoPanic,
    ProviderError,
    check_failure_reason,
    is_not_found,
)
from plugins.tailscale.gojson import field
from plugins.tailscale.golang import quote, rfc3339
from plugins.tailscale.resource import Diff, Failure, ReadResult, Resource, bool_input, differs
from plugins.wire import UNKNOWN, Props, has_unknown, secret

TOKEN = "tailscale:index/tailnetKey:TailnetKey"
REPLACING = ("reusable", "ephemeral", "tags", "preauthorized", "expiry", "description")
"""Inputs whose change replaces the key (RequiresReplace upstream)."""
IN_PLACE = ("recreateIfInvalid", "userId")
INPUTS = (*REPLACING, *IN_PLACE)
RECREATE_CHOICES = ("", "always", "never")
MAX_DESCRIPTION_BYTES = 50
"""`stringvalidator.LengthAtMost(50)` (`:131`), which counts bytes."""
UPDATE_PANIC = GoPanic(
    "runtime error: invalid memory address or nil pointer dereference",
    "github.com/tailscale/terraform-provider-tailscale/tailscale.(*tailnetKeyResource).Update(...)\n"
    "\tgithub.com/tailscale/terraform-provider-tailscale@v0.29.2/tailscale/resource_tailnet_key.go:300",
)
"""`resource_tailnet_key.go:290-300`: a 404 leaves `key` nil and `key.KeyType` is read anyway."""


@dataclass(frozen=True)
class Key:
    """A `tailscale.Key` as `json.Unmarshal` fills it (`keys.go:93-113`), times already RFC3339."""

    id: str
    key_type: str
    key: str
    description: str
    expiry: int | None
    created_at: str
    expires_at: str
    invalid: bool
    reusable: bool
    ephemeral: bool
    preauthorized: bool
    tags: list[str] | None
    user_id: str


def _get(document: Any, *names: str) -> Any:
    for name in names:
        document = field(document, name) if isinstance(document, dict) else None
    return document


def decode_key(reply: Reply) -> Key:
    """The answer as a `Key`; a time Go cannot parse is the decoding error Go reports."""
    document = reply.decode()
    create = ("capabilities", "devices", "create")
    expiry = _get(document, "expirySeconds")
    try:
        created, expires = rfc3339(_get(document, "created")), rfc3339(_get(document, "expires"))
    except ValueError as exc:
        raise ClientError(str(exc)) from None
    tags = _get(document, *create, "tags")
    return Key(
        id=str(_get(document, "id") or ""),
        key_type=str(_get(document, "keyType") or ""),
        key=str(_get(document, "key") or ""),
        description=str(_get(document, "description") or ""),
        expiry=None if expiry is None else int(expiry),
        created_at=created,
        expires_at=expires,
        invalid=bool(_get(document, "invalid")),
        reusable=bool(_get(document, *create, "reusable")),
        ephemeral=bool(_get(document, *create, "ephemeral")),
        preauthorized=bool(_get(document, *create, "preauthorized")),
        tags=None if tags is None else [str(tag) for tag in tags],
        user_id=str(_get(document, "userId") or ""),
    )


def _normal(key: str, value: Any) -> Any:
    """Tags are a set: order and duplicates do not count."""
    if key == "tags" and isinstance(value, list) and not has_unknown(value):
        return sorted(set(value))
    return value


def should_recreate(state: Props, inputs: Props) -> bool:
    """`shouldRecreateIfInvalid` (`:221-229`) applied to the stored `invalid` flag (`:335-343`)."""
    if not state.get("invalid"):
        return False
    choice = inputs.get("recreateIfInvalid") or ""
    return choice == "always" or (choice == "" and bool(inputs.get("reusable")))


def _id_text(id: str) -> str:
    """`%q` of a `types.String`: its `String()` is already `%q`-quoted (framework `string_value.go`)."""
    return quote(quote(id))


def _key_type_error(key: Key) -> ProviderError:
    return ProviderError(
        f"Invalid key type '{key.key_type}'", "Only 'auth' keys are supported by this resource"
    )


def _check_failures(name: str, inputs: Props) -> list[Failure]:
    """The attribute validators (`:130-132,143-149`), worded by the framework's `validatordiag`."""
    failures: list[Failure] = []
    description = inputs.get("description")
    if isinstance(description, str) and len(description.encode()) > MAX_DESCRIPTION_BYTES:
        detail = (
            f"Attribute description string length must be at most {MAX_DESCRIPTION_BYTES}, "
            f"got: {len(description.encode())}"
        )
        failures.append(
            Failure(check_failure_reason("Invalid Attribute Value Length", detail, name, "description"))
        )
    choice = inputs.get("recreateIfInvalid")
    if isinstance(choice, str) and choice not in RECREATE_CHOICES:
        detail = (
            f'Attribute recreate_if_invalid value must be one of: ["" "always" "never"], got: {quote(choice)}'
        )
        failures.append(
            Failure(check_failure_reason("Invalid Attribute Value Match", detail, name, "recreateIfInvalid"))
        )
    return failures


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
        return inputs, failures + _check_failures(name, inputs)

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
        planned = self._inputs(inputs)
        if preview:
            computed = dict.fromkeys(("key", "createdAt", "expiresAt", "invalid"), UNKNOWN)
            computed |= {key: UNKNOWN for key in ("expiry", "userId") if key not in inputs}
            return "", planned | computed
        body = {
            "capabilities": {
                "devices": {
                    "create": {
                        "reusable": bool(inputs.get("reusable")),
                        "ephemeral": bool(inputs.get("ephemeral")),
                        "tags": list(inputs.get("tags") or []),
                        "preauthorized": bool(inputs.get("preauthorized")),
                    }
                }
            },
            "expirySeconds": int(inputs.get("expiry") or 0),
            "description": str(inputs.get("description") or ""),
        }
        try:
            key = decode_key(api.call("POST", "keys", body=body))
        except ClientError as exc:
            raise ProviderError("Failed to create key", f"Error creating tailnet key: {exc}") from None
        return key.id, planned | {
            "key": secret(key.key),
            "createdAt": key.created_at,
            "expiresAt": key.expires_at,
            "expiry": key.expiry,
            "invalid": key.invalid,
            "userId": key.user_id,
        }

    def read(self, api: TailscaleAPI, id: str, state: Props, inputs: Props) -> ReadResult:
        try:
            key = decode_key(api.call("GET", "keys", id))
        except ClientError as exc:
            if not is_not_found(exc):
                raise ProviderError(
                    "Failed to fetch key", f"Error reading tailnet key with id {_id_text(id)}: {exc}"
                ) from None
            return ReadResult(id, self._with_secret_key(state) | {"invalid": True}, self._inputs(state))
        if key.key_type != "auth":
            raise _key_type_error(key)
        outputs = self._with_secret_key(state) | {
            "reusable": key.reusable,
            "ephemeral": key.ephemeral,
            "tags": [] if key.tags is None else key.tags,
            "preauthorized": key.preauthorized,
            "expiry": key.expiry,
            "createdAt": key.created_at,
            "expiresAt": key.expires_at,
            "description": key.description,
            "userId": key.user_id,
            "invalid": key.invalid,
        }
        read_inputs = self._inputs(outputs | {"recreateIfInvalid": inputs.get("recreateIfInvalid")})
        return ReadResult(key.id, outputs, read_inputs)

    def update(self, api: TailscaleAPI, id: str, state: Props, inputs: Props, preview: bool) -> Props:
        planned = self.planned(state, inputs)
        if preview:
            return planned
        try:
            key = decode_key(api.call("GET", "keys", id))
        except ClientError as exc:
            if is_not_found(exc):
                raise UPDATE_PANIC from None
            raise ProviderError(
                "Failed to fetch key", f"Error reading tailnet key with id {_id_text(id)}: {exc}"
            ) from None
        if key.key_type != "auth":
            raise _key_type_error(key)
        return planned | {
            "invalid": key.invalid,
            "createdAt": key.created_at,
            "expiresAt": key.expires_at,
            "description": key.description,
            "userId": key.user_id,
        }

    def delete(self, api: TailscaleAPI, id: str, state: Props) -> None:
        try:
            api.call("DELETE", "keys", id)
        except ClientError as exc:
            if not is_not_found(exc):
                raise ProviderError(
                    "Failed to delete key", f"Error deleting tailnet key with id {_id_text(id)}: {exc}"
                ) from None

    def planned(self, state: Props, inputs: Props) -> Props:
        """The planned state of an update: the inputs, and the stored value of what is computed."""
        planned = self._with_secret_key(state)
        planned.pop("recreateIfInvalid", None)
        planned |= self._inputs(inputs)
        return planned

    @staticmethod
    def _inputs(values: Props) -> Props:
        return {key: values[key] for key in INPUTS if values.get(key) is not None}

    @staticmethod
    def _with_secret_key(state: Props) -> Props:
        outputs = dict(state)
        if outputs.get("key") is not None:
            outputs["key"] = secret(outputs["key"])
        return outputs
