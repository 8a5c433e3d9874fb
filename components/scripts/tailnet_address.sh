#!/usr/bin/env bash
# Print the host's tailnet IPv4 and MagicDNS name as one JSON object (no secrets here).
set -euo pipefail
ip="$(tailscale ip -4 | head -n 1)"
name="$(tailscale status --json --peers=false | grep -o '"DNSName": *"[^"]*"' | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/')"
printf '{"ip": "%s", "dnsName": "%s"}\n' "$ip" "${name%.}"
