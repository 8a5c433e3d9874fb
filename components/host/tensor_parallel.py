"""`TensorParallelGroup`: Sparks serving one model together, over Ray on their QSFP link (docs/architecture.md §12).

The steps follow NVIDIA's dgx-spark-playbooks `nvidia/vllm/README.md`: on every member a Ray node in
a container (`ray_node.sh`: the head first, then each worker, joined over the link), then on the head
`ray status` until the cluster sees every GPU (`wait_ray.sh`), then `vllm serve --tensor-parallel-size
N --distributed-executor-backend ray` started in the head's container and checked for readiness
(`tp_serve.sh` + `wait_ready.sh`, one step, so a failed start is run again by the next `up`):

    <each>-preflight -> ... -> <each>-firewall (+ the link) -> <each>-state -> <each>-link
    <head>-ray -> <worker>-ray ... -> <head>-ray-ready -> <head>-vllm

The head is the group's one Aperture provider, at its tailnet address; the workers join the tailnet
with the worker tag, which the generated policy lets reach nothing and admins reach on SSH only.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_command import remote

from components.host.host_steps import HF_CACHE, HostSteps, env_file_lines, reachable_bind, secret
from components.host.inference_host import vllm_command
from components.host.remote_script import script
from config.fleet import TensorParallelGroup as GroupConfig
from config.model import HostConfig

RAY_TIMEOUT_SECONDS = 600
"""How long `<head>-ray-ready` waits for every worker's GPU to join (the Ray install takes ~10 s per node)."""

SERVE_HEADER = "# vllm serve on a tensor-parallel head: stop an earlier one, start this one, wait until ready"
"""The first line of `<head>-vllm`'s command (what its log and the sandbox's audit show first)."""

SERVER_PID_FILE = ".vllm-serve.pid"
"""Where `tp_serve.sh` keeps the server's pid in the head's container (under its `$HOME`)."""


def ray_container(host: HostConfig) -> str:
    """The Ray node's container on a member of a group."""
    return f"ray-{host.name}"


def tp_vllm_command(group: GroupConfig, bind_address: str) -> list[str]:
    """`vllm serve` on the head: its flags (`vllm_command`) plus the tensor-parallel ones."""
    words = vllm_command(group.head, bind_address)
    if words[:2] != ["vllm", "serve"]:
        words = ["vllm", "serve", *words]  # the container's entrypoint is bash, not vLLM's
    return [*words, "--tensor-parallel-size", str(group.size), "--distributed-executor-backend", "ray"]


@dataclass(frozen=True)
class TensorParallelGroupArgs:
    """A group's settings plus the secrets its steps need."""

    group: GroupConfig
    """The head, its workers, the link interface and the tensor-parallel size (`config.fleet`)."""

    private_key: pulumi.Input[str]
    """SSH private key (secret)."""

    auth_keys: dict[str, pulumi.Output[str]]
    """Each member's single-use Tailscale auth key (secret), by host name."""

    tags: dict[str, list[str]]
    """Each member's tags: the GPU tag for the head, the worker tag for the workers."""

    huggingface_token: pulumi.Input[str] | None = None
    vllm_api_key: pulumi.Input[str] | None = None


class TensorParallelGroup(pulumi.ComponentResource):
    """Two or more GB10 boxes serving one model with tensor parallelism: Ray on the link, vLLM on the head."""

    tailnet_ips: dict[str, pulumi.Output[str]]
    """Each member's tailnet IPv4 address, by host name."""

    dns_names: dict[str, pulumi.Output[str]]
    """Each member's MagicDNS name, by host name."""

    model_base_url: pulumi.Output[str]
    """`http://<head's tailnet ip>:<port>`: the group's one Aperture provider."""

    def __init__(
        self, name: str, args: TensorParallelGroupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sovereign-ai:host:TensorParallelGroup", name, None, opts)
        group, head = args.group, args.group.head
        members = [head, *group.workers]
        bases = {
            host.name: HostSteps(
                self,
                host,
                args.private_key,
                args.auth_keys[host.name],
                args.tags[host.name],
                ray_container(host),
                "",  # a Ray node's command names no served model
                group.link_interface,
            )
            for host in members
        }
        self.tailnet_ips = {host_name: base.tailnet_ip for host_name, base in bases.items()}
        self.dns_names = {host_name: base.dns_name for host_name, base in bases.items()}
        links = {host.name: self._link(bases[host.name], group.link_interface) for host in members}
        env_stdin = secret(
            pulumi.Output.all(args.huggingface_token, args.vllm_api_key).apply(
                lambda values: env_file_lines(values[0], values[1])
            )
        )
        head_ip = links[head.name]
        head_ray = self._ray(bases[head.name], group, "head", head_ip, head_ip, [], env_stdin)
        rays: list[remote.Command] = [head_ray] + [
            self._ray(bases[worker.name], group, "worker", links[worker.name], head_ip, [head_ray], env_stdin)
            for worker in group.workers
        ]
        head_base = bases[head.name]
        ray_ready = head_base.step(
            "ray-ready",
            script(
                "wait_ray.sh",
                CONTAINER=ray_container(head),
                GPUS=group.size,
                TIMEOUT_SECONDS=RAY_TIMEOUT_SECONDS,
            ),
            list[pulumi.Resource](rays),
            triggers=[ray.id for ray in rays],
        )
        bind = (
            head_base.tailnet_ip if head.bind_address is None else pulumi.Output.from_input(head.bind_address)
        )
        serve = pulumi.Output.all(bind, head_base.tailnet_ip).apply(
            lambda values: self._serve_script(group, str(values[0]), str(values[1]))
        )
        head_base.step(
            "vllm",
            serve,
            [ray_ready],
            stdin=secret(pulumi.Output.from_input(args.vllm_api_key or "")),
            delete=script("tp_stop.sh", CONTAINER=ray_container(head)),
            triggers=[ray_ready.id, head.model, head.model_id, head.port, *tp_vllm_command(group, "")],
            delete_before_replace=True,
        )
        self.model_base_url = head_base.tailnet_ip.apply(lambda ip: f"http://{ip}:{head.port}")
        self.register_outputs(
            {
                "tailnet_ips": self.tailnet_ips,
                "dns_names": self.dns_names,
                "model_base_url": self.model_base_url,
            }
        )

    @staticmethod
    def _link(base: HostSteps, interface: str) -> pulumi.Output[str]:
        """The member's address on the link (`link_address.sh`'s last line), once its `HostState` is there."""
        link = base.step(
            "link",
            script("link_address.sh", LINK_INTERFACE=interface),
            [base.state],
            triggers=[interface],
        )
        # Not a secret: an address on a cable between two boxes; the command output is kept secret.
        address: pulumi.Output[str] = pulumi.Output.unsecret(link.stdout).apply(
            lambda out: out.strip().splitlines()[-1] if out.strip() else ""
        )
        return address

    @staticmethod
    def _ray(
        base: HostSteps,
        group: GroupConfig,
        role: str,
        node_ip: pulumi.Output[str],
        head_ip: pulumi.Output[str],
        after: list[remote.Command],
        env_stdin: pulumi.Output[str],
    ) -> remote.Command:
        """The member's Ray node container; replaced with the image, an address or the head's node."""
        host = base.host
        container = ray_container(host)
        create = pulumi.Output.all(node_ip, head_ip).apply(
            lambda ips: script(
                "ray_node.sh",
                CONTAINER=container,
                IMAGE=group.head.image,
                ROLE=role,
                NODE_IP=str(ips[0]),
                HEAD_IP=str(ips[1]),
                LINK_INTERFACE=group.link_interface,
                HF_CACHE=HF_CACHE,
            )
        )
        triggers: list[Any] = [base.state.id, group.head.image, node_ip, head_ip, group.size]
        triggers += [resource.id for resource in after]
        return base.step(
            "ray",
            create,
            [base.state, *after],
            stdin=env_stdin,
            delete=script("vllm_remove.sh", CONTAINER=container),
            triggers=triggers,
            # One container per host, by name: the old one goes before the new one starts.
            delete_before_replace=True,
        )

    @staticmethod
    def _serve_script(group: GroupConfig, bind_address: str, tailnet_ip: str) -> str:
        """`tp_stop.sh`, `tp_serve.sh`, `wait_ready.sh` on the head: stop an earlier `vllm serve`,
        start this one, wait until it serves."""
        head = group.head
        container = ray_container(head)
        command = " ".join(shlex.quote(word) for word in tp_vllm_command(group, bind_address))
        return (
            f"{SERVE_HEADER}\n"
            + script("tp_stop.sh", CONTAINER=container)
            + script("tp_serve.sh", CONTAINER=container, VLLM_COMMAND=command)
            + script(
                "wait_ready.sh",
                BASE_URL=f"http://{reachable_bind(head.bind_address, tailnet_ip)}:{head.port}",
                MODEL_ID=head.model_id,
                CONTAINER=container,
                SERVER_PID_FILE=SERVER_PID_FILE,
                TIMEOUT_SECONDS=head.readiness_timeout_minutes * 60,
            )
        )
