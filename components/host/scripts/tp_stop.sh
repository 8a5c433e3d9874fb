#!/usr/bin/env bash
# Stop the `vllm serve` that tp_serve.sh started in a tensor-parallel group's head container; the
# Ray node keeps running. Its pid is in ~/.vllm-serve.pid inside the container: only bash, cat, seq
# and sleep run in there, nothing the image might lack. Inputs (environment): CONTAINER.
set -euo pipefail
: "${CONTAINER:?}"
sudo docker exec "$CONTAINER" /bin/bash -c '
  f="$HOME/.vllm-serve.pid"
  [ -f "$f" ] || exit 0
  pid="$(cat "$f")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$f"' >/dev/null 2>&1 || true
echo "vllm: no vllm serve running in $CONTAINER"
