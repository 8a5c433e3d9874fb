#!/usr/bin/env bash
# Wait until vLLM has no request running or waiting, after the gateway stopped routing to this host.
# Inputs (environment): BASE_URL (http://ip:port), TIMEOUT_SECONDS, GRACE_SECONDS, POLL_SECONDS.
# Reads vLLM's own gauges on /metrics (open even with --api-key); a request the gateway routed just
# before the drain reaches vLLM within GRACE_SECONDS. A server that does not answer has nothing in
# flight. After TIMEOUT_SECONDS the container is replaced anyway, and what was still running is said.
set -euo pipefail
: "${BASE_URL:?}" "${TIMEOUT_SECONDS:?}"
grace="${GRACE_SECONDS:-2}"
poll="${POLL_SECONDS:-2}"
sleep "$grace"
started="$(date +%s)"
while true; do
  elapsed=$(( $(date +%s) - started ))
  if ! metrics="$(curl -fsS -m 5 "$BASE_URL/metrics" 2>/dev/null)"; then
    echo "drain: vLLM at $BASE_URL does not answer; nothing in flight"
    exit 0
  fi
  busy="$(printf '%s\n' "$metrics" | awk '/^vllm:num_requests_(running|waiting)[{ ]/ { n += $NF } END { printf "%d", n }')"
  if [ "$busy" -eq 0 ]; then
    echo "drain: no request in flight after ${elapsed}s"
    exit 0
  fi
  if [ "$elapsed" -ge "$TIMEOUT_SECONDS" ]; then
    echo "drain: $busy request(s) still in flight after ${elapsed}s (timeout ${TIMEOUT_SECONDS}s); replacing the container anyway" >&2
    exit 0
  fi
  echo "drain: $busy request(s) in flight (${elapsed}s of ${TIMEOUT_SECONDS}s)"
  sleep "$poll"
done
