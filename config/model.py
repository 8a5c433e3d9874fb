"""The stack configuration: one pydantic model for the whole `sovereign-ai:*` namespace.

Pure module: no Pulumi import, so the policy pack and the sandbox reuse it. `config.loader` reads
the stack's config into it once, before any resource is registered. Every error names the config key
path, the bad value (never a secret's) and the fix.

Secrets (the SSH private key, the Hugging Face token, the vLLM API key, the Tailscale credential)
are not part of this model: they stay Pulumi secrets end to end. The model only records whether
they are set, so that rules such as "production needs a pinned host key" can run here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel

from config.fields import (
    API_KEY_PLACEHOLDER,
    AUTOGROUPS,
    DEFAULT_GPU_MEMORY_UTILIZATION,
    DEFAULT_IMAGE,
    DEFAULT_MAX_MODEL_LEN,
    DEFAULT_MODEL,
    DEFAULT_PORT,
    DEFAULT_TAILNET_RANGE,
    GROUP_RE,
    HOSTNAME_RE,
    LINK_INTERFACE_RE,
    LOGIN_RE,
    MAX_GPU_MEMORY_UTILIZATION,
    NAMESPACE,
    OWNED_FLAGS,
    PIPELINE_PARALLEL_FLAGS,
    RESOURCE_NAME_RE,
    SHORT_DNS_NAME_RE,
    ConfigModel,
    Environment,
    check_identities,
    check_private_url,
    check_tag,
    must_match,
)
from config.gateway import GatewayConfig


class TailnetConfig(ConfigModel):
    """The tailnet side: who administers, who may use the model, and the tags that mark roles."""

    admins: Annotated[list[str], Field(min_length=1)]
    """Logins or groups that may administer the GPU servers (SSH) and the gateway (Aperture admin)."""

    model_users: Annotated[list[str], Field(min_length=1)]
    """Logins, groups or autogroups that may call the model through the gateway."""

    groups: dict[str, list[str]] = {}
    """Groups the program declares in the policy file, e.g. `group:ai-users: [alice@example.com]`; members are logins."""

    gpu_tag: str = "tag:gpu"
    """Tag carried by every GPU server (applied through its auth key)."""

    gateway_tag: str | None = "tag:aperture"
    """Tag of the Aperture gateway node, the only source allowed to reach the model port; `null` when you set `gatewayAddress` instead."""

    gateway_address: str | None = None
    """The gateway's tailnet IPv4 address, when it is not tagged (Aperture nodes often are not)."""

    deploy_tag: str | None = None
    """Tag the deploying machines (CI runners) join with, e.g. `tag:deploy`: owned by the admins only, it reaches the GPU servers on tcp:22 and the gateway on tcp:80/443 and gets the Aperture admin role, never the model port (see "CI deploys as a tagged machine"). Without it you deploy as one of `admins`."""

    worker_tag: str = "tag:gpu-worker"
    """Tag carried by each tensor-parallel worker (`hosts[].tensorParallel.workers`) instead of `gpuTag`: owned by the admins, it is reached on tcp:22 by the admins (and `deployTag`) only, never on the model port, since a worker serves nothing itself; unused without workers."""

    address_range: str = DEFAULT_TAILNET_RANGE
    """The tailnet's address range (Tailscale's CGNAT range unless you changed `ipPool`)."""

    magic_dns: bool = True
    """Turn MagicDNS on, so clients reach the gateway by its short name (`http://ai`)."""

    base_policy: str | None = None
    """Path (relative to the project) of your own HuJSON policy file; the generated rules and tests are merged into it (see "Your existing policy file")."""

    overwrite_existing_policy: bool = False
    """Let the stack replace a policy file that is neither Tailscale's default nor one this project wrote (see "Taking over an existing policy file")."""

    key_expiry_seconds: Annotated[int, Field(ge=300, le=86400)] = 3600
    """Lifetime of each host's single-use auth key: it only has to survive the join."""

    @field_validator("admins")
    @classmethod
    def _admins(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry in AUTOGROUPS and entry not in ("autogroup:admin", "autogroup:owner"):
                raise ValueError(f"{entry!r} is wider than administrators: list logins or a group of admins")
        return list(check_identities(value, "login or group"))

    @field_validator("model_users")
    @classmethod
    def _model_users(cls, value: list[str]) -> list[str]:
        if "autogroup:danger-all" in value:
            raise ValueError(
                "'autogroup:danger-all' includes devices outside your tailnet: "
                "list logins or groups of people who may use the model"
            )
        return list(check_identities(value, "login, group or autogroup"))

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, members in value.items():
            if not GROUP_RE.match(name):
                raise ValueError(f"{name!r} is not a group name: use group:name")
            for member in members:
                if not LOGIN_RE.match(member):
                    raise ValueError(
                        f"{name}: {member!r} is not a login; group members are logins "
                        "(groups cannot contain groups)"
                    )
        return value

    @field_validator("gpu_tag", "gateway_tag", "deploy_tag", "worker_tag")
    @classmethod
    def _tags(cls, value: str | None) -> str | None:
        return None if value is None else check_tag(value)

    @field_validator("address_range")
    @classmethod
    def _range(cls, value: str) -> str:
        try:
            ipaddress.IPv4Network(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IPv4 network such as 100.64.0.0/10 ({exc})") from None
        return value

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.address_range)

    @model_validator(mode="after")
    def _gateway_identity(self) -> TailnetConfig:
        if self.gateway_tag is None and self.gateway_address is None:
            raise ValueError(
                "the gateway needs an identity in the tailnet: set tailnet.gatewayTag "
                "(e.g. tag:aperture) or tailnet.gatewayAddress (its 100.x address)"
            )
        if self.gateway_tag is not None and self.gateway_tag == self.gpu_tag:
            raise ValueError(
                f"tailnet.gatewayTag and tailnet.gpuTag are both {self.gpu_tag}: the gateway must be "
                "the only source that reaches the model port, so give it a tag of its own"
            )
        self._check_deploy_tag()
        if "worker_tag" in self.model_fields_set:
            problem = self.worker_tag_problem()
            if problem is not None:
                raise ValueError(problem)
        if self.gateway_address is not None:
            try:
                address = ipaddress.ip_address(self.gateway_address)
            except ValueError:
                raise ValueError(
                    f"tailnet.gatewayAddress {self.gateway_address!r} is not an IP address"
                ) from None
            if address.version != 4 or address not in self.network:
                raise ValueError(
                    f"tailnet.gatewayAddress {self.gateway_address} is outside the tailnet range "
                    f"{self.address_range}: use the gateway's 100.x address from the admin console"
                )
        undefined = [
            entry
            for entry in [*self.admins, *self.model_users]
            if entry.startswith("group:") and entry not in self.groups
        ]
        if undefined and self.base_policy is None:
            raise ValueError(
                f"{', '.join(sorted(set(undefined)))} not defined: add it under tailnet.groups, "
                "or point tailnet.basePolicy at the policy file that defines it"
            )
        return self

    def _check_deploy_tag(self) -> None:
        """The deploy tag is a role of its own: sharing the GPU tag would give the deploying machines
        model traffic, sharing the gateway tag the model port."""
        for key, tag, role in (
            ("gpuTag", self.gpu_tag, "the GPU servers' tag would make them receive model traffic"),
            ("gatewayTag", self.gateway_tag, "the gateway's tag would let them reach the model port"),
        ):
            if self.deploy_tag is not None and self.deploy_tag == tag:
                raise ValueError(
                    f"tailnet.deployTag and tailnet.{key} are both {tag}: the deploying machines need "
                    f"SSH and the gateway only, and {role}; give them a tag of their own, e.g. tag:deploy"
                )

    def worker_tag_problem(self) -> str | None:
        """Why `workerTag` cannot be the tensor-parallel workers' tag, or None: it is a role of its own.

        Checked when `workerTag` is set, and by `StackConfig` when the hosts have workers (so that
        the default tag cannot collide unnoticed while a stack without workers validates as before).
        """
        for key, tag, role in (
            (
                "gpuTag",
                self.gpu_tag,
                "the GPU servers' tag would let the gateway reach them on the model port",
            ),
            ("gatewayTag", self.gateway_tag, "the gateway's tag would let them reach every model port"),
            ("deployTag", self.deploy_tag, "the deploy tag would give them SSH to every GPU server"),
        ):
            if tag is not None and self.worker_tag == tag:
                return (
                    f"tailnet.workerTag and tailnet.{key} are both {tag}: tensor-parallel workers serve "
                    f"nothing and are reached on SSH only, and {role}; give them a tag of their own, "
                    "e.g. tag:gpu-worker"
                )
        return None


class TensorParallelConfig(ConfigModel):
    """One model served by several DGX Sparks with tensor parallelism over Ray: set on the head host, which runs the Ray head and `vllm serve`; the workers run Ray workers joined over the QSFP link."""

    size: Annotated[int, Field(ge=2)]
    """GPUs the model is split over (vLLM `--tensor-parallel-size`): each DGX Spark has one GPU, so 1 (the head) + the number of `workers`."""

    workers: Annotated[list[str], Field(min_length=1)]
    """Names of the other hosts of the group (entries of `hosts`, in the order they join); a worker serves nothing itself: it takes no serving keys (`model`, `port`, `vllmArgs`, ...), runs the head's `image` and joins the tailnet with `tailnet.workerTag`."""

    link_interface: str
    """The Linux interface of the QSFP link between the Sparks (what `ibdev2netdev` shows as `(Up)`, e.g. `enp1s0f1np1`): Ray and NCCL talk over it, not over the tailnet."""

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value < 2:
            raise ValueError(
                f"{value} is not a tensor-parallel size: a group spans at least 2 DGX Sparks (one GPU "
                "each); list the other Sparks under workers and set size to 1 + their number, or remove "
                "tensorParallel to serve the model on this host alone"
            )
        return value

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError(
                "names no worker: list the other hosts of the group by name, e.g. [spark-2], or remove "
                "tensorParallel to serve the model on this host alone"
            )
        return value

    @field_validator("link_interface")
    @classmethod
    def _link_interface(cls, value: str) -> str:
        if value in (".", "..") or not LINK_INTERFACE_RE.match(value):
            raise ValueError(
                f"{value!r} is not a Linux interface name (1-15 letters, digits, '_', '.' or '-'): use "
                "the QSFP interface `ibdev2netdev` shows as (Up), e.g. enp1s0f1np1"
            )
        return value


RSA_HOST_KEY_TYPES = frozenset({"ssh-rsa", "ssh-rsa-cert-v01@openssh.com"})
"""Key types whose pinning makes pulumi-command offer only SHA-1 RSA signatures (see `HostConfig._host_key`)."""


class HostConfig(ConfigModel):
    """One GB10 box: how to reach it over SSH, and the model it serves with vLLM."""

    name: str
    """Resource name and Aperture provider id, e.g. `spark`."""

    address: str
    """SSH address (LAN name or IP) used for the deploy; not the tailnet address."""

    ssh_port: Annotated[int, Field(ge=1, le=65535)] = 22
    """SSH port of `address`."""

    user: str = "ubuntu"
    """SSH login on the host; it needs passwordless sudo."""

    host_key: str | None = None
    """Pinned SSH host key (`ssh-ed25519 AAAA...`, from `ssh-keyscan -t ed25519 <address>`), or `file:<path>` to read it from a file; required in production."""

    hostname: str | None = None
    """Tailnet hostname (MagicDNS name); defaults to `name`."""

    model: str = DEFAULT_MODEL
    """Hugging Face model id that vLLM loads."""

    served_model_name: str | None = None
    """The id clients and Aperture route on; defaults to `model`."""

    image: str = DEFAULT_IMAGE
    """vLLM container image, pinned by tag or digest; `latest` is refused."""

    port: int = DEFAULT_PORT
    """vLLM's port on the host's tailnet address (not 22, not `sshPort`)."""

    gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION
    """Share of GB10's unified memory vLLM may claim (0 < x <= 0.95)."""

    max_model_len: Annotated[int, Field(ge=1024)] = DEFAULT_MAX_MODEL_LEN
    """Context length in tokens (vLLM `--max-model-len`)."""

    vllm_args: list[str] = []
    """Extra `vllm serve` flags, e.g. `["--kv-cache-dtype", "fp8"]`; flags that have a key of their own here are refused."""

    bind_address: str | None = None
    """Address vLLM binds; default the host's tailnet IPv4. `0.0.0.0` only in development."""

    base_url: str | None = None
    """Provider base URL for Aperture; default `http://<tailnet-ip>:<port>`. Never ends in `/v1`."""

    readiness_timeout_minutes: Annotated[int, Field(ge=1, le=240)] = 30
    """How long to wait for `/health` after starting the container (first loads take 10-15 min)."""

    rolling_update: bool = True
    """With other hosts serving the same model id: a change that restarts vLLM takes this host out of the gateway's routing, replaces its container, waits for readiness and puts it back before the next host starts (see "More than one Spark"); `false` replaces it at once, as a host alone is."""

    tensor_parallel: TensorParallelConfig | None = None
    """Serve this host's model over several DGX Sparks with tensor parallelism (Ray): this host is the head, `workers` the other hosts of the group (`sovereign-ai:hosts[].tensorParallel` below). Default: this host alone."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return must_match(
            RESOURCE_NAME_RE,
            value,
            "is not a valid host name: use lowercase letters, digits and dashes (e.g. spark)",
        )

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Refuse an RSA host key: pulumi-command then offers only SHA-1 `ssh-rsa` as host-key
        algorithm (github.com/pulumi/pulumi-command v1.2.1 `remote/connection.go:94`,
        `hostKeyAlgorithms = []string{publicKey.Type()}`), which OpenSSH 8.8 and later refuse."""
        if value is None or not RSA_HOST_KEY_TYPES.intersection(value.split()):
            return value
        address = info.data.get("address", "<address>")
        port = info.data.get("ssh_port", 22)
        scan = f"ssh-keyscan -t ed25519{f' -p {port}' if port != 22 else ''} {address}"
        raise ValueError(
            "an RSA key (ssh-rsa) is pinned: pulumi-command then offers only SHA-1 `ssh-rsa` as "
            "host-key algorithm, which OpenSSH 8.8 and later refuse, so every deploy would fail to "
            f"connect; pin the host's ed25519 key instead: `{scan}`"
        )

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        if value is not None and not HOSTNAME_RE.match(value):
            raise ValueError(
                f"{value!r} is not a valid tailnet hostname: lowercase letters, digits and dashes"
            )
        return value

    @field_validator("port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError(f"{value} is not a TCP port: use 1-65535 (vLLM's default is 8000)")
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        last = value.rsplit("/", 1)[-1]
        if "@sha256:" not in value and (":" not in last or last.endswith(":latest")):
            raise ValueError(
                f"{value!r} is not pinned: use a tag or digest such as {DEFAULT_IMAGE} "
                "(latest changes under you and may not load your model on sm_121)"
            )
        return value

    @field_validator("gpu_memory_utilization")
    @classmethod
    def _gpu_memory(cls, value: float) -> float:
        if not 0 < value <= MAX_GPU_MEMORY_UTILIZATION:
            raise ValueError(
                f"{value} is out of range: GB10 shares 128 GB of unified memory with the host, so "
                f"use 0 < x <= {MAX_GPU_MEMORY_UTILIZATION} (0.8 is a safe start); above that vLLM "
                "claims all unified memory and the host runs out of memory"
            )
        return value

    @field_validator("vllm_args")
    @classmethod
    def _vllm_args(cls, value: list[str]) -> list[str]:
        for arg in value:
            flag = arg.split("=", 1)[0]
            if flag in OWNED_FLAGS:
                raise ValueError(f"{flag} is set by the program: use {OWNED_FLAGS[flag]} instead")
            if flag in PIPELINE_PARALLEL_FLAGS:
                raise ValueError(
                    f"{flag}: pipeline parallelism is not supported (each DGX Spark has one GPU); to "
                    "spread a model over several Sparks use hosts[].tensorParallel and remove this flag"
                )
            if flag == "--enforce-eager":
                raise ValueError(
                    "--enforce-eager roughly halves decode speed on GB10: remove it unless you are debugging"
                )
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and value.rstrip("/").endswith("/v1"):
            raise ValueError(
                f"{value!r} ends in /v1: Aperture appends the request path (/v1/chat/completions), "
                "so it would call /v1/v1/... and get 404; use host:port only, e.g. http://spark:8000"
            )
        return value

    @model_validator(mode="after")
    def _ports(self) -> HostConfig:
        if self.port == self.ssh_port or self.port == 22:
            raise ValueError(
                f"port {self.port} collides with SSH: pick another model port (vLLM's default is 8000)"
            )
        return self

    @property
    def tailnet_hostname(self) -> str:
        return self.hostname or self.name

    @property
    def model_id(self) -> str:
        """The id served at `/v1/models` and listed in the Aperture provider."""
        return self.served_model_name or self.model


class SecretsPresent(ConfigModel):
    """Which secret config keys are set (never their values)."""

    ssh_private_key: bool = False
    huggingface_token: bool = False
    vllm_api_key: bool = False
    gateway_api_key_empty: bool = False
    """`sovereign-ai:gatewayApiKey` is set but empty (Aperture: "No API key configured")."""


class StackConfig(ConfigModel):
    """The whole `sovereign-ai:*` namespace, validated; frozen once loaded."""

    environment: Environment = Environment.DEVELOPMENT
    """Production requires a pinned SSH host key per host, never binds vLLM to `0.0.0.0`, and makes every guardrail mandatory; in development they are advisory."""

    tailnet: TailnetConfig
    """The tailnet: who administers, who may use the model, tags (`sovereign-ai:tailnet` below)."""

    hosts: Annotated[list[HostConfig], Field(min_length=1)]
    """One entry per GB10 box (`sovereign-ai:hosts[]` below)."""

    gateway: GatewayConfig = GatewayConfig()
    """The Aperture gateway (`sovereign-ai:gateway` below)."""

    secrets: SecretsPresent = SecretsPresent()
    """Filled in by the loader: which secret keys are set (never their values); not a stack setting."""

    @field_validator("environment", mode="before")
    @classmethod
    def _environment(cls, value: Any) -> Any:
        allowed = [e.value for e in Environment]
        if isinstance(value, str) and value not in allowed:
            raise ValueError(f"{value!r} is not an environment: use {' or '.join(allowed)}")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> StackConfig:
        self._unique("name", [h.name for h in self.hosts])
        self._unique("hostname", [h.tailnet_hostname for h in self.hosts])
        network = self.tailnet.network
        for index, host in enumerate(self.hosts):
            if host.base_url is not None:
                check_private_url(host.base_url, network, f"hosts[{index}].baseUrl")
            if self.production and host.host_key is None:
                raise ValueError(
                    f"hosts[{index}].hostKey is not set: production pins the SSH host key; "
                    f"run `ssh-keyscan -t ed25519 {host.address}` and set hosts[{index}].hostKey"
                )
            if self.production and host.bind_address == "0.0.0.0":
                raise ValueError(
                    f"hosts[{index}].bindAddress is 0.0.0.0: production binds vLLM to the tailnet "
                    "address only; remove bindAddress"
                )
        check_private_url(self.gateway.url, network, "gateway.url")
        gateway_host = urlsplit(self.gateway.url).hostname or ""
        if not self.tailnet.magic_dns and SHORT_DNS_NAME_RE.match(gateway_host):
            raise ValueError(
                f"gateway.url {self.gateway.url} is a MagicDNS name but tailnet.magicDns is false: "
                "`gateway` will not resolve on clients; enable MagicDNS or use the gateway's 100.x address"
            )
        if not self.secrets.ssh_private_key:
            raise ValueError(
                "sshPrivateKey is not set: run `pulumi config set --secret sovereign-ai:sshPrivateKey "
                "< ~/.ssh/id_ed25519` (or set sshPrivateKeyPath to the key file)"
            )
        if self.secrets.gateway_api_key_empty:
            raise ValueError(
                'gatewayApiKey is empty (Aperture: "No API key configured"): remove it to use the '
                f"placeholder {API_KEY_PLACEHOLDER!r}, or set the key vLLM expects"
            )
        self._check_tensor_parallel()
        self._check_grants()
        self._check_fleet()
        return self

    def _check_tensor_parallel(self) -> None:
        """Tensor-parallel groups (`config.fleet.tensor_parallel_problems`), and, when there are
        workers, a worker tag of their own (the default one too)."""
        from config.fleet import tensor_parallel_problems, worker_names

        problems = tensor_parallel_problems(self.hosts)
        if worker_names(self.hosts):
            tag_problem = self.tailnet.worker_tag_problem()
            if tag_problem is not None:
                problems.append(tag_problem)
        if problems:
            raise ValueError("; ".join(problems))

    def _check_grants(self) -> None:
        """`group:` sources Aperture could not match (`config.grant_groups`), then configured grants:
        the default ones (`PolicyPlan.aperture_grants`) always pass those checks."""
        from config.grant_groups import check_grant_groups

        tailnet = self.tailnet
        check_grant_groups(self.gateway, tailnet.groups, tailnet.admins, tailnet.model_users)
        grants = self.gateway.grants
        if grants is None:
            return
        from config.fleet import serving_hosts, tensor_parallel_groups

        providers = {h.name for h in serving_hosts(self.hosts)}
        heads = {w.name: g.head.name for g in tensor_parallel_groups(self.hosts) for w in g.workers}
        for index, grant in enumerate(grants):
            if grant.models and grant.models != "**":
                provider = grant.models.split("/", 1)[0]
                if provider in heads:
                    model = grant.models.split("/", 1)[1] if "/" in grant.models else "**"
                    raise ValueError(
                        f"gateway.grants[{index}].models {grant.models!r} references provider "
                        f"{provider!r}, which is a tensor-parallel worker of {heads[provider]!r} and "
                        "serves nothing itself: the group's model is served by its head's provider; "
                        f"use '{heads[provider]}/{model}'"
                    )
                if "*" not in provider and provider not in providers:
                    raise ValueError(
                        f"gateway.grants[{index}].models {grant.models!r} references provider "
                        f"{provider!r}, which does not match any host ({', '.join(sorted(providers))})"
                    )
        if not any(g.role == "admin" for g in grants):
            raise ValueError(
                "gateway.grants has no admin grant: Aperture refuses a save that removes every admin; "
                "add {src: [<your login>], role: admin}"
            )
        uncovered = [
            user
            for user in self.tailnet.model_users
            if not any(("*" in g.src or user in g.src) and g.models for g in grants)
        ]
        if uncovered:
            raise ValueError(
                f"gateway.grants give no models to {', '.join(uncovered)}: they would get "
                "403 / access denied through the gateway; add a grant for them and the model"
            )

    def _check_fleet(self) -> None:
        """Hosts that roll together (`config.fleet`): no grant may name only one of them."""
        from config.fleet import drain_problems

        problems = drain_problems(self.hosts, self.gateway.grants)
        if problems:
            raise ValueError("; ".join(problems))

    @staticmethod
    def _unique(field_name: str, values: Iterable[str]) -> None:
        seen: set[str] = set()
        for index, value in enumerate(values):
            if value in seen:
                raise ValueError(
                    f"hosts[{index}].{field_name} {value!r} is used twice: each host needs its own"
                )
            seen.add(value)

    @property
    def production(self) -> bool:
        return self.environment is Environment.PRODUCTION


class ConfigError(ValueError):
    """Stack configuration is invalid; `problems` lists one message per bad key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid {NAMESPACE} configuration:\n{lines}")


def parse_config(raw: dict[str, Any]) -> StackConfig:
    """Validate the namespace's values (keys without the `sovereign-ai:` prefix).

    Raises ConfigError with one line per problem, each naming the key path, e.g.
    `sovereign-ai:hosts[0].port: 70000 is not a TCP port: use 1-65535`.
    """
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([_describe(error) for error in exc.errors()]) from None


def _describe(error: Any) -> str:
    path = _key_path(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    kind = error["type"]
    if kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        message = "is not a known setting: check the spelling against README.md#configuration"
    elif kind in ("int_parsing", "float_parsing", "bool_parsing", "int_type", "float_type"):
        message = f"{message} (got {error.get('input')!r})"
    return f"{NAMESPACE}:{path}: {message}" if path else f"{NAMESPACE}: {message}"


def _key_path(loc: Sequence[Any]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + to_camel(str(part))
    return path
