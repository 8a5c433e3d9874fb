"""sovereign-ai: read the stack config, build the tailnet, the GPU hosts and the gateway, export."""

import pulumi

from components.gateway import Gateway, GatewayArgs
from components.host import InferenceHost, InferenceHostArgs
from components.host.rollout import Rollout
from components.host.tensor_parallel import TensorParallelGroup, TensorParallelGroupArgs
from components.tailnet import Tailnet, TailnetArgs
from config.base_policy import load_policy
from config.fleet import serving_hosts, tensor_parallel_groups, worker_names
from config.loader import load_stack_config
from config.model import ConfigError
from config.plan import PolicyPlan
from tailnet_policy.policy_file import render

try:
    config, secrets = load_stack_config()
    policy = load_policy(config)
    plan = PolicyPlan.from_config(config)
except ConfigError as exc:  # the list of problems, each with its key and fix; no traceback
    raise pulumi.RunError(str(exc)) from None

groups = tensor_parallel_groups(config.hosts)  # Sparks serving one model over Ray (§12)
workers = worker_names(config.hosts)
serving = serving_hosts(config.hosts)  # every host but the workers: the Aperture providers
host_tags = {
    host.name: [config.tailnet.worker_tag if host.name in workers else config.tailnet.gpu_tag]
    for host in config.hosts
}

tailnet = Tailnet(
    "tailnet",
    TailnetArgs(
        policy_text=render(policy),
        hosts=config.hosts,
        gpu_tag=config.tailnet.gpu_tag,
        host_tags=host_tags,
        key_expiry_seconds=config.tailnet.key_expiry_seconds,
        magic_dns=config.tailnet.magic_dns,
        overwrite_existing_policy=config.tailnet.overwrite_existing_policy,
        reset_on_destroy=config.tailnet.base_policy is None,
    ),
)

tailnet_ips: dict[str, pulumi.Output[str]] = {}
dns_names: dict[str, pulumi.Output[str]] = {}
model_base_urls: dict[str, pulumi.Output[str]] = {}
in_groups = {host.name for group in groups for host in (group.head, *group.workers)}

rollout = Rollout(config.hosts)  # hosts serving one model are replaced one at a time (§11)
for host in config.hosts:
    if host.name in in_groups:
        continue
    single = InferenceHost(
        host.name,
        InferenceHostArgs(
            host=host,
            private_key=secrets.ssh_private_key,
            auth_key=tailnet.auth_keys[host.name],
            tags=host_tags[host.name],
            huggingface_token=secrets.huggingface_token,
            vllm_api_key=secrets.vllm_api_key,
            rollout=rollout,
        ),
        opts=pulumi.ResourceOptions(depends_on=[tailnet]),
    )
    tailnet_ips[host.name], dns_names[host.name] = single.tailnet_ip, single.dns_name
    model_base_urls[host.name] = single.model_base_url

for group in groups:
    members = [group.head, *group.workers]
    tp = TensorParallelGroup(
        group.head.name,
        TensorParallelGroupArgs(
            group=group,
            private_key=secrets.ssh_private_key,
            auth_keys={host.name: tailnet.auth_keys[host.name] for host in members},
            tags={host.name: host_tags[host.name] for host in members},
            huggingface_token=secrets.huggingface_token,
            vllm_api_key=secrets.vllm_api_key,
        ),
        opts=pulumi.ResourceOptions(depends_on=[tailnet]),
    )
    tailnet_ips.update(tp.tailnet_ips)
    dns_names.update(tp.dns_names)
    model_base_urls[group.head.name] = tp.model_base_url

gateway = Gateway(
    "gateway",
    GatewayArgs(
        hosts=serving,
        base_urls={h.name: h.base_url or model_base_urls[h.name] for h in serving},
        grants=list(plan.aperture_grants),
        buckets=plan.buckets(),
        priced_as=config.gateway.priced_as,
        environment=config.environment.value,
        api_key=secrets.vllm_api_key,
        after=rollout.restores,
    ),
)

for host in config.hosts:
    pulumi.export(f"{host.name}_tailnet_ip", tailnet_ips[host.name])
    pulumi.export(f"{host.name}_dns_name", dns_names[host.name])
    if host.name in model_base_urls:
        pulumi.export(f"{host.name}_model_base_url", model_base_urls[host.name])
pulumi.export("client_base_url", f"{config.gateway.url}/v1")
pulumi.export("client_api_key", "any-non-empty-placeholder")
pulumi.export("client_model_ids", [h.model_id for h in serving])
pulumi.export("effective_aperture_grants", gateway.effective_grants)
