"""Devices of the emulated tailnet: registration (the join's second half), listing, tags, routes.

- **Registration** (`register`, called by the join in keys.py): the device gets the next free
  address of `TAILNET_RANGE` (127.100.0.0/16: SANDBOX ONLY, Linux routes all of 127/8 to loopback,
  so services can bind these addresses without root, where a real tailnet uses 100.64.0.0/10),
  `name = <hostname>.sandbox.ts.net` (`-1`, `-2`, ... on a clash), `authorized` when the key is
  pre-authorized or device approval is off (Tailscale's rule; `devicesApprovalOn` defaults to
  false), key expiry disabled for tagged devices.
- **Representation.** Tagged devices report `user: "tagged-devices"`. List filters are exact
  matches on top-level fields of the full representation (booleans as `true`/`false`, list fields
  match when any element is equal, a repeated key is any-of, a filter on an unknown field matches
  nothing). Addresses are IPv4 only. Not emulated: posture attributes, device invites, external
  (shared-in) devices, ephemeral cleanup.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.tailscale import errors
from sandbox.tailscale.auth import Identity
from sandbox.tailscale.base import (
    MAGICDNS_SUFFIX,
    TAILNET_RANGE,
    bool_field,
    locked,
    object_body,
    random_id,
    string_list_field,
    timestamp,
)
from sandbox.tailscale.policy import PolicyStore

TAGGED_DEVICES_USER = "tagged-devices"
"""The `user` of a tagged device."""

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's zero time, which the API shows as `expires` of a device whose key never expires."""

_HOSTNAME_INVALID = re.compile(r"[^a-z0-9-]+")


@dataclass
class Device:
    """A device of the tailnet, as `GET /device/{id}` describes it."""

    id: str
    """Legacy numeric id (as a string)."""
    node_id: str
    """Preferred id, `n<random>CNTRL`."""
    hostname: str
    name: str
    """MagicDNS FQDN, `<hostname>.sandbox.ts.net`."""
    address: str
    """IPv4 in `TAILNET_RANGE`."""
    owner: str
    """The login that joined it (shown as `user` while untagged)."""
    tags: list[str]
    authorized: bool
    ephemeral: bool
    created: float
    key_expiry_disabled: bool
    key_duration_days: int
    machine_key: str
    node_key: str
    tailnet_lock_key: str
    advertised_routes: list[str] = field(default_factory=list)
    enabled_routes: list[str] = field(default_factory=list)
    os: str = "linux"
    client_version: str = "1.84.0-sandbox"

    def to_dict(self, all_fields: bool = False) -> dict[str, Any]:
        """The default field set, plus routes, connectivity and posture with `fields=all`."""
        expires = (
            ZERO_TIME
            if self.key_expiry_disabled
            else timestamp(self.created + self.key_duration_days * 86400)
        )
        document: dict[str, Any] = {
            "addresses": [self.address],
            "id": self.id,
            "nodeId": self.node_id,
            "user": TAGGED_DEVICES_USER if self.tags else self.owner,
            "name": self.name,
            "hostname": self.hostname,
            "clientVersion": self.client_version,
            "updateAvailable": False,
            "os": self.os,
            "created": timestamp(self.created),
            "lastSeen": None,
            "connectedToControl": True,
            "keyExpiryDisabled": self.key_expiry_disabled,
            "expires": expires,
            "authorized": self.authorized,
            "isExternal": False,
            "isEphemeral": self.ephemeral,
            "machineKey": self.machine_key,
            "nodeKey": self.node_key,
            "blocksIncomingConnections": False,
            "tags": list(self.tags),
            "tailnetLockError": "",
            "tailnetLockKey": self.tailnet_lock_key,
        }
        if all_fields:
            document.update(
                {
                    "enabledRoutes": list(self.enabled_routes),
                    "advertisedRoutes": list(self.advertised_routes),
                    "clientConnectivity": {
                        "endpoints": [f"{self.address}:41641"],
                        "mappingVariesByDestIP": False,
                        "latency": {},
                        "clientSupports": {
                            "hairPinning": False,
                            "ipv6": False,
                            "pcp": False,
                            "pmp": False,
                            "udp": True,
                            "upnp": False,
                        },
                    },
                    "postureIdentity": {"disabled": True},
                }
            )
        return document


def _filter_matches(value: Any, wanted: list[str]) -> bool:
    if isinstance(value, list):
        return any(_scalar_text(item) in wanted for item in value)
    return _scalar_text(value) in wanted


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


class DeviceStore(PolicyStore):
    """The tailnet's devices, by legacy numeric id (see the module docstring)."""

    def _setup(self) -> None:
        super()._setup()
        self.devices: dict[str, Device] = {}
        self._next_host = 1
        """Index in TAILNET_RANGE of the next device's address; see `first_address_index`."""
        self._next_device_id = 7000000000000001

    def first_address_index(self, index: int) -> None:
        """Start device addresses at `TAILNET_RANGE[index]`: two sandboxes running at once (each in
        its own process, on its own ports) must not hand out the same loopback address."""
        if not 1 <= index < TAILNET_RANGE.num_addresses - 256:
            raise ValueError(f"first_address_index: {index} is outside {TAILNET_RANGE}")
        self._next_host = index

    def register(self, hostname: str, tags: list[str], preauthorized: bool, ephemeral: bool) -> Device:
        """Add a device joining with a key (the caller holds the lock and has checked the key)."""
        label = _HOSTNAME_INVALID.sub("-", hostname.lower()).strip("-") or "device"
        taken = {device.name for device in self.devices.values()}
        name, suffix = f"{label}.{MAGICDNS_SUFFIX}", 0
        while name in taken:
            suffix += 1
            name = f"{label}-{suffix}.{MAGICDNS_SUFFIX}"
        address = str(TAILNET_RANGE[self._next_host])
        self._next_host += 1
        device_id = str(self._next_device_id)
        self._next_device_id += 1
        device = Device(
            id=device_id,
            node_id=f"n{random_id(10)}CNTRL",
            hostname=hostname,
            name=name,
            address=address,
            owner=self.user,
            tags=tags,
            authorized=preauthorized or not self.settings["devicesApprovalOn"],
            ephemeral=ephemeral,
            created=self.clock(),
            key_expiry_disabled=bool(tags),
            key_duration_days=int(self.settings["devicesKeyDurationDays"]),
            machine_key="mkey:" + secrets.token_hex(32),
            node_key="nodekey:" + secrets.token_hex(32),
            tailnet_lock_key="tlpub:" + secrets.token_hex(32),
        )
        self.devices[device.id] = device
        return device

    def _device(self, device_id: str) -> Device:
        device = self.devices.get(device_id)
        if device is None:
            device = next((d for d in self.devices.values() if d.node_id == device_id), None)
        if device is None:
            raise errors.not_found()
        return device

    @locked
    def list_devices(self, filters: Mapping[str, list[str]], all_fields: bool = False) -> dict[str, Any]:
        """`GET /tailnet/{t}/devices`: exact-match filters on top-level fields (see module doc)."""
        matched = []
        for device in self.devices.values():
            full = device.to_dict(all_fields=True)
            if all(key in full and _filter_matches(full[key], values) for key, values in filters.items()):
                matched.append(device.to_dict(all_fields))
        return {"devices": matched}

    @locked
    def get_device(self, device_id: str, all_fields: bool = False) -> dict[str, Any]:
        """`GET /device/{id}` by numeric id or nodeId; 404 otherwise."""
        return self._device(device_id).to_dict(all_fields)

    @locked
    def set_device_tags(self, identity: Identity, device_id: str, body: Any) -> None:
        """`POST /device/{id}/tags` `{"tags": [...]}`: tags must be defined in `tagOwners`."""
        device = self._device(device_id)
        tags = list(dict.fromkeys(string_list_field(object_body(body), "tags")))
        bad = self.unpermitted_tags(tags, identity.client.tags if identity.client else ())
        if bad:
            raise errors.tags_not_permitted(bad)
        device.tags = tags
        if tags:
            device.key_expiry_disabled = True

    @locked
    def set_device_authorized(self, device_id: str, body: Any) -> None:
        """`POST /device/{id}/authorized` `{"authorized": bool}`."""
        device = self._device(device_id)
        device.authorized = bool_field(object_body(body), "authorized")

    @locked
    def set_device_key(self, device_id: str, body: Any) -> None:
        """`POST /device/{id}/key` `{"keyExpiryDisabled": bool}`."""
        device = self._device(device_id)
        device.key_expiry_disabled = bool_field(object_body(body), "keyExpiryDisabled")

    @locked
    def device_routes(self, device_id: str) -> dict[str, Any]:
        """`GET /device/{id}/routes`."""
        device = self._device(device_id)
        return {
            "advertisedRoutes": list(device.advertised_routes),
            "enabledRoutes": list(device.enabled_routes),
        }

    @locked
    def set_device_routes(self, device_id: str, body: Any) -> dict[str, Any]:
        """`POST /device/{id}/routes` `{"routes": [...]}`: the enabled routes (CIDRs)."""
        device = self._device(device_id)
        routes = string_list_field(object_body(body), "routes")
        for route in routes:
            try:
                ipaddress.ip_network(route, strict=True)
            except ValueError:
                raise errors.bad_request(f'invalid route "{route}"') from None
        device.enabled_routes = routes
        return self.device_routes(device_id)

    @locked
    def advertise_routes(self, device_id: str, routes: Iterable[str]) -> None:
        """What `tailscale set --advertise-routes` reports to control (Python only)."""
        self._device(device_id).advertised_routes = list(routes)

    @locked
    def delete_device(self, device_id: str) -> None:
        """`DELETE /device/{id}`."""
        device = self._device(device_id)
        del self.devices[device.id]
