#!/usr/bin/env bash
# (Re)start a tensor-parallel group's Ray node: the head or a worker, as NVIDIA's dgx-spark-playbooks
# nvidia/vllm/README.md runs them (vLLM's examples run_cluster.sh, patched to install Ray first since
# the NGC image ships without it). The container's own process is `ray start --block`; `vllm serve`
# runs later in the head's container (tp_serve.sh). Secrets (HF_TOKEN, VLLM_API_KEY lines) arrive on
# stdin and go to a 0600 env file, never to argv.
# Inputs (environment): CONTAINER, IMAGE, ROLE (head|worker), NODE_IP (this host's link address),
# HEAD_IP (the head's link address), LINK_INTERFACE, HF_CACHE, RAY_PORT (default 6379).
# The env file and pull lines are vllm_container.sh's, repeated on purpose: that script's text is
# its step's `create`, so sharing them through it would re-run (restart) every deployed vLLM container.
set -euo pipefail
: "${CONTAINER:?}" "${IMAGE:?}" "${ROLE:?}" "${NODE_IP:?}" "${HEAD_IP:?}" "${LINK_INTERFACE:?}" "${HF_CACHE:?}"
port="${RAY_PORT:-6379}"
case "$ROLE" in
  head) ray_start="ray start --block --head --port=$port --node-ip-address=$NODE_IP" ;;
  worker) ray_start="ray start --block --address=$HEAD_IP:$port --node-ip-address=$NODE_IP" ;;
  *) echo "ray: ROLE is $ROLE, expected head or worker" >&2; exit 1 ;;
esac
env_dir=/etc/sovereign-ai
env_file="$env_dir/$CONTAINER.env"
sudo install -d -m 700 "$env_dir"
umask 077
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
sudo install -m 600 "$tmp" "$env_file"
sudo mkdir -p "$HF_CACHE"
attempts="${PULL_ATTEMPTS:-3}"
for attempt in $(seq 1 "$attempts"); do
  echo "ray: pulling $IMAGE (attempt $attempt of $attempts)"
  if error="$(sudo docker pull "$IMAGE" 2>&1 >/dev/null)"; then
    break
  fi
  echo "ray: pull of $IMAGE failed: $error" >&2
  if [ "$attempt" -eq "$attempts" ]; then
    echo "ray: could not pull $IMAGE after $attempts attempts; check the image name (hosts[].image) and the host's registry access" >&2
    exit 1
  fi
  sleep $(( attempt * ${PULL_RETRY_SECONDS:-2} ))
done
sudo docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
sudo docker run -d --name "$CONTAINER" --entrypoint /bin/bash --gpus all --ipc host --network host \
  --shm-size 10.24g --ulimit memlock=-1 --ulimit stack=67108864 --restart unless-stopped \
  -v "$HF_CACHE:/root/.cache/huggingface" --env-file "$env_file" \
  -e "VLLM_HOST_IP=$NODE_IP" -e "UCX_NET_DEVICES=$LINK_INTERFACE" -e "NCCL_SOCKET_IFNAME=$LINK_INTERFACE" \
  -e "OMPI_MCA_btl_tcp_if_include=$LINK_INTERFACE" -e "GLOO_SOCKET_IFNAME=$LINK_INTERFACE" \
  -e "TP_SOCKET_IFNAME=$LINK_INTERFACE" -e RAY_memory_monitor_refresh_ms=0 -e "MASTER_ADDR=$HEAD_IP" \
  "$IMAGE" -c "pip install -q --root-user-action=ignore 'ray[default]>=2.9' && $ray_start" >/dev/null
echo "ray: $ROLE container $CONTAINER started from $IMAGE on $LINK_INTERFACE ($NODE_IP)"
