"""`HostState`: a dynamic resource that looks at a GPU server, so drift on the host is seen and repaired.

Token `pulumi-python:dynamic/host:State`. Upstream's `remote.Command` cannot see drift: its Read
returns the stored state. This resource's `read` (on `pulumi refresh`, `preview --refresh`,
`up --refresh`) runs `components/host/scripts/observe_host.sh` over SSH and records what the host shows:
the vLLM container's state, the model it serves (`--served-model-name` of its command) and the
tailnet address. `diff` compares that observation with what the stack expects (container
`running`, the declared model, the address in use); any difference is a replacement. The new
resource's id is new, and the container step has that id among its `triggers`, so the engine
re-runs the container step (and the readiness check after it) with a freshly observed address.

On create (after the join, before the container exists) it observes the address, and records the
expected container state as observed: the steps that follow bring it about. Nothing here changes
the host; `delete` does nothing (the container step's delete removes the container).

Secrets: the SSH private key is a secret input and stays secret in state (`additional_secret_outputs`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any, TypedDict

import pulumi
import pulumi.dynamic

from components.host.remote_script import script
from components.host.ssh import Connection, RemoteError, run

DRIFT_KEY = "observed"
"""The output holding what the host showed at the last create or read."""


class HostStateArgs(TypedDict):
    """Inputs of `HostState`."""

    connection: pulumi.Input[Mapping[str, Any]]
    """`host`, `port`, `user`, `private_key` (secret), `host_key` (optional pin)."""

    container: str
    """The vLLM container's name on the host (a tensor-parallel member's: its Ray node's)."""

    model_id: str
    """The model id the container must serve; `""` for a Ray node, whose command names none."""

    join_id: pulumi.Input[str]
    """The id of the join step: a new join may bring a new address, so it replaces this resource."""


def expected(props: Mapping[str, Any]) -> dict[str, str]:
    """What a healthy host shows, for these (stored) outputs."""
    return {"container": "running", "model": str(props["model_id"]), "ip": str(props.get("tailnet_ip") or "")}


def observation(stdout: str) -> dict[str, str]:
    """observe_host.sh's JSON line as `{container, model, ip, dnsName}`."""
    try:
        raw = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RemoteError(f"could not read the host's state from observe_host.sh: {stdout!r}") from None
    command = [str(word) for word in raw.get("cmd") or []]
    model = ""
    if "--served-model-name" in command[:-1]:
        model = command[command.index("--served-model-name") + 1]
    return {
        "container": str(raw.get("container") or "missing"),
        "model": model,
        "ip": str(raw.get("ip") or ""),
        "dnsName": str(raw.get("dnsName") or ""),
    }


def drift(props: Mapping[str, Any]) -> list[str]:
    """Each way the last observation differs from what the stack expects, as a sentence."""
    seen = dict(props.get(DRIFT_KEY) or {})
    want = expected(props)
    found = []
    if seen.get("container") != want["container"]:
        found.append(f"container {props['container']} is {seen.get('container') or 'unknown'}, not running")
    if seen.get("model") != want["model"]:
        found.append(f"the container serves {seen.get('model') or 'no model'!r}, not {want['model']!r}")
    if seen.get("ip") != want["ip"]:
        found.append(f"the tailnet address is {seen.get('ip') or 'none'}, not {want['ip']}")
    return found


class HostStateProvider(pulumi.dynamic.ResourceProvider):
    """Observes the host over SSH; reports drift as a replacement of the observation."""

    def _observe(self, props: Mapping[str, Any]) -> dict[str, str]:
        conn = props["connection"]
        connection = Connection(
            host=str(conn["host"]),
            port=int(conn.get("port") or 22),
            user=str(conn.get("user") or "root"),
            private_key=str(conn["private_key"]),
            host_key=conn.get("host_key") or None,
        )
        command = script("observe_host.sh", CONTAINER=str(props["container"]))
        try:
            result = run(connection, command)
        except RemoteError as exc:
            raise RemoteError(f"observing host {connection.host}: {exc}") from None
        if result.exit_status != 0:
            raise RemoteError(
                f"observing host {connection.host}: observe_host.sh exited {result.exit_status}: "
                f"{result.stderr.strip()[-500:]}"
            )
        return observation(result.stdout)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        """Replace on drift or a new join; update in place for a new connection or model id."""
        replaces = []
        if drift(olds):
            replaces.append(DRIFT_KEY)
        if olds.get("join_id") != news.get("join_id"):
            replaces.append("join_id")
        changed = [key for key in ("connection", "container", "model_id") if olds.get(key) != news.get(key)]
        if "container" in changed:
            replaces.append("container")
        return pulumi.dynamic.DiffResult(
            changes=bool(replaces or changed), replaces=replaces, stables=[], delete_before_replace=False
        )

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        """Observe the address; the container is expected to be brought up by the steps after this."""
        seen = self._observe(props)
        outs = {**props, "tailnet_ip": seen["ip"], "dns_name": seen["dnsName"]}
        outs[DRIFT_KEY] = expected(outs)
        return pulumi.dynamic.CreateResult(f"{props['container']}-{secrets.token_hex(4)}", outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        """A new connection or model id: nothing to do on the host; keep the address in use."""
        outs = {**news, "tailnet_ip": olds.get("tailnet_ip"), "dns_name": olds.get("dns_name")}
        outs[DRIFT_KEY] = expected(outs)
        return pulumi.dynamic.UpdateResult(outs)

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        """Look at the host; the observation lands in `observed`, which `diff` compares."""
        seen = self._observe(props)
        outs = {**props, DRIFT_KEY: {k: seen[k] for k in ("container", "model", "ip")}}
        return pulumi.dynamic.ReadResult(id_, outs)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing on the host belongs to the observation."""


class HostState(pulumi.dynamic.Resource, module="host", name="State"):
    """What a GPU server shows: its tailnet address, and its vLLM container as last observed."""

    tailnet_ip: pulumi.Output[str]
    """The host's tailnet IPv4 address, as observed when this resource was created."""

    dns_name: pulumi.Output[str]
    """The host's MagicDNS name."""

    observed: pulumi.Output[dict[str, str]]
    """`{container, model, ip}` as last seen on the host."""

    def __init__(self, name: str, args: HostStateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        props = {
            "connection": args["connection"],
            "container": args["container"],
            "model_id": args["model_id"],
            "join_id": args["join_id"],
            "tailnet_ip": None,
            "dns_name": None,
            DRIFT_KEY: None,
        }
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=["connection"])
        super().__init__(HostStateProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret_opts))
