"""Figure 2: the same host bootstrap as an Ansible playbook (`bench/ansible/playbook.yml`), run twice.

A sandbox of its own (same emulated GB10 host, OS-chosen ports), with the tailnet policy the program
would set (so `tag:gpu` has owners) and one auth key minted through the emulated Tailscale API: what
an Ansible user has before running a playbook. Ansible is ansible-core from `bench/requirements.txt`
(`.build/bench-venv`), with OpenSSH as its connection (ControlMaster on, Ansible's default),
pipelining on, and `transfer_method = piped` (the sandbox's SSH server offers no SFTP or SCP).
The remote Python is this machine's `/usr/bin/python3`, reached through the sandbox's shims.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure import Seen, Window
from components.host.inference_host import vllm_command
from config.plan import policy_for
from tailnet_policy.policy_file import render
from testing.sandbox_stack import SandboxStack

PLAYBOOK = Path(__file__).resolve().parent / "ansible" / "playbook.yml"
RECAP = re.compile(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)")


@dataclass
class AnsibleRun:
    """One `ansible-playbook` run: what the sandbox saw, and the play recap's counts."""

    seen: Seen
    ok: int
    changed: int
    skipped: int


def prepare(stack: SandboxStack, work: Path) -> tuple[Path, dict[str, str]]:
    """The tailnet policy and an auth key in the sandbox; inventory, vars and ansible.cfg in `work`."""
    config = stack.config()
    stack.api("POST", "/api/v2/tailnet/-/acl", render(policy_for(config)), "application/hujson")
    host = config.hosts[0]
    key = stack.api(
        "POST",
        "/api/v2/tailnet/-/keys",
        {
            "capabilities": {
                "devices": {
                    "create": {
                        "reusable": False,
                        "ephemeral": False,
                        "preauthorized": True,
                        "tags": ["tag:gpu"],
                    }
                }
            },
            "expirySeconds": 3600,
        },
    )["key"]
    endpoint = stack.endpoints["hosts"][0]
    root = stack.state / "hosts" / endpoint["name"] / "root"
    work.mkdir(parents=True, exist_ok=True)
    known_hosts = work / "known_hosts"
    known_hosts.write_text(f"[{endpoint['address']}]:{endpoint['sshPort']} {endpoint['hostKey']}\n")
    words = vllm_command(host, "")
    assert words[1:7:2] == ["--host", "--port", "--served-model-name"], words
    variables = {
        # The sandbox keeps /etc and /var/lib of the "host" under its root (a real host: the defaults).
        "config_dir": f"{root}/etc/sovereign-ai",
        "hf_cache": f"{root}/var/lib/sovereign-ai/huggingface",
        "container": f"vllm-{host.name}",
        "tailscale_hostname": host.tailnet_hostname,
        "tailscale_tags": config.tailnet.gpu_tag,
        "ssh_port": host.ssh_port,
        "vllm_image": host.image,
        "vllm_model": host.model,
        "served_model_name": host.model_id,
        "vllm_port": host.port,
        "vllm_extra_args": words[7:],
    }
    (work / "vars.json").write_text(json.dumps(variables, indent=1))
    (work / "inventory.ini").write_text(
        "[gpu]\n"
        f"{host.name} ansible_host={endpoint['address']} ansible_port={endpoint['sshPort']} "
        f"ansible_user={endpoint['user']} ansible_ssh_private_key_file={endpoint['privateKeyPath']} "
        "ansible_python_interpreter=/usr/bin/python3\n"
    )
    (work / "ansible.cfg").write_text(
        "[defaults]\nhost_key_checking = True\nretry_files_enabled = False\ninterpreter_python = /usr/bin/python3\n"
        "[ssh_connection]\npipelining = True\ntransfer_method = piped\n"
        f"ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={known_hosts}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env |= {"ANSIBLE_CONFIG": str(work / "ansible.cfg"), "TS_AUTH_KEY": key, "ANSIBLE_NOCOLOR": "1"}
    return work, env


def playbook(
    ansible_bin: Path, work: Path, env: dict[str, str], run: int
) -> subprocess.CompletedProcess[str]:
    """One `ansible-playbook` run with a control socket directory of its own (a fresh SSH master)."""
    control = work / f"cp{run}"
    control.mkdir(exist_ok=True)
    result = subprocess.run(
        [str(ansible_bin / "ansible-playbook"), "-i", str(work / "inventory.ini"), "-e", f"@{work / 'vars.json'}",
         str(PLAYBOOK)],
        cwd=work, env=env | {"ANSIBLE_SSH_CONTROL_PATH_DIR": str(control)},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


def run(ansible_bin: Path, work: Path, progress: Any) -> list[AnsibleRun]:
    """Both runs on a fresh sandbox under `work` (stopped whatever happens)."""
    stack = SandboxStack.start(work / "sandbox-ansible")
    window = Window(stack.state)
    try:
        where, env = prepare(stack, work / "ansible")
        runs = []
        for i in (1, 2):
            progress(f"ansible-playbook run {i}/2")
            result, seen = window.watch(lambda i=i: playbook(ansible_bin, where, env, i))  # type: ignore[misc]
            found = RECAP.search(result.stdout)
            assert found, result.stdout[-2000:]
            ok, changed, _, _, skipped = (int(g) for g in found.groups())
            runs.append(AnsibleRun(seen, ok, changed, skipped))
        return runs
    finally:
        stack.stop()
