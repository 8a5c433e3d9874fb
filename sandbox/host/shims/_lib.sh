# shellcheck shell=bash
# Sourced by every shim: record the invocation, find real commands, remap host paths, run a tool.
# Environment (set by sandbox/host/server.py): SANDBOX_HOST_DIR, SANDBOX_ROOT, SANDBOX_REAL_PATH,
# SANDBOX_PYTHON; SANDBOX_SUDO=1 inside `sudo`.

sandbox_json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  printf '"%s"' "$s"
}

# sandbox_record NAME ARGS...: append {"shim", "argv", "sudo"} to state/shim_calls.jsonl.
sandbox_record() {
  local name=$1 argv="" arg sudo=false
  shift
  for arg in "$@"; do
    argv+="${argv:+, }$(sandbox_json_string "$arg")"
  done
  [ "${SANDBOX_SUDO:-}" = 1 ] && sudo=true
  printf '{"shim": %s, "argv": [%s], "sudo": %s}\n' "$(sandbox_json_string "$name")" "$argv" "$sudo" \
    >> "${SANDBOX_HOST_DIR:?}/state/shim_calls.jsonl"
}

# sandbox_real NAME: the real command of that name (PATH without the shims).
sandbox_real() {
  PATH="${SANDBOX_REAL_PATH:?}" command -v "$1"
}

# sandbox_tool NAME ARGS...: run the Python side of a shim (sandbox/host/tools).
sandbox_tool() {
  exec "${SANDBOX_PYTHON:?}" -m sandbox.host.tools "$@"
}

# sandbox_remap_exec NAME ARGS...: run the real NAME with every argument at or below /etc/sovereign-ai
# or /var/lib/sovereign-ai moved under $SANDBOX_ROOT (also `--opt=PATH`); without sudo such a write is
# refused the way a root-owned directory refuses it.
sandbox_remap_exec() {
  local name=$1 arg prefix value touched="" out=()
  shift
  for arg in "$@"; do
    prefix="" value=$arg
    if [[ "$arg" == --*=* ]]; then
      prefix="${arg%%=*}=" value="${arg#*=}"
    fi
    case "$value" in
      /etc/sovereign-ai | /etc/sovereign-ai/* | /var/lib/sovereign-ai | /var/lib/sovereign-ai/*)
        touched=$value
        out+=("$prefix${SANDBOX_ROOT:?}$value")
        ;;
      *) out+=("$arg") ;;
    esac
  done
  if [ -n "$touched" ] && [ "${SANDBOX_SUDO:-}" != 1 ]; then
    case "$name" in
      rm) echo "rm: cannot remove '$touched': Permission denied" >&2 ;;
      mkdir) echo "mkdir: cannot create directory '$touched': Permission denied" >&2 ;;
      *) echo "$name: cannot create '$touched': Permission denied" >&2 ;;
    esac
    exit 1
  fi
  local real
  real="$(sandbox_real "$name")" || { echo "$name: command not found" >&2; exit 127; }
  exec "$real" "${out[@]}"
}
