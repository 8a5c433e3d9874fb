#!/usr/bin/env bash
# (Re)start the vLLM container. Secrets (HF_TOKEN, VLLM_API_KEY lines) arrive on stdin and go to a
# 0600 env file, never to argv. Inputs (environment): CONTAINER, IMAGE, VLLM_COMMAND (the container
# command, already shell-quoted), HF_CACHE.
set -euo pipefail
: "${CONTAINER:?}" "${IMAGE:?}" "${VLLM_COMMAND:?}" "${HF_CACHE:?}"
env_dir=/etc/sovereign-ai
env_file="$env_dir/$CONTAINER.env"
sudo install -d -m 700 "$env_dir"
umask 077
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
sudo install -m 600 "$tmp" "$env_file"
sudo mkdir -p "$HF_CACHE"
# A registry hiccup is worth a retry (a pull is safe to repeat); a missing tag fails the same way
# each time and stops after PULL_ATTEMPTS with docker's own message.
attempts="${PULL_ATTEMPTS:-3}"
for attempt in $(seq 1 "$attempts"); do
  echo "vllm: pulling $IMAGE (attempt $attempt of $attempts)"
  if error="$(sudo docker pull "$IMAGE" 2>&1 >/dev/null)"; then
    break
  fi
  echo "vllm: pull of $IMAGE failed: $error" >&2
  if [ "$attempt" -eq "$attempts" ]; then
    echo "vllm: could not pull $IMAGE after $attempts attempts; check the image name (hosts[].image) and the host's registry access" >&2
    exit 1
  fi
  sleep $(( attempt * ${PULL_RETRY_SECONDS:-2} ))
done
sudo docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
# shellcheck disable=SC2086 # VLLM_COMMAND is a list of pre-quoted words
eval "set -- $VLLM_COMMAND"
sudo docker run -d --name "$CONTAINER" --gpus all --ipc host --network host \
  --ulimit memlock=-1 --ulimit stack=67108864 --restart unless-stopped \
  -v "$HF_CACHE:/root/.cache/huggingface" --env-file "$env_file" \
  "$IMAGE" "$@" >/dev/null
echo "vllm: container $CONTAINER started from $IMAGE"
