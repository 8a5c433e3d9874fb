#!/usr/bin/env bash
# Observe a GPU server for drift (read-only): its tailnet address and DNS name, and the vLLM
# container's state and command. One JSON line on stdout. Never changes anything on the host.
# Inputs (environment): CONTAINER.
set -euo pipefail
: "${CONTAINER:?}"
ip="$(tailscale ip -4 2>/dev/null | head -n 1 || true)"
name="$(tailscale status --json --peers=false 2>/dev/null | grep -o '"DNSName": *"[^"]*"' | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/' || true)"
state="$(sudo docker inspect -f '{{.State.Status}}' "$CONTAINER" 2>/dev/null || echo missing)"
cmd="$(sudo docker inspect -f '{{json .Config.Cmd}}' "$CONTAINER" 2>/dev/null || echo '[]')"
printf '{"ip": "%s", "dnsName": "%s", "container": "%s", "cmd": %s}\n' "$ip" "${name%.}" "$state" "$cmd"
