"""Auth keys of the emulated tailnet (`/keys`) and the join that consumes them (`tailscale up`).

- **Auth keys.** `expirySeconds` 0 or absent means 7776000 (90 days); no maximum and no description
  length are enforced. Tags must be defined in `tagOwners` (the API key acts as an admin, who may
  apply every defined tag). Keys made with an OAuth token must carry tags: either exactly the
  client's tag set or tags owned (in `tagOwners`) by one of the client's tags, which matches the SaaS
  behaviour users report (tailscale/terraform-provider-tailscale#437, tailscale/tailscale#12402).
  A key is `invalid` once expired, or once used if single-use. Deleted keys are gone (404).
- **Join** (`consume`, used by the emulated `tailscale up --auth-key`): the device carries the key's
  tags (or `advertise_tags`, each of which must be one of the key's tags, owned by one, or any
  defined tag for an untagged key) and is registered as devices.py describes. Errors are
  `errors.JoinError`, worded as the CLI prints them: `backend error: invalid key: unable to validate
  API key` (not a `tskey-auth-` key), `... API key does not exist` (unknown or deleted), `... API key
  <id> not valid` (used single-use or expired), `backend error: requested tags [...] are invalid or
  not permitted`.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sandbox.tailscale import errors
from sandbox.tailscale.auth import Identity
from sandbox.tailscale.base import bool_field, locked, object_body, random_id, string_list_field, timestamp
from sandbox.tailscale.devices import Device, DeviceStore

DEFAULT_KEY_EXPIRY_SECONDS = 7776000
"""Auth key lifetime when `expirySeconds` is 0 or absent (90 days)."""


@dataclass
class AuthKey:
    """An auth key (`keyType: auth`): its secret, capabilities and how often it was used."""

    id: str
    secret: str
    created: float
    expiry_seconds: int
    reusable: bool
    ephemeral: bool
    preauthorized: bool
    tags: tuple[str, ...]
    description: str
    user_id: str
    uses: int = 0

    @property
    def expires(self) -> float:
        """When the key stops working (epoch seconds)."""
        return self.created + self.expiry_seconds

    def invalid(self, now: float) -> bool:
        """Expired, or a single-use key already used."""
        return now >= self.expires or (not self.reusable and self.uses > 0)

    def to_dict(self, now: float, with_secret: bool = False) -> dict[str, Any]:
        """The API's key object; the secret `key` only in the create response."""
        document: dict[str, Any] = {"id": self.id}
        if with_secret:
            document["key"] = self.secret
        document.update(
            {
                "keyType": "auth",
                "created": timestamp(self.created),
                "expires": timestamp(self.expires),
                "expirySeconds": self.expiry_seconds,
                "capabilities": {
                    "devices": {
                        "create": {
                            "reusable": self.reusable,
                            "ephemeral": self.ephemeral,
                            "preauthorized": self.preauthorized,
                            "tags": list(self.tags),
                        }
                    }
                },
                "description": self.description,
                "invalid": self.invalid(now),
                "userId": self.user_id,
            }
        )
        return document


class KeyStore(DeviceStore):
    """The tailnet's auth keys, by id, and the join (see the module docstring)."""

    def _setup(self) -> None:
        super()._setup()
        self.keys: dict[str, AuthKey] = {}

    @locked
    def create_key(self, identity: Identity, body: Any) -> dict[str, Any]:
        """`POST /keys`: a new auth key, with its secret `key` (the only time it is shown)."""
        body = object_body(body)
        capabilities = object_body(body.get("capabilities") or {})
        devices = object_body(capabilities.get("devices") or {})
        create = object_body(devices.get("create") or {})
        tags = string_list_field(create, "tags")
        if identity.client is not None and not tags:
            raise errors.tags_not_permitted([])
        bad = self.unpermitted_tags(tags, identity.client.tags if identity.client else ())
        if bad:
            raise errors.tags_not_permitted(bad)
        expiry = body.get("expirySeconds") or 0
        if not isinstance(expiry, int) or isinstance(expiry, bool) or expiry < 0:
            raise errors.bad_request('invalid request body: "expirySeconds" must be a non-negative integer')
        description = body.get("description") or ""
        if not isinstance(description, str):
            raise errors.bad_request('invalid request body: "description" must be a string')
        key_id = f"k{random_id(10)}CNTRL"
        key = AuthKey(
            id=key_id,
            secret=f"tskey-auth-{key_id}-{random_id(32)}",
            created=self.clock(),
            expiry_seconds=expiry or DEFAULT_KEY_EXPIRY_SECONDS,
            reusable=bool_field(create, "reusable", False),
            ephemeral=bool_field(create, "ephemeral", False),
            preauthorized=bool_field(create, "preauthorized", False),
            tags=tuple(dict.fromkeys(tags)),
            description=description,
            user_id="" if identity.client is not None else self.user_id,
        )
        self.keys[key.id] = key
        return key.to_dict(self.clock(), with_secret=True)

    @locked
    def get_key(self, key_id: str) -> dict[str, Any]:
        """`GET /keys/{id}`: the key without its secret; 404 once deleted."""
        key = self.keys.get(key_id)
        if key is None:
            raise errors.not_found()
        return key.to_dict(self.clock())

    @locked
    def list_keys(self) -> dict[str, Any]:
        """`GET /keys`: every key not deleted (`?all=true` changes nothing: one user)."""
        now = self.clock()
        return {"keys": [key.to_dict(now) for key in self.keys.values()]}

    @locked
    def delete_key(self, key_id: str) -> None:
        """`DELETE /keys/{id}`; 404 when unknown."""
        if self.keys.pop(key_id, None) is None:
            raise errors.not_found()

    @locked
    def consume(self, key_secret: str, hostname: str, advertise_tags: Iterable[str] = ()) -> Device:
        """Join a device with an auth key, as `tailscale up --auth-key` does (see module doc)."""
        if not key_secret.startswith("tskey-auth-"):
            raise errors.join_malformed_key()
        key = next(
            (k for k in self.keys.values() if hmac.compare_digest(k.secret.encode(), key_secret.encode())),
            None,
        )
        if key is None:
            raise errors.join_unknown_key()
        if key.invalid(self.clock()):
            raise errors.join_invalid_key(key.id)
        requested = list(dict.fromkeys(advertise_tags))
        if requested:
            bad = self.unpermitted_tags(requested, key.tags, own=True)
            if bad:
                raise errors.join_tags_not_permitted(bad)
        tags = requested or list(key.tags)
        key.uses += 1
        return self.register(hostname, tags, key.preauthorized, key.ephemeral)
