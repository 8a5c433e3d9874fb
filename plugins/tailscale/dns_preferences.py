"""`tailscale:index/dnsPreferences:DnsPreferences`: MagicDNS on or off.

Upstream: terraform-provider-tailscale v0.29.2 `tailscale/resource_dns_preferences.go`,
tailscale-client-go v2.9.0 `dns.go:130-149`.

Input `magicDns` (required; missing is the bridge's `Missing required property 'magicDns': Whether
or not to enable magic DNS`); id = a random UUID. Create and Update POST `dns/preferences`
`{"magicDNS": b}` (Update only on a change); Read GETs it (MagicDNS switched off by hand shows as
drift); Delete posts `{"magicDNS": false}`. Errors: "Failed to set DNS preferences: Failed to set DNS
preferences: <err>" (`:127,139`) and "Error fetching DNS preferences: Failed to fetch DNS
preferences: <err>" (`:74-77`).
"""

from __future__ import annotations

from plugins.tailscale.client import TailscaleAPI
from plugins.tailscale.errors import ClientError, ProviderError, check_failure_reason, missing_property_reason
from plugins.tailscale.gojson import field
from plugins.tailscale.resource import Diff, Failure, ReadResult, Resource, differs, new_id
from plugins.wire import Props, has_unknown

TOKEN = "tailscale:index/dnsPreferences:DnsPreferences"
MAGIC_DNS_DESCRIPTION = "Whether or not to enable magic DNS"
"""The `magic_dns` attribute's description (`resource_dns_preferences.go:52`)."""


def _set(api: TailscaleAPI, enabled: bool) -> None:
    """`DNS().SetPreferences` (`dns.go:140-149`)."""
    try:
        api.call("POST", "dns", "preferences", body={"magicDNS": enabled})
    except ClientError as exc:
        raise ProviderError(
            "Failed to set DNS preferences", f"Failed to set DNS preferences: {exc}"
        ) from None


class DnsPreferences(Resource):
    """The tailnet's MagicDNS switch; see the module docstring."""

    token = TOKEN

    def check(self, name: str, news: Props) -> tuple[Props, list[Failure]]:
        inputs = dict(news)
        value = inputs.get("magicDns")
        if value is None:
            return inputs, [Failure(missing_property_reason("magicDns", MAGIC_DNS_DESCRIPTION))]
        if not isinstance(value, bool) and not has_unknown(value):
            reason = check_failure_reason(
                f"Expected a bool for magicDns, got {value!r}", "", name, "magicDns"
            )
            return inputs, [Failure(reason)]
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
            document = api.call("GET", "dns", "preferences").decode()
        except ClientError as exc:
            raise ProviderError(
                "Error fetching DNS preferences", f"Failed to fetch DNS preferences: {exc}"
            ) from None
        magic = field(document, "magicDNS") if isinstance(document, dict) else None
        outputs = {"magicDns": bool(magic)}
        return ReadResult(id, outputs, dict(outputs))

    def update(self, api: TailscaleAPI, id: str, state: Props, inputs: Props, preview: bool) -> Props:
        if not preview and state.get("magicDns") != inputs["magicDns"]:
            _set(api, bool(inputs["magicDns"]))
        return {"magicDns": inputs["magicDns"]}

    def delete(self, api: TailscaleAPI, id: str, state: Props) -> None:
        _set(api, False)
