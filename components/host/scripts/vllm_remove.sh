#!/usr/bin/env bash
# Stop and remove the vLLM container and its env file. Inputs (environment): CONTAINER.
set -euo pipefail
: "${CONTAINER:?}"
sudo docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
sudo rm -f "/etc/sovereign-ai/$CONTAINER.env"
echo "vllm: container $CONTAINER removed"
