"""The project's own `tailscale` 0.29.2 resource plugin (DESIGN.md section 9).

A ResourceProvider gRPC server implementing what the program uses of pulumi-tailscale with
upstream's tokens, wire names, ids, outputs, secrets, diff rules and error wording
(reference/pulumi-plugins.md section 4): `Acl`, `TailnetKey`, `DnsPreferences` and `getAcl`.
Every other token fails loudly at Check or Invoke. Started as `python -m plugins.tailscale`.
"""

VERSION = "0.29.2"
"""The pulumi-tailscale plugin version this build stands in for (GetPluginInfo)."""

NAME = "tailscale"
"""Package name: log file `tailscale.log`, provider token `pulumi:providers:tailscale`."""
