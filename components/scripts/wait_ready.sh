#!/usr/bin/env bash
# Wait for vLLM's /health, then check /v1/models serves MODEL_ID. Progress every poll.
# Inputs (environment): BASE_URL (http://ip:port), MODEL_ID, CONTAINER, TIMEOUT_SECONDS, POLL_SECONDS.
# Stdin: the vLLM API key or nothing.
set -euo pipefail
: "${BASE_URL:?}" "${MODEL_ID:?}" "${CONTAINER:?}" "${TIMEOUT_SECONDS:?}"
poll="${POLL_SECONDS:-10}"
api_key="$(cat || true)"
started="$(date +%s)"
while true; do
  elapsed=$(( $(date +%s) - started ))
  state="$(sudo docker inspect -f '{{.State.Status}}' "$CONTAINER" 2>/dev/null || echo missing)"
  # Under --restart unless-stopped a crashed container is "restarting" (or running again), never "exited".
  if [ "$state" = "exited" ] || [ "$state" = "restarting" ] || [ "$state" = "dead" ] || [ "$state" = "missing" ]; then
    echo "ready: container $CONTAINER is $state; last log lines:" >&2
    sudo docker logs --tail 50 "$CONTAINER" >&2 || true
    exit 1
  fi
  if curl -fsS -m 5 -o /dev/null "$BASE_URL/health"; then
    echo "ready: /health ok after ${elapsed}s"
    break
  fi
  if [ "$elapsed" -ge "$TIMEOUT_SECONDS" ]; then
    echo "ready: /health not ok after ${elapsed}s (timeout ${TIMEOUT_SECONDS}s); last log lines:" >&2
    sudo docker logs --tail 50 "$CONTAINER" >&2 || true
    exit 1
  fi
  echo "ready: waiting for $BASE_URL/health (${elapsed}s of ${TIMEOUT_SECONDS}s, container $state)"
  sleep "$poll"
done
header=()
if [ -n "$api_key" ]; then
  header=(-H "@/dev/stdin")
fi
models="$(printf 'Authorization: Bearer %s\n' "$api_key" | curl -fsS -m 10 "${header[@]}" "$BASE_URL/v1/models")"
if ! printf '%s' "$models" | grep -q "\"id\": *\"$MODEL_ID\""; then
  echo "ready: /v1/models does not list $MODEL_ID: $models" >&2
  exit 1
fi
echo "ready: serving $MODEL_ID"
