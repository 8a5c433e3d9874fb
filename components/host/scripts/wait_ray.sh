#!/usr/bin/env bash
# Wait until the Ray cluster of a tensor-parallel group sees every GPU (`ray status` in the head's
# container, as NVIDIA's playbook checks before `vllm serve`). Progress every poll.
# Inputs (environment): CONTAINER (the head's Ray container), GPUS, TIMEOUT_SECONDS, POLL_SECONDS.
set -euo pipefail
: "${CONTAINER:?}" "${GPUS:?}" "${TIMEOUT_SECONDS:?}"
poll="${POLL_SECONDS:-5}"
started="$(date +%s)"
while true; do
  elapsed=$(( $(date +%s) - started ))
  have=""
  if status="$(sudo docker exec "$CONTAINER" ray status 2>&1)"; then
    have="$(printf '%s\n' "$status" | sed -n 's|^ *[0-9.]*/\([0-9.]*\) GPU.*|\1|p' | head -n 1)"
    if [ -n "$have" ] && awk -v have="$have" -v want="$GPUS" 'BEGIN { exit !(have + 0 >= want + 0) }'; then
      echo "ray: the cluster sees $have GPUs (${GPUS} needed) after ${elapsed}s"
      exit 0
    fi
  fi
  if [ "$elapsed" -ge "$TIMEOUT_SECONDS" ]; then
    echo "ray: the cluster in $CONTAINER sees ${have:-no} GPUs of $GPUS after ${elapsed}s (timeout ${TIMEOUT_SECONDS}s); \`ray status\`:" >&2
    printf '%s\n' "$status" | tail -n 30 >&2
    echo "ray: last log lines of $CONTAINER:" >&2
    sudo docker logs --tail 20 "$CONTAINER" >&2 || true
    echo "ray: check each worker's container (\`docker logs ray-<worker>\` on it) and that the link interface carries the address the workers reach the head on; then \`pulumi up\` checks again" >&2
    exit 1
  fi
  echo "ray: waiting for $GPUS GPUs in the cluster (${have:-none} so far, ${elapsed}s of ${TIMEOUT_SECONDS}s)"
  sleep "$poll"
done
