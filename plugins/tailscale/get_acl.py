"""`tailscale:index/getAcl:getAcl`: the current policy file.

Upstream: github.com/tailscale/terraform-provider-tailscale `tailscale/data_source_acl.go`.

No arguments; returns `hujson` (the server's text, verbatim), `json` (minimised) and `id` (a new
UUID on every call, as upstream).
"""

from __future__ import annotations

import json

import hujson
from plugins.tailscale.acl import get_policy
from plugins.tailscale.client import TailscaleAPI
from plugins.tailscale.errors import APIError, ProviderError
from plugins.tailscale.resource import new_id
from plugins.wire import Props

TOKEN = "tailscale:index/getAcl:getAcl"


def get_acl(api: TailscaleAPI, args: Props) -> Props:
    """The invoke's result."""
    try:
        text = get_policy(api)
    except APIError as exc:
        raise ProviderError("Failed to fetch ACL", str(exc)) from None
    minimised = json.dumps(hujson.loads(text), separators=(",", ":"), ensure_ascii=False)
    return {"hujson": text, "json": minimised, "id": new_id()}
