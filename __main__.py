"""sovereign-ai: read the stack config, build the tailnet, the GPU hosts and the gateway, export."""

import pulumi

from components.gateway import Gateway, GatewayArgs
from components.host import InferenceHost, InferenceHostArgs
from components.host.rollout import Rollout
from components.tailnet import Tailnet, TailnetArgs
from config.base_policy import load_policy
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

tailnet = Tailnet(
    "tailnet",
    TailnetArgs(
        policy_text=render(policy),
        hosts=config.hosts,
        gpu_tag=config.tailnet.gpu_tag,
        key_expiry_seconds=config.tailnet.key_expiry_seconds,
        magic_dns=config.tailnet.magic_dns,
        overwrite_existing_policy=config.tailnet.overwrite_existing_policy,
        reset_on_destroy=config.tailnet.base_policy is None,
    ),
)

rollout = Rollout(config.hosts)  # hosts serving one model are replaced one at a time (§11)
hosts = {
    host.name: InferenceHost(
        host.name,
        InferenceHostArgs(
            host=host,
            private_key=secrets.ssh_private_key,
            auth_key=tailnet.auth_keys[host.name],
            tags=[config.tailnet.gpu_tag],
            huggingface_token=secrets.huggingface_token,
            vllm_api_key=secrets.vllm_api_key,
            rollout=rollout,
        ),
        opts=pulumi.ResourceOptions(depends_on=[tailnet]),
    )
    for host in config.hosts
}

gateway = Gateway(
    "gateway",
    GatewayArgs(
        hosts=config.hosts,
        base_urls={h.name: h.base_url or hosts[h.name].model_base_url for h in config.hosts},
        grants=list(plan.aperture_grants),
        buckets=plan.buckets(),
        priced_as=config.gateway.priced_as,
        environment=config.environment.value,
        api_key=secrets.vllm_api_key,
        after=rollout.restores,
    ),
)

for name, host in hosts.items():
    pulumi.export(f"{name}_tailnet_ip", host.tailnet_ip)
    pulumi.export(f"{name}_dns_name", host.dns_name)
    pulumi.export(f"{name}_model_base_url", host.model_base_url)
pulumi.export("client_base_url", f"{config.gateway.url}/v1")
pulumi.export("client_api_key", "any-non-empty-placeholder")
pulumi.export("client_model_ids", [h.model_id for h in config.hosts])
pulumi.export("effective_aperture_grants", gateway.effective_grants)
