#!/usr/bin/env bash
# Fail early, naming each one, when a variable a CI job needs is unset or empty (a secret or
# variable missing from the job's GitHub environment). Usage: scripts/ci_check_env.sh NAME...
set -euo pipefail
missing=()
for name in "$@"; do
  if [ -z "${!name:-}" ]; then
    missing+=("$name")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "missing in this job's GitHub environment: ${missing[*]}" >&2
  echo "set them under Settings -> Environments (README.md#continuous-delivery)" >&2
  exit 1
fi
echo "all set: $*"
