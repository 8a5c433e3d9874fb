"""InferenceHost: one GB10 box over SSH, from preflight to a vLLM server ready on its tailnet address."""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass
from typing import Any

import pulumi

from components.gateway.gateway import provider_entry
from components.gateway.routing import ProviderRouting
from components.host.host_steps import HF_CACHE, HostSteps, env_file_lines
from components.host.host_steps import reachable_bind as _reachable_bind
from components.host.host_steps import secret as _secret
from components.host.remote_script import script
from components.host.rollout import Rollout
from config.model import HostConfig

DRAIN_TIMEOUT_SECONDS = 300
"""How long a rolling update waits for the requests in flight on a drained host (docs/architecture.md §11)."""


def vllm_command(host: HostConfig, bind_address: str) -> list[str]:
    """The container command: `vllm serve` flags for GB10, bound to `bind_address`."""
    words = (
        [host.model] if not host.image.startswith("nvcr.io/nvidia/vllm") else ["vllm", "serve", host.model]
    )
    words += [
        "--host", bind_address,
        "--port", str(host.port),
        "--served-model-name", host.model_id,
        "--gpu-memory-utilization", str(host.gpu_memory_utilization),
        "--max-model-len", str(host.max_model_len),
        *host.vllm_args,
    ]  # fmt: skip
    return words


@dataclass(frozen=True)
class InferenceHostArgs:
    """One host's settings plus the secrets its steps need."""

    host: HostConfig
    """Validated host settings (SSH address, model, image, flags, port)."""

    private_key: pulumi.Input[str]
    """SSH private key (secret)."""

    auth_key: pulumi.Input[str]
    """The host's single-use Tailscale auth key (secret); reaches the host on stdin only."""

    tags: list[str]
    """Tags the join advertises (the GPU server tag)."""

    huggingface_token: pulumi.Input[str] | None = None
    vllm_api_key: pulumi.Input[str] | None = None

    rollout: Rollout | None = None
    """The stack's rolling groups (`components/host/rollout.py`); a host in none is replaced at once."""


class InferenceHost(pulumi.ComponentResource):
    """A GPU server: preflight -> Tailscale -> join -> firewall -> vLLM container -> readiness.

    Each step is one `remote.Command` running an idempotent script from `components/host/scripts/`.
    Secrets travel on stdin; command output is kept as a secret. Changing the model, image or flags
    replaces only the container step (and the readiness check after it). A `HostState` between the
    firewall and the container looks at the host on refresh, so a container stopped by hand, another
    model or a new tailnet address is reported and repaired by re-running those two steps.
    """

    tailnet_ip: pulumi.Output[str]
    """The host's tailnet IPv4 address."""

    dns_name: pulumi.Output[str]
    """The host's MagicDNS name."""

    model_base_url: pulumi.Output[str]
    """`http://<tailnet-ip>:<port>`, without `/v1` (the Aperture provider base URL)."""

    served_model_ids: pulumi.Output[list[str]]
    """Model ids served at `/v1/models`."""

    def __init__(
        self, name: str, args: InferenceHostArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sovereign-ai:host:InferenceHost", name, None, opts)
        host = args.host
        container_name = f"vllm-{host.name}"
        base = HostSteps(
            self, host, args.private_key, args.auth_key, args.tags, container_name, host.model_id
        )
        step, firewall, state = base.step, base.firewall, base.state
        self.tailnet_ip = base.tailnet_ip
        self.dns_name = base.dns_name
        bind = self.tailnet_ip if host.bind_address is None else pulumi.Output.from_input(host.bind_address)
        secrets_stdin = pulumi.Output.all(args.huggingface_token, args.vllm_api_key).apply(
            lambda values: env_file_lines(values[0], values[1])
        )
        # What replaces the container: a new value is a restart of vLLM (and, in a rolling group, a roll).
        revision = [state.id, host.image, host.model, host.model_id, host.port, *vllm_command(host, "")]
        before_container: list[pulumi.Resource] = [firewall, state]
        rollout = args.rollout if args.rollout is not None and args.rollout.rolls(host) else None
        if rollout is not None:
            drain = self._drain(name, host, [state, *rollout.turn(host)], revision)
            wait = self.tailnet_ip.apply(
                lambda ip: script(
                    "wait_drained.sh",
                    BASE_URL=f"http://{_reachable_bind(host.bind_address, ip)}:{host.port}",
                    TIMEOUT_SECONDS=DRAIN_TIMEOUT_SECONDS,
                )
            )
            # Waits for the requests in flight on the drained host; nothing on create.
            drain_wait = step(
                "drain-wait",
                _on_roll("drain-wait", "a first deploy has no request in flight"),
                [drain],
                update=_with_revision(wait, revision),
            )
            before_container.append(drain_wait)
        container = step(
            "vllm",
            bind.apply(
                lambda address_: script(
                    "vllm_container.sh",
                    CONTAINER=container_name,
                    IMAGE=host.image,
                    VLLM_COMMAND=" ".join(shlex.quote(w) for w in vllm_command(host, address_)),
                    HF_CACHE=HF_CACHE,
                )
            ),
            before_container,
            stdin=_secret(secrets_stdin),
            delete=script("vllm_remove.sh", CONTAINER=container_name),
            triggers=revision,
            # One container per host, by name: the old one goes before the new one starts, or the old
            # step's delete would remove the new container.
            delete_before_replace=True,
        )
        self.model_base_url = self.tailnet_ip.apply(lambda ip: f"http://{ip}:{host.port}")
        ready_script = self.tailnet_ip.apply(
            lambda ip: script(
                "wait_ready.sh",
                BASE_URL=f"http://{_reachable_bind(host.bind_address, ip)}:{host.port}",
                MODEL_ID=host.model_id,
                CONTAINER=container_name,
                TIMEOUT_SECONDS=host.readiness_timeout_minutes * 60,
            )
        )
        api_key_stdin = _secret(pulumi.Output.from_input(args.vllm_api_key or ""))
        step("ready", ready_script, [container], stdin=api_key_stdin, triggers=[container.id])
        if rollout is not None:
            # On a roll, waits for the new container's readiness; nothing on create, so on a first
            # deploy the next host does not wait for this one's model load.
            roll_ready = step(
                "roll-ready",
                _on_roll("roll-ready", f"on a first deploy {name}-ready checks readiness"),
                [container],
                stdin=api_key_stdin,
                update=_with_revision(ready_script, revision),
            )
            restore = self._restore(name, host, drain, roll_ready, revision, args.vllm_api_key)
            rollout.done(host, restore)
        self.served_model_ids = pulumi.Output.from_input([host.model_id])
        self.register_outputs(
            {
                "tailnet_ip": self.tailnet_ip,
                "dns_name": self.dns_name,
                "model_base_url": self.model_base_url,
                "served_model_ids": self.served_model_ids,
            }
        )

    def _drain(
        self, name: str, host: HostConfig, after: list[pulumi.Resource], revision: list[Any]
    ) -> ProviderRouting:
        """Out of the gateway's routing, once `after` (the previous host's restore) is done."""
        return ProviderRouting(
            f"{name}-drain",
            {"provider_id": host.name, "model_id": host.model_id, "routed": False, "revision": revision},
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )

    def _restore(
        self,
        name: str,
        host: HostConfig,
        drain: ProviderRouting,
        roll_ready: pulumi.Resource,
        revision: list[Any],
        api_key: pulumi.Input[str] | None,
    ) -> ProviderRouting:
        """Back into the gateway's routing once ready: the provider as the drain found it, with
        what the host now serves (`Gateway`'s entry for it)."""
        entry = pulumi.Output.all(host.base_url or self.model_base_url, api_key).apply(
            lambda values: provider_entry(host, values[0], values[1])
        )
        return ProviderRouting(
            f"{name}-restore",
            {
                "provider_id": host.name,
                "model_id": host.model_id,
                "routed": True,
                "revision": revision,
                "provider": pulumi.Output.secret(entry),
                "previous": drain.entry,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[roll_ready]),
        )


def _on_roll(step_name: str, why: str) -> str:
    """The create command of a step that acts only on a roll (its `update`): says why, changes nothing."""
    return f"echo '{step_name}: nothing to do on create: {why}'\n"


def _with_revision(command: pulumi.Output[str], revision: list[Any]) -> pulumi.Output[str]:
    """`command` with the revision's digest as its first line, so a new revision is an update."""
    digest = pulumi.Output.all(*revision).apply(
        lambda values: hashlib.sha256(json.dumps(values, default=str).encode()).hexdigest()[:16]
    )
    return pulumi.Output.all(digest, command).apply(lambda v: f"export REVISION={v[0]}\n{v[1]}")
