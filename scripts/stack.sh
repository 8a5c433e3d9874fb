#!/usr/bin/env bash
# Run `pulumi preview|up` for one stack with the policy pack and the config of its environment.
# Usage: scripts/stack.sh preview|up STACK   (the Makefile sets PATH/PULUMI_* via toolchain.py env)
set -euo pipefail
action="${1:?usage: scripts/stack.sh preview|up STACK}"
stack="${2:?usage: scripts/stack.sh preview|up STACK}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! python3 scripts/toolchain.py ready; then
  exit 1
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
exec pulumi "$action" "${args[@]}"
