#!/usr/bin/env bash
# Start `vllm serve` in a tensor-parallel group's head container, as NVIDIA's playbook does with
# `docker exec`; its output goes to the container's own stdout and stderr (PID 1's), so `docker logs`
# shows it. A server an earlier run started there is stopped first. The container's env file already
# holds the secrets, so none is on this command line. wait_ready.sh (same step) then checks it.
# Inputs (environment): CONTAINER, VLLM_COMMAND (`vllm serve ...`, already shell-quoted).
set -euo pipefail
: "${CONTAINER:?}" "${VLLM_COMMAND:?}"
sudo docker exec "$CONTAINER" pkill -f 'vllm serve' >/dev/null 2>&1 || true
for _ in $(seq 1 30); do
  sudo docker exec "$CONTAINER" pgrep -f 'vllm serve' >/dev/null 2>&1 || break
  sleep 1
done
sudo docker exec -d "$CONTAINER" /bin/bash -c "exec $VLLM_COMMAND >>/proc/1/fd/1 2>>/proc/1/fd/2"
echo "vllm: started vllm serve in $CONTAINER (tensor parallel over Ray)"
