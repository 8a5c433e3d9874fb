#!/usr/bin/env bash
# Stop `vllm serve` in a tensor-parallel group's head container; the Ray node keeps running.
# Inputs (environment): CONTAINER.
set -euo pipefail
: "${CONTAINER:?}"
sudo docker exec "$CONTAINER" pkill -f 'vllm serve' >/dev/null 2>&1 || true
echo "vllm: vllm serve stopped in $CONTAINER"
