"""`tailscale:index/dnsPreferences:DnsPreferences`: MagicDNS on or off.

Upstream: github.com/tailscale/terraform-provider-tailscale `tailscale/resource_dns_preferences.go`.

Input `magicDns` (required); id = a random UUID. Create and Update POST `dns/preferences`
`{"magicDNS": b}` (Update only on a change), Read GETs it (MagicDNS switched off by hand shows
as drift), Delete posts `{"magicDNS": false}`.
"""

from __future__ import annotations

from plugins.tailscale.client import TailscaleAPI
from plugins.tailscale.errors import APIError, ProviderError, check_failure_reason
from plugins.tailscale.resource import Diff, Failure, ReadResult, Resource, differs, new_id
from plugins.wire import Props, has_unknown

TOKEN = "tailscale:index/dnsPreferences:DnsPreferences"


def _set(api: TailscaleAPI, enabled: bool) -> None:
    try:
        api.call("POST", api.tailnet_path("dns", "preferences"), {"magicDNS": enabled}, idempotent=True)
    except APIError as exc:
        raise ProviderError("Failed to set dns preferences", str(exc)) from None


class DnsPreferences(Resource):
    """The tailnet's MagicDNS switch; see the module docstring."""

    token = TOKEN

    def check(self, name: str, news: Props) -> tuple[Props, list[Failure]]:
        inputs = dict(news)
        value = inputs.get("magicDns")
        if value is None:
            detail = 'The argument "magic_dns" is required, but no definition was found.'
            reason = check_failure_reason("Missing required argument", detail, name, "magicDns")
            return inputs, [Failure("magicDns", reason)]
        if not isinstance(value, bool) and not has_unknown(value):
            reason = check_failure_reason(
                f"Expected a bool for magicDns, got {value!r}", "", name, "magicDns"
            )
            return inputs, [Failure("magicDns", reason)]
        return inputs, []

    def diff(self, state: Props, inputs: Props) -> Diff:
        diff = Diff()
        if differs(state.get("magicDns"), inputs.get("magicDns")):
            diff.add("magicDns")
        return diff

    def create(self, api: TailscaleAPI, inputs: Props, preview: bool) -> tuple[str, Props]:
        if not preview:
            _set(api, bool(inputs["magicDns"]))
        return new_id(), {"magicDns": inputs["magicDns"]}

    def read(self, api: TailscaleAPI, id: str, state: Props, inputs: Props) -> ReadResult:
        try:
            document = api.call("GET", api.tailnet_path("dns", "preferences")).json()
        except APIError as exc:
            raise ProviderError("Failed to fetch dns preferences", str(exc)) from None
        outputs = {"magicDns": bool(document.get("magicDNS", False))}
        return ReadResult(id, outputs, dict(outputs))

    def update(self, api: TailscaleAPI, id: str, state: Props, inputs: Props, preview: bool) -> Props:
        if not preview and state.get("magicDns") != inputs["magicDns"]:
            _set(api, bool(inputs["magicDns"]))
        return {"magicDns": inputs["magicDns"]}

    def delete(self, api: TailscaleAPI, id: str, state: Props) -> None:
        _set(api, False)
