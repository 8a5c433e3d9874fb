#!/usr/bin/env bash
# Wait for vLLM's /health, then check /v1/models serves MODEL_ID. Progress every poll.
# Inputs (environment): BASE_URL (http://ip:port), MODEL_ID, CONTAINER, TIMEOUT_SECONDS, POLL_SECONDS,
# and SERVER_PID_FILE when vLLM is not the container's own process but runs in it (a tensor-parallel
# head: `vllm serve` started by tp_serve.sh in the Ray head's container, its pid in that file under
# the container's $HOME).
# Stdin: the vLLM API key or nothing.
# On failure the container's last log lines are shown and the container is stopped, not removed: a
# container that is crashed or stuck holds GPU memory, and a stopped one keeps its settings, so the
# next `pulumi up`, which runs this check again, starts it again (with SERVER_PID_FILE, only that
# process is stopped: its step, which starts it, runs again first).
set -euo pipefail
: "${BASE_URL:?}" "${MODEL_ID:?}" "${CONTAINER:?}" "${TIMEOUT_SECONDS:?}"
poll="${POLL_SECONDS:-10}"
pid_file="${SERVER_PID_FILE:-}"
# shellcheck disable=SC2016 # expanded by the container's bash, with its $HOME
server_alive='kill -0 "$(cat "$HOME/$1" 2>/dev/null)" 2>/dev/null'
api_key="$(cat || true)"
started="$(date +%s)"
give_up() {
  sudo docker logs --tail 50 "$CONTAINER" >&2 || true
  if [ -n "$pid_file" ]; then
    sudo docker exec "$CONTAINER" /bin/bash -c 'kill "$(cat "$HOME/$1")"' _ "$pid_file" >/dev/null 2>&1 || true
    echo "ready: stopped vllm serve in $CONTAINER; fix the cause above, then \`pulumi up\` starts it again" >&2
    echo "ready: if it says GPUs are missing from the placement group, a worker's Ray node is down: \`pulumi up --refresh\` (make up REFRESH=1) finds it and restarts the group's Ray nodes" >&2
  else
    sudo docker stop "$CONTAINER" >/dev/null 2>&1 || true
    echo "ready: stopped $CONTAINER; fix the cause above, then \`pulumi up\` starts it again" >&2
  fi
  exit 1
}
state="$(sudo docker inspect -f '{{.State.Status}}' "$CONTAINER" 2>/dev/null || echo missing)"
if [ -z "$pid_file" ] && [ "$state" = "exited" ]; then
  # Stopped by an earlier failed check (or by hand): start it again and check it afresh.
  echo "ready: container $CONTAINER is stopped; starting it again"
  sudo docker start "$CONTAINER" >/dev/null
fi
while true; do
  elapsed=$(( $(date +%s) - started ))
  state="$(sudo docker inspect -f '{{.State.Status}}' "$CONTAINER" 2>/dev/null || echo missing)"
  # Under --restart unless-stopped a crashed container is "restarting" (or running again), never "exited".
  if [ "$state" = "exited" ] || [ "$state" = "restarting" ] || [ "$state" = "dead" ] || [ "$state" = "missing" ]; then
    echo "ready: container $CONTAINER is $state; last log lines:" >&2
    give_up
  fi
  if [ -n "$pid_file" ] && ! sudo docker exec "$CONTAINER" /bin/bash -c "$server_alive" _ "$pid_file"; then
    echo "ready: vllm serve is not running in container $CONTAINER; last log lines:" >&2
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
