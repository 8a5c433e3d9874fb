"""A running sandbox and a copy of the project pointed at it, driven by the real `pulumi` CLI.

`SandboxStack.start(tmp)` starts `python -m sandbox up` on OS-chosen loopback ports, copies the
program (Pulumi.yaml, `__main__.py`, components, scripts, policies) with `Pulumi.sandbox.yaml`
rewritten for those ports, and links `.sandbox` to the sandbox's state directory, so the stack file's
`file:.sandbox/...` host key and private key paths resolve as they do for `make demo`. Commands run
as `scripts/stack.sh` runs them: stack `sandbox`, the policy pack with the environment's config.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from config.model import StackConfig, parse_config
from sandbox import faults, features
from testing.engine import PROGRAM_PACKAGES, ROOT, engine_env

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
COPIED = ("Pulumi.yaml", "__main__.py", "requirements.txt", "Pulumi.sandbox.yaml")
COPIED_DIRS = (*PROGRAM_PACKAGES, "scripts", "policies")
SANDBOX_PASSPHRASE = "sovereign-ai-local"
"""The passphrase the committed `encryptionsalt` of Pulumi.sandbox.yaml is for (scripts/stack.sh)."""


def sandbox(state: Path, command: str, *options: str) -> subprocess.CompletedProcess[str]:
    """`python -m sandbox <command>` on this state directory (`up` on OS-chosen ports, with `options`)."""
    return subprocess.run(
        [sys.executable, "-m", "sandbox", command, "--state-dir", str(state), "--port-base", "0", *options]
        if command == "up"
        else [sys.executable, "-m", "sandbox", command, "--state-dir", str(state)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@dataclass
class SandboxStack:
    """The sandbox's state directory and endpoints, the project copy and the engine environment."""

    state: Path
    project: Path
    env: dict[str, str]
    endpoints: dict[str, Any]
    audit_mark: int = field(default=0)

    @classmethod
    def start(
        cls, tmp: Path, visible_groups: bool = False, hosts: int = 1, vllm_startup_seconds: float = 0.0
    ) -> SandboxStack:
        """`visible_groups`: the tailnet starts with Aperture's visible groups on (sandbox/features.py);
        `hosts` emulated GB10 hosts whose fake vLLM loads for `vllm_startup_seconds` (the stack file
        still names the first host only: `use_hosts` declares them all)."""
        state = tmp / "sandbox"
        options = ["--hosts", str(hosts), "--vllm-startup-seconds", str(vllm_startup_seconds)]
        started = sandbox(state, "up", *(["--visible-groups"] if visible_groups else []), *options)
        assert started.returncode == 0, started.stdout + started.stderr
        endpoints = json.loads((state / "endpoints.json").read_text())
        project = tmp / "project"
        project.mkdir()
        for name in COPIED:
            shutil.copy(ROOT / name, project / name)
        for name in COPIED_DIRS:
            shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__", "venv"))
        (project / "venv").symlink_to(ROOT / "venv")
        (project / "policies" / "venv").symlink_to(ROOT / "policies" / "venv")
        (project / ".sandbox").symlink_to(state)
        _point_at(project / "Pulumi.sandbox.yaml", endpoints)
        env = engine_env(tmp) | {
            "PULUMI_CONFIG_PASSPHRASE": SANDBOX_PASSPHRASE,
            "TAILSCALE_API_KEY": endpoints["tailscale"]["apiKey"],
        }
        return cls(state, project, env, endpoints)

    def stop(self) -> None:
        stopped = sandbox(self.state, "down")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr

    # -- engine ------------------------------------------------------------------------------------

    def pulumi(
        self, *args: str, stack: str = "sandbox", timeout: int = 600
    ) -> subprocess.CompletedProcess[str]:
        """`pulumi <args> --stack <stack> --non-interactive` in the project copy."""
        return subprocess.run(
            ["pulumi", *args, "--stack", stack, "--non-interactive"],
            cwd=self.project, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def init(self) -> None:
        """Create stack `sandbox` in the backend (what `scripts/stack.sh` does before its first run)."""
        result = subprocess.run(
            ["pulumi", "stack", "select", "--create", "sandbox", "--non-interactive"],
            cwd=self.project, env=self.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr

    def stack_sh(self, action: str, stack: str = "sandbox") -> subprocess.CompletedProcess[str]:
        """`scripts/stack.sh <action> <stack>`: what `make preview|up STACK=<stack>` runs."""
        return subprocess.run(
            ["scripts/stack.sh", action, stack],
            cwd=self.project, env=self.env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip

    def config(self) -> StackConfig:
        """The stack file's `sovereign-ai:*` config as the program validates it, with this sandbox's host key."""
        raw = yaml.safe_load((self.project / "Pulumi.sandbox.yaml").read_text())["config"]
        values = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("sovereign-ai:")}
        values.pop("sshPrivateKeyPath")
        values["secrets"] = {"sshPrivateKey": True}
        keys = {host["name"]: host["hostKey"] for host in self.endpoints["hosts"]}
        for host in values["hosts"]:
            host["hostKey"] = keys.get(host["name"], host["hostKey"])
        return parse_config(values)

    def outputs(self) -> dict[str, Any]:
        result = self.pulumi("stack", "output", "--json", "--show-secrets")
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    def resources(self) -> list[dict[str, Any]]:
        """The stack's resources from `pulumi stack export` (secrets stay ciphertext)."""
        result = self.pulumi("stack", "export")
        assert result.returncode == 0, result.stderr
        return list(json.loads(result.stdout)["deployment"].get("resources") or [])

    # -- the sandbox's audit log -------------------------------------------------------------------

    def audit(self) -> list[dict[str, Any]]:
        path = self.state / "audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def mark(self) -> None:
        """Remember where the audit log is, so `since_mark` returns only what follows."""
        self.audit_mark = len(self.audit())

    def since_mark(self) -> list[dict[str, Any]]:
        return self.audit()[self.audit_mark :]

    # -- fault switches (sandbox/faults.py) --------------------------------------------------------

    def arm(self, name: str, **spec: Any) -> None:
        """Set one fault switch of the running sandbox (`tailscale.error`, `host.drop`, ...)."""
        faults.arm(self.state, name, **spec)

    def clear_faults(self) -> None:
        """Every fault switch off: the sandbox behaves normally again."""
        faults.clear(self.state)

    def faults(self) -> dict[str, Any]:
        """The switches as the sandbox sees them now (with its `fired` counts and notes)."""
        return faults.read(faults.faults_path(self.state))

    def shim_calls(self, host: int = 0) -> list[dict[str, Any]]:
        """Every shim invocation on emulated host `host` (`{"shim", "argv", "sudo"}`), in order."""
        path = self._host_state(host) / "shim_calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def containers(self, host: int = 0) -> dict[str, Any]:
        """Emulated host `host`'s Docker containers by name (`state/docker.json`)."""
        path = self._host_state(host) / "docker.json"
        return dict(json.loads(path.read_text())["containers"]) if path.exists() else {}

    def _host_state(self, host: int) -> Path:
        return self.state / "hosts" / self.endpoints["hosts"][host]["name"] / "state"

    def set_vllm_startup(self, seconds: float) -> None:
        """How long fake vLLM containers started from now on take to load, on every host."""
        for index in range(len(self.endpoints["hosts"])):
            path = self._host_state(index) / "settings.json"
            settings = json.loads(path.read_text()) if path.exists() else {}
            path.write_text(json.dumps({**settings, "vllm_startup_seconds": seconds}))

    def set_secret(self, key: str, value: str, stack: str = "sandbox") -> None:
        """`pulumi config set --secret <key>`, the value on stdin (never on a command line)."""
        result = subprocess.run(
            ["pulumi", "config", "set", "--secret", "--stack", stack, key, "--non-interactive"],
            input=value, cwd=self.project, env=self.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr

    def set_host(self, index: int = 0, **values: Any) -> None:
        """Change keys of host `index` in the project's `Pulumi.sandbox.yaml` (e.g. a timeout)."""
        self._update_config(values, "sovereign-ai:hosts", index)

    def use_hosts(self, **values: Any) -> None:
        """Declare every emulated host in `Pulumi.sandbox.yaml`, each as the first is (its model,
        limits) with its own name, SSH port and host key file, plus `values` on each."""
        stack_file = self.project / "Pulumi.sandbox.yaml"
        document = yaml.safe_load(stack_file.read_text())
        first = document["config"]["sovereign-ai:hosts"][0]
        document["config"]["sovereign-ai:hosts"] = [
            {
                **first,
                "name": host["name"],
                "sshPort": host["sshPort"],
                "hostKey": f"file:.sandbox/hosts/{host['name']}/ssh_host_ed25519_key.pub",
                **values,
            }
            for host in self.endpoints["hosts"]
        ]
        stack_file.write_text(yaml.safe_dump(document, sort_keys=False))

    def set_gateway(self, **values: Any) -> None:
        """Change keys of `sovereign-ai:gateway` in the project's `Pulumi.sandbox.yaml`."""
        self._update_config(values, "sovereign-ai:gateway")

    def set_tailnet(self, **values: Any) -> None:
        """Change keys of `sovereign-ai:tailnet` in the project's `Pulumi.sandbox.yaml`."""
        self._update_config(values, "sovereign-ai:tailnet")

    def _update_config(self, values: dict[str, Any], key: str, index: int | None = None) -> None:
        """Update the object at config `key` (its item `index` when a list) in `Pulumi.sandbox.yaml`."""
        stack_file = self.project / "Pulumi.sandbox.yaml"
        document = yaml.safe_load(stack_file.read_text())
        section = document["config"][key]
        (section if index is None else section[index]).update(values)
        stack_file.write_text(yaml.safe_dump(document, sort_keys=False))

    def set_feature(self, name: str, on: bool) -> None:
        """Switch a feature of the running sandbox's tailnet (`visibleGroups`; sandbox/features.py)."""
        features.set_feature(self.state, name, on)

    # -- the emulated services ---------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        """One Tailscale API request with the sandbox's key; the JSON body (HTTPError from 400 on)."""
        data = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
        request = urllib.request.Request(
            self.endpoints["tailscale"]["baseUrl"] + path, data=data, method=method
        )
        credential = base64.b64encode(f"{self.endpoints['tailscale']['apiKey']}:".encode()).decode()
        request.add_header("Authorization", f"Basic {credential}")
        request.add_header("Content-Type", content_type)
        request.add_header("Accept", "application/json")
        with OPENER.open(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def policy_text(self) -> str:
        request = urllib.request.Request(self.endpoints["tailscale"]["baseUrl"] + "/api/v2/tailnet/-/acl")
        credential = base64.b64encode(f"{self.endpoints['tailscale']['apiKey']}:".encode()).decode()
        request.add_header("Authorization", f"Basic {credential}")
        request.add_header("Accept", "application/hujson")
        with OPENER.open(request, timeout=30) as response:
            return str(response.read().decode())

    def gateway(
        self, path: str, identity: str, body: Any = None, method: str | None = None
    ) -> tuple[int, Any]:
        """One request to the emulated Aperture as `identity`: (status, JSON body or text)."""
        data = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
        request = urllib.request.Request(self.endpoints["aperture"]["url"] + path, data=data, method=method)
        request.add_header("X-Sandbox-Identity", identity)
        request.add_header("Content-Type", "application/json")
        try:
            with OPENER.open(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def aperture_config(self) -> tuple[str, str]:
        """The gateway's config document (keys redacted, as Aperture shows it) and its ETag."""
        request = urllib.request.Request(self.endpoints["aperture"]["url"] + "/aperture/config")
        request.add_header("X-Sandbox-Identity", "admin@example.com")
        with OPENER.open(request, timeout=30) as response:
            return str(json.loads(response.read())["config"]), str(response.headers["ETag"])

    def put_aperture_config(self, text: str, etag: str) -> tuple[int, Any]:
        """Save a whole config document as an admin would in the dashboard (`If-Match` its ETag)."""
        request = urllib.request.Request(
            self.endpoints["aperture"]["url"] + "/aperture/config",
            data=json.dumps({"config": text}).encode(),
            method="PUT",
        )
        request.add_header("X-Sandbox-Identity", "admin@example.com")
        request.add_header("Content-Type", "application/json")
        request.add_header("If-Match", etag)
        try:
            with OPENER.open(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def ssh(self, command: str, host_index: int = 0) -> subprocess.CompletedProcess[str]:
        """A command on an emulated GPU host over real SSH, as a person at a terminal would run it."""
        host = self.endpoints["hosts"][host_index]
        known_hosts = self.state / "test_known_hosts"
        known_hosts.write_text(f"[{host['address']}]:{host['sshPort']} {host['hostKey']}\n")
        return subprocess.run(
            ["ssh", "-o", f"UserKnownHostsFile={known_hosts}", "-o", "BatchMode=yes", "-i", host["privateKeyPath"],
             "-p", str(host["sshPort"]), f"{host['user']}@{host['address']}", command],
            capture_output=True, text=True, timeout=60, env=dict(os.environ),
        )  # fmt: skip


def _point_at(stack_file: Path, endpoints: dict[str, Any]) -> None:
    """Rewrite the sandbox stack file's ports for this sandbox (text edits keep the encryptionsalt)."""
    document = yaml.safe_load(stack_file.read_text())
    config = document["config"]
    config["tailscale:baseUrl"] = endpoints["tailscale"]["baseUrl"]
    config["sovereign-ai:gateway"]["url"] = endpoints["aperture"]["url"]
    config["sovereign-ai:hosts"][0]["sshPort"] = endpoints["hosts"][0]["sshPort"]
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
