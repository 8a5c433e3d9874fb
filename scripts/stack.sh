#!/usr/bin/env bash
# Run `pulumi preview|up` for one stack with the policy pack and the config of its environment.
# Usage: scripts/stack.sh preview|up STACK [--refresh]   (the Makefile sets PATH/PULUMI_* via toolchain.py env)
# --refresh reads the live state first (tailnet policy, Aperture config, hosts), so drift shows up.
set -euo pipefail
action="${1:?usage: scripts/stack.sh preview|up STACK [--refresh]}"
stack="${2:?usage: scripts/stack.sh preview|up STACK [--refresh]}"
refresh="${3:-}"
if [ -n "$refresh" ] && [ "$refresh" != "--refresh" ]; then
  echo "stack.sh: unknown option '$refresh': the only option is --refresh" >&2
  exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! python3 scripts/toolchain.py ready; then
  exit 1
fi

# pulumi-command opens SSH_AUTH_SOCK before it dials and fails every remote step at once when that
# socket cannot be opened (github.com/pulumi/pulumi-command v1.2.1 remote/connection.go:131-145),
# e.g. a shell that outlived its agent. The steps log in with the stack's own key, so a dead socket
# is dropped for this run, saying so; a live agent is left alone.
agent_socket_usable() {
  python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])' "$1" 2>/dev/null
}
if [ -n "${SSH_AUTH_SOCK:-}" ] && ! agent_socket_usable "$SSH_AUTH_SOCK"; then
  echo "==> SSH_AUTH_SOCK=$SSH_AUTH_SOCK is not a usable agent socket; unset for this run"
  unset SSH_AUTH_SOCK
fi
stack_file="Pulumi.$stack.yaml"
if [ ! -f "$stack_file" ]; then
  echo "stack.sh: $stack_file not found: copy Pulumi.dev.yaml to $stack_file and edit it" >&2
  exit 1
fi
environment="$(sed -n 's/^ *sovereign-ai:environment: *\([a-z]*\).*/\1/p' "$stack_file" | head -n 1)"
environment="${environment:-development}"
policy_config="policies/config/$environment.json"
if [ ! -f "$policy_config" ]; then
  echo "stack.sh: sovereign-ai:environment is '$environment': use development or production" >&2
  exit 1
fi
if [ "$stack" = "sandbox" ]; then
  # The sandbox stack holds no secret; its committed encryptionsalt is for this fixed passphrase.
  export PULUMI_CONFIG_PASSPHRASE=sovereign-ai-local
fi
mkdir -p .state
pulumi stack select --create "$stack" >/dev/null
echo "==> pulumi $action --stack $stack ($environment guardrails: $policy_config)"
args=(--stack "$stack" --policy-pack policies --policy-pack-config "$policy_config")
if [ "$action" = "up" ]; then
  args+=(--yes)
fi
if [ -n "$refresh" ]; then
  args+=(--refresh)
fi
exec pulumi "$action" "${args[@]}"
