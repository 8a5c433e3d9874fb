"""`python -m sandbox.host.tools COMMAND ARGS...`: run one emulated host command (see the package doc)."""

from __future__ import annotations

import sys

from sandbox.host.tools import docker, ip, nvidia_smi, pip, procps, ray, systemctl, tailscale, ufw, vllm_cli

COMMANDS = {
    "docker": docker.main,
    "tailscale": tailscale.main,
    "ufw": ufw.main,
    "systemctl": systemctl.main,
    "nvidia-smi": nvidia_smi.main,
    "ip": ip.main,
    # Inside containers (sandbox/host/container_shims):
    "pip": pip.main,
    "ray": ray.main,
    "pkill": procps.pkill,
    "pgrep": procps.pgrep,
    "vllm": vllm_cli.main,
}

if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
    print(f"usage: python -m sandbox.host.tools {{{','.join(COMMANDS)}}} ARGS...", file=sys.stderr)
    raise SystemExit(2)
raise SystemExit(COMMANDS[sys.argv[1]](sys.argv[2:]))
