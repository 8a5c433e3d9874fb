#!/usr/bin/env bash
# Host firewall: deny everything arriving on non-tailnet interfaces, keep SSH for the deploy.
# Tailscale's own rule accepts tailscale0 before ufw runs, so tailnet access is decided by the
# tailnet policy, not here. Inputs (environment): SSH_PORT.
set -euo pipefail
: "${SSH_PORT:?}"
sudo ufw default deny incoming
sudo ufw default allow outgoing
sudo ufw allow "$SSH_PORT/tcp"
sudo ufw --force enable
echo "firewall: incoming denied except ${SSH_PORT}/tcp; tailnet traffic governed by the policy file"
