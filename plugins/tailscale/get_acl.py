"""`tailscale:index/getAcl:getAcl`: the current policy file.

Upstream: terraform-provider-tailscale v0.29.2 `tailscale/data_source_acl.go:62-102`. No arguments;
returns `hujson` (the server's text: `hujson.Parse` then `String()`, which packs it back byte for
byte), `json` (`hujson.Minimize` of the same tree: comments, whitespace and trailing commas gone,
every literal as written: escapes, number spelling and duplicate names kept; not a
re-serialisation) and `id` (a new UUID on every call). A text `hujson.Parse` rejects fails with
"Failed to parse ACL as HuJSON"; an API error with "Failed to fetch ACL".
"""

from __future__ import annotations

from hujson.standard import minimize
from hujson.tree import HuJSONFormatError, pack, parse_value
from plugins.tailscale.acl import get_policy
from plugins.tailscale.client import TailscaleAPI
from plugins.tailscale.errors import ClientError, ProviderError
from plugins.tailscale.resource import new_id
from plugins.wire import Props

TOKEN = "tailscale:index/getAcl:getAcl"


def get_acl(api: TailscaleAPI, args: Props) -> Props:
    """The invoke's result (`aclDataSource.Read` and `toAclDataSourceModel`)."""
    try:
        text = get_policy(api)
    except ClientError as exc:
        raise ProviderError("Failed to fetch ACL", str(exc)) from None
    try:
        tree = parse_value(text.encode())
    except HuJSONFormatError as exc:
        raise ProviderError("Failed to parse ACL as HuJSON", str(exc)) from None
    hujson_text = pack(tree).decode(errors="replace")
    minimize(tree)
    return {"hujson": hujson_text, "json": pack(tree).decode(errors="replace"), "id": new_id()}
