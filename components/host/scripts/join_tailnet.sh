#!/usr/bin/env bash
# Join the tailnet with the auth key read from stdin (never argv, never logged).
# Inputs (environment): TS_HOSTNAME, TS_TAGS (comma-separated). Stdin: the auth key.
# Skipped when already running with the same tags, so a re-run never burns a new key.
set -euo pipefail
: "${TS_HOSTNAME:?}" "${TS_TAGS:?}"
key_file="$(mktemp)"
trap 'rm -f "$key_file"' EXIT
chmod 600 "$key_file"
cat > "$key_file"
status="$(sudo tailscale status --json --peers=false 2>/dev/null || true)"
if printf '%s' "$status" | grep -q '"BackendState": *"Running"'; then
  missing=""
  for tag in ${TS_TAGS//,/ }; do
    printf '%s' "$status" | grep -q "\"$tag\"" || missing="$missing $tag"
  done
  if [ -z "$missing" ]; then
    echo "join: already in the tailnet with tags $TS_TAGS; key not used"
    exit 0
  fi
  echo "join: running but missing tags:$missing; re-joining"
fi
if [ ! -s "$key_file" ]; then
  echo "join: no auth key on stdin, and not yet in the tailnet; the stack passes the host's TailnetKey here" >&2
  exit 1
fi
sudo tailscale up --auth-key="file:$key_file" --hostname="$TS_HOSTNAME" \
  --advertise-tags="$TS_TAGS" --timeout=120s
echo "join: joined as $TS_HOSTNAME ($(tailscale ip -4 | head -n 1))"
