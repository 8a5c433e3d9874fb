#!/usr/bin/env bash
# Start `vllm serve` in a tensor-parallel group's head container, as NVIDIA's playbook does with
# `docker exec` (tp_stop.sh, before it on the same step, stopped any earlier one). Its pid goes to
# ~/.vllm-serve.pid inside the container, and its output to the container's own stdout and stderr
# (PID 1's), so `docker logs` shows it. The container's env file already holds the secrets, so none
# is on this command line. wait_ready.sh (after it on the same step) checks it.
# Inputs (environment): CONTAINER, VLLM_COMMAND (`vllm serve ...`, already shell-quoted).
set -euo pipefail
: "${CONTAINER:?}" "${VLLM_COMMAND:?}"
sudo docker exec -d "$CONTAINER" /bin/bash -c \
  "echo \$\$ > \"\$HOME/.vllm-serve.pid\" && exec $VLLM_COMMAND >>/proc/1/fd/1 2>>/proc/1/fd/2"
echo "vllm: started vllm serve in $CONTAINER (tensor parallel over Ray)"
