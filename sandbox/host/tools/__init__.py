"""The Python side of the host shims: one module per emulated command, run as `python -m sandbox.host.tools`.

Each executable in `sandbox/host/shims/` records its argv, then `exec`s `python -m sandbox.host.tools
<command> "$@"` for the commands with state (`docker`, `tailscale`, `ufw`, `systemctl`, `nvidia-smi`).
The modules read the host from `SANDBOX_HOST_DIR` and privilege from `SANDBOX_SUDO` (set by the
`sudo` shim), both set by the SSH server's environment.
"""
