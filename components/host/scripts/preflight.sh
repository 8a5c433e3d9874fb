#!/usr/bin/env bash
# Preflight: is this a GB10-class box that can run the vLLM container? One clear line per missing piece.
# Inputs (environment): none. Output: a short summary on stdout.
set -euo pipefail
problems=0
arch="$(uname -m)"
if [ "$arch" != "aarch64" ] && [ "$arch" != "arm64" ]; then
  echo "preflight: architecture is $arch, expected aarch64 (DGX Spark / GB10); images below are arm64" >&2
  problems=$((problems + 1))
fi
if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "preflight: nvidia-smi not found: install the NVIDIA driver (DGX OS ships it)" >&2
  problems=$((problems + 1))
elif ! nvidia-smi -L >/dev/null 2>&1; then
  echo "preflight: nvidia-smi sees no GPU: check the driver with 'nvidia-smi' on the host" >&2
  problems=$((problems + 1))
fi
if ! command -v docker >/dev/null 2>&1; then
  echo "preflight: docker not found: install Docker Engine" >&2
  problems=$((problems + 1))
elif ! sudo docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q nvidia; then
  echo "preflight: docker has no nvidia runtime: install nvidia-container-toolkit and run 'sudo nvidia-ctk runtime configure --runtime=docker'" >&2
  problems=$((problems + 1))
fi
if [ "$problems" -gt 0 ]; then
  echo "preflight: $problems problem(s); fix them and run pulumi up again" >&2
  exit 1
fi
echo "preflight: ok ($arch, $(nvidia-smi -L | head -n 1))"
