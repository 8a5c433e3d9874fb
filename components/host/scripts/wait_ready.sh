#!/usr/bin/env bash
# Wait for vLLM's /health, then check /v1/models serves MODEL_ID. Progress every poll.
# Inputs (environment): BASE_URL (http://ip:port), MODEL_ID, CONTAINER, TIMEOUT_SECONDS, POLL_SECONDS.
# Stdin: the vLLM API key or nothing.
# On failure the container is removed after its last log lines are shown: a container that is
# crashed or stuck holds GPU memory, and a missing one is what the next refresh sees as drift, so
# `pulumi up --refresh` (make up REFRESH=1) starts it afresh.
set -euo pipefail
: "${BASE_URL:?}" "${MODEL_ID:?}" "${CONTAINER:?}" "${TIMEOUT_SECONDS:?}"
poll="${POLL_SECONDS:-10}"
api_key="$(cat || true)"
started="$(date +%s)"
give_up() {
  sudo docker logs --tail 50 "$CONTAINER" >&2 || true
  sudo docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
  echo "ready: removed $CONTAINER; fix the cause above, then \`pulumi up --refresh\` (make up REFRESH=1) starts it again" >&2
  exit 1
}
while true; do
  elapsed=$(( $(date +%s) - started ))
  state="$(sudo docker inspect -f '{{.State.Status}}' "$CONTAINER" 2>/dev/null || echo missing)"
  # Under --restart unless-stopped a crashed container is "restarting" (or running again), never "exited".
  if [ "$state" = "exited" ] || [ "$state" = "restarting" ] || [ "$state" = "dead" ] || [ "$state" = "missing" ]; then
    echo "ready: container $CONTAINER is $state; last log lines:" >&2
    give_up
  fi
  if curl -fsS -m 5 -o /dev/null "$BASE_URL/health"; then
    echo "ready: /health ok after ${elapsed}s"
    break
  fi
  if [ "$elapsed" -ge "$TIMEOUT_SECONDS" ]; then
    echo "ready: /health not ok after ${elapsed}s (timeout ${TIMEOUT_SECONDS}s); last log lines:" >&2
    give_up
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
