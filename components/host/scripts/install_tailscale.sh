#!/usr/bin/env bash
# Install Tailscale if it is absent (Ubuntu/DGX OS, via Tailscale's install script). Idempotent.
set -euo pipefail
if command -v tailscale >/dev/null 2>&1; then
  echo "tailscale: already installed ($(tailscale version | head -n 1))"
  exit 0
fi
echo "tailscale: installing"
curl -fsSL https://tailscale.com/install.sh | sudo sh
sudo systemctl enable --now tailscaled
echo "tailscale: installed ($(tailscale version | head -n 1))"
