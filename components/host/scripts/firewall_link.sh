#!/usr/bin/env bash
# A tensor-parallel group's link: let Ray and NCCL traffic in on the direct QSFP link between the
# group's Sparks (Ray and NCCL pick their ports at run time). Runs after firewall.sh, on the same
# step. The tailnet interface stays governed by the policy file. Inputs (environment): LINK_INTERFACE.
set -euo pipefail
: "${LINK_INTERFACE:?}"
sudo ufw allow in on "$LINK_INTERFACE"
echo "firewall: incoming allowed on the tensor-parallel link $LINK_INTERFACE"
