"""DNS and tailnet settings of the emulated tailnet (`/dns/...`, `/settings`).

MagicDNS starts on, with no nameservers; removing every nameserver does not turn MagicDNS off and
enabling MagicDNS does not require one. Nameservers are not checked to be addresses. Settings PATCH
treats `null` as unchanged and refuses unknown fields (`json: unknown field "x"`) and wrong types
(emulator wording). Split DNS and DNS configuration are not emulated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from sandbox.tailscale import errors
from sandbox.tailscale.auth import Credentials
from sandbox.tailscale.base import bool_field, locked, object_body, string_list_field

SETTINGS_DEFAULTS: Mapping[str, Any] = {
    "aclsExternallyManagedOn": False,
    "aclsExternalLink": "",
    "devicesApprovalOn": False,
    "devicesAutoUpdatesOn": False,
    "devicesKeyDurationDays": 180,
    "usersApprovalOn": False,
    "usersRoleAllowedToJoinExternalTailnets": "member",
    "networkFlowLoggingOn": False,
    "regionalRoutingOn": False,
    "postureIdentityCollectionOn": False,
    "httpsEnabled": False,
}
"""A new tailnet's settings (GET /tailnet/{t}/settings)."""

DNS_LISTS = {"dns": "nameservers", "searchPaths": "search_paths"}
"""The DNS lists: body field -> attribute of the state."""


class SettingsStore(Credentials):
    """MagicDNS, nameservers, search paths and the tailnet settings (see the module docstring)."""

    def _setup(self) -> None:
        super()._setup()
        self.magic_dns = True
        self.nameservers: list[str] = []
        """In the order they were set."""
        self.search_paths: list[str] = []
        self.settings: dict[str, Any] = dict(SETTINGS_DEFAULTS)

    @locked
    def dns_preferences(self) -> dict[str, Any]:
        """`GET /dns/preferences`."""
        return {"magicDNS": self.magic_dns}

    @locked
    def set_dns_preferences(self, body: Any) -> dict[str, Any]:
        """`POST /dns/preferences` `{"magicDNS": bool}`."""
        self.magic_dns = bool_field(object_body(body), "magicDNS")
        return self.dns_preferences()

    def _dns_list(self, field: str) -> dict[str, Any]:
        with self.lock:
            return {field: list(getattr(self, DNS_LISTS[field]))}

    def _set_dns_list(self, field: str, body: Any) -> dict[str, Any]:
        with self.lock:
            setattr(self, DNS_LISTS[field], string_list_field(object_body(body), field))
            return self._dns_list(field)

    def dns_nameservers(self) -> dict[str, Any]:
        """`GET /dns/nameservers`, in the order they were set."""
        return self._dns_list("dns")

    def set_dns_nameservers(self, body: Any) -> dict[str, Any]:
        """`POST /dns/nameservers` `{"dns": [...]}`; replies `{"dns", "magicDNS"}`."""
        with self.lock:
            return {**self._set_dns_list("dns", body), "magicDNS": self.magic_dns}

    def dns_search_paths(self) -> dict[str, Any]:
        """`GET /dns/searchpaths`."""
        return self._dns_list("searchPaths")

    def set_dns_search_paths(self, body: Any) -> dict[str, Any]:
        """`POST /dns/searchpaths` `{"searchPaths": [...]}`."""
        return self._set_dns_list("searchPaths", body)

    @locked
    def get_settings(self) -> dict[str, Any]:
        """`GET /settings`."""
        return dict(self.settings)

    @locked
    def patch_settings(self, body: Any) -> dict[str, Any]:
        """`PATCH /settings`: `null` fields are unchanged; all or nothing."""
        changes: dict[str, Any] = {}
        for key, value in object_body(body).items():
            if key not in SETTINGS_DEFAULTS:
                raise errors.bad_request(f'json: unknown field "{key}"')
            if value is None:
                continue
            _check_setting(key, value)
            changes[key] = value
        self.settings.update(changes)
        return dict(self.settings)


def _check_setting(key: str, value: Any) -> None:
    default = SETTINGS_DEFAULTS[key]
    if isinstance(default, bool):
        ok = isinstance(value, bool)
        expected = "a boolean"
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 180
        expected = "an integer from 1 to 180"
    else:
        ok = isinstance(value, str)
        expected = "a string"
    if ok and key == "usersRoleAllowedToJoinExternalTailnets":
        ok = value in ("none", "member", "admin")
        expected = '"none", "member" or "admin"'
    if ok and key == "aclsExternalLink":
        ok = value == "" or re.match(r"^https?://", value) is not None
        expected = "an http:// or https:// URL"
    if not ok:
        raise errors.bad_request(f'invalid value for "{key}": expected {expected}, got {json.dumps(value)}')
