"""The project's own `tailscale` 0.29.2 resource plugin (docs/architecture.md §9).

A ResourceProvider gRPC server implementing what the program uses of pulumi-tailscale (the
github.com/tailscale/terraform-provider-tailscale resources, bridged) with upstream's tokens, wire
names, ids, outputs, secrets, diff rules and error wording (docs/architecture.md §10.1, §10.3):
`Acl`, `TailnetKey`, `DnsPreferences` and `getAcl`. Every other token fails loudly at Check or
Invoke. Started as `python -m plugins.tailscale`.

Modules: `provider` (the gRPC servicer and `register`), `resource` (the base every resource
implements), one module per resource (`acl`, `tailnet_key`, `dns_preferences`) and per function
(`get_acl`), `config`, `client` (the API, as tailscale-client-go), `transport` (one HTTP round trip,
as Go's net/http), `oauth` (golang.org/x/oauth2's client credentials), `errors` (the bridge's
shapes), `panic` (dying as upstream does where its Go code panics), and Go's wording in
`golang` (`%q`, URLs, network errors, times) and `gojson` (encoding/json's errors).
"""

VERSION = "0.29.2"
"""The pulumi-tailscale plugin version this build stands in for (GetPluginInfo)."""

NAME = "tailscale"
"""Package name: log file `tailscale.log`, provider token `pulumi:providers:tailscale`."""
