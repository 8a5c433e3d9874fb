"""`HostSteps`: the steps every GPU server gets, preflight to `HostState`, and the factory for the rest.

`InferenceHost` (one Spark serving a model) and `TensorParallelGroup` (Sparks serving one model over
Ray) both start a host the same way: preflight -> Tailscale -> join -> firewall -> `HostState`. Each
step is one `remote.Command` running an idempotent script from `components/host/scripts/`, its output
kept secret; secrets travel on stdin.
"""

from __future__ import annotations

from typing import Any, cast

import pulumi
from pulumi_command import remote

from components.host.host_state import HostState, HostStateArgs
from components.host.remote_script import script
from config.model import HostConfig

SECRET_STREAMS = ["stdout", "stderr"]

HF_CACHE = "/var/lib/sovereign-ai/huggingface"
"""Host directory mounted as the container's Hugging Face cache, so weights survive restarts."""


def env_file_lines(hf_token: str | None, vllm_api_key: str | None) -> str:
    """The container's env file body (sent on stdin, written 0600 on the host)."""
    lines = []
    if hf_token:
        lines.append(f"HF_TOKEN={hf_token}")
    if vllm_api_key:
        lines.append(f"VLLM_API_KEY={vllm_api_key}")
    return "\n".join(lines) + ("\n" if lines else "")


def reachable_bind(bind_address: str | None, tailnet_ip: str) -> str:
    """Where a readiness check connects: the bind address unless it is a wildcard."""
    return tailnet_ip if bind_address in (None, "0.0.0.0") else str(bind_address)


def secret(value: pulumi.Output[str]) -> pulumi.Output[str]:
    """`Output.secret`, typed (its stub infers `Never` for an `Output` argument)."""
    return cast(pulumi.Output[str], pulumi.Output.secret(cast(Any, value)))


class HostSteps:
    """One host's first steps, registered as children of `parent`, and `step` for the ones after.

    `firewall` and `state` are what a container step waits for; `tailnet_ip` and `dns_name` come from
    `state`. `link_interface` (a tensor-parallel group's QSFP link) also lets the host's Ray and NCCL
    traffic in on that interface; without it the firewall step is exactly a lone host's.
    """

    def __init__(
        self,
        parent: pulumi.Resource,
        host: HostConfig,
        private_key: pulumi.Input[str],
        auth_key: pulumi.Input[str],
        tags: list[str],
        container: str,
        model_id: str,
        link_interface: str | None = None,
    ) -> None:
        self.parent = parent
        self.host = host
        self.connection = remote.ConnectionArgs(
            host=host.address,
            port=host.ssh_port,
            user=host.user,
            private_key=private_key,
            host_key=host.host_key,
        )
        preflight = self.step("preflight", script("preflight.sh"), [])
        install = self.step("install-tailscale", script("install_tailscale.sh"), [preflight])
        join = self.step(
            "join",
            script("join_tailnet.sh", TS_HOSTNAME=host.tailnet_hostname, TS_TAGS=",".join(tags)),
            [install],
            stdin=auth_key,
            triggers=[host.tailnet_hostname, *tags],
            # The single-use key is spent by the join and then re-minted (recreate_if_invalid);
            # a new key alone must not re-run the join. A new hostname or tag set does.
            ignore_changes=["stdin"],
        )
        firewall_script = script("firewall.sh", SSH_PORT=host.ssh_port)
        if link_interface is not None:
            firewall_script += script("firewall_link.sh", LINK_INTERFACE=link_interface)
        self.firewall = self.step("firewall", firewall_script, [join])
        # Looks at the host on every refresh (remote.Command cannot): a stopped container, another
        # model or a new address replaces it, and its new id re-runs the container step after it.
        self.state = HostState(
            f"{host.name}-state",
            HostStateArgs(
                connection={
                    "host": host.address,
                    "port": host.ssh_port,
                    "user": host.user,
                    "private_key": private_key,
                    "host_key": host.host_key,
                },
                container=container,
                model_id=model_id,
                join_id=join.id,
            ),
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[self.firewall]),
        )
        self.tailnet_ip: pulumi.Output[str] = self.state.tailnet_ip
        self.dns_name: pulumi.Output[str] = self.state.dns_name

    def step(
        self,
        step_name: str,
        create: pulumi.Input[str],
        after: list[pulumi.Resource],
        stdin: pulumi.Input[str] | None = None,
        delete: str | None = None,
        update: pulumi.Input[str] | None = None,
        triggers: list[Any] | None = None,
        ignore_changes: list[str] | None = None,
        delete_before_replace: bool = False,
    ) -> remote.Command:
        """`<host>-<step_name>`: one command over SSH, after the steps in `after`."""
        return remote.Command(
            f"{self.host.name}-{step_name}",
            connection=self.connection,
            create=create,
            update=update,
            delete=delete,
            stdin=stdin,
            triggers=triggers,
            opts=pulumi.ResourceOptions(
                parent=self.parent,
                depends_on=after,
                additional_secret_outputs=SECRET_STREAMS,
                ignore_changes=ignore_changes,
                delete_before_replace=delete_before_replace,
            ),
        )
