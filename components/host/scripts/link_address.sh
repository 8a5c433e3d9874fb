#!/usr/bin/env bash
# The IPv4 address of a tensor-parallel group's link interface, as NVIDIA's playbook reads it
# (`ip -4 addr show <interface>`); the last stdout line is the address. Changes nothing.
# Inputs (environment): LINK_INTERFACE.
set -euo pipefail
: "${LINK_INTERFACE:?}"
if ! shown="$(ip -4 -o addr show dev "$LINK_INTERFACE" 2>&1)"; then
  echo "link: $shown" >&2
  echo "link: no interface $LINK_INTERFACE on this host; set hosts[].tensorParallel.linkInterface to the QSFP interface \`ibdev2netdev\` shows as (Up), e.g. enp1s0f1np1" >&2
  exit 1
fi
address="$(printf '%s\n' "$shown" | awk '{ for (i = 1; i < NF; i++) if ($i == "inet") { split($(i + 1), a, "/"); print a[1]; exit } }')"
if [ -z "$address" ]; then
  echo "link: $LINK_INTERFACE has no IPv4 address; give both ends of the link one (NVIDIA's \"Connect two Sparks\" playbook)" >&2
  exit 1
fi
echo "link: $LINK_INTERFACE is $address"
echo "$address"
