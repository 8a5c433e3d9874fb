"""Guardrails for remote commands over SSH (`command:remote:Command`, pulumi-command).

The host bootstrap runs as scripts in `create`/`update`/`delete` (docs/architecture.md §1, §5): the
SSH host key is pinned in production (an unpinned key lets whoever answers at that address receive
every secret sent on stdin); no service binds every interface or publishes a container port on one;
and no secret appears in a script, where it would land on a process's command line and in the
state. Secrets belong in `stdin`, `environment` or a 0600 file. Messages name the kind of secret and
the line, never its value.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationPolicy
from pulumi_policy.proxy import UnknownValueError

from policies.common import (
    REMOTE_COMMAND,
    ResourceCheck,
    is_object,
    resource_validator,
    secret_config_values,
)

SCRIPT_FIELDS = ("create", "update", "delete")
"""Command strings pulumi-command runs; `stdin` and `environment` are where secrets belong."""

SECRET_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a Tailscale auth key (tskey-auth-...)", re.compile(r"tskey-auth-[A-Za-z0-9]")),
    ("a Tailscale API access token (tskey-api-...)", re.compile(r"tskey-api-[A-Za-z0-9]")),
    ("a Tailscale OAuth client secret (tskey-client-...)", re.compile(r"tskey-client-[A-Za-z0-9]")),
    ("a Tailscale key (tskey-...)", re.compile(r"tskey-(?!auth-|api-|client-)[a-z]+-[A-Za-z0-9]")),
    ("a Hugging Face token (hf_...)", re.compile(r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{20,}")),
    ("a private key (-----BEGIN ... PRIVATE KEY-----)", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")),
    (
        "an auth key given to --auth-key",
        re.compile(r"--auth-?key(?:=|\s+)(?!['\"]?file:)['\"]?[^\s'\"-]"),
    ),
    ("an API key given to --api-key", re.compile(r"--api-key(?:=|\s+)['\"]?[^\s'\"-]")),
    (
        "a Hugging Face token assigned inline (HF_TOKEN=...)",
        re.compile(r"\b(?:HF_TOKEN|HUGGING_FACE_HUB_TOKEN)=(?!['\"]?\$)['\"]?[^\s'\"$;&|]"),
    ),
)
"""(what the message calls it, pattern). Flags that take a value put it on the process's argv even
when it comes from a variable, hence `--auth-key=file:...` is the only accepted auth key form."""

BIND_ANY = re.compile(
    r"(?:--(?:host|bind|listen|address)|\b\w*(?:HOST|BIND|LISTEN)\w*)(?:=|\s+)['\"]?"
    r"(0\.0\.0\.0|::|\[::\])(?![\w./])"
)
"""A service told to listen on every interface (`--host 0.0.0.0`, `VLLM_HOST=::`, ...)."""

CONTAINER_RUN = re.compile(r"\b(?:docker|podman|nerdctl)\s+(?:container\s+)?(?:run|create)\b")
COMMAND_END = re.compile(r"&&|\|\||[;|]")

BIND_FIX = (
    'bind and publish only on the host\'s tailnet address (e.g. --host "$(tailscale ip -4)", '
    '-p "$(tailscale ip -4):8000:8000") or on 127.0.0.1'
)
SECRET_FIX = (
    "a secret in a script shows in the host's process list and is kept in the Pulumi state: pass it "
    "on stdin, in environment, or as a 0600 file (e.g. tailscale up --auth-key=file:/run/ts-authkey)"
)


def logical_lines(script: str) -> list[tuple[int, str]]:
    """(first line number, text) of each shell line, with backslash continuations joined."""
    lines: list[tuple[int, str]] = []
    parts: list[str] = []
    start = 0
    for number, line in enumerate(script.splitlines(), 1):
        if not parts:
            start = number
        if line.endswith("\\"):
            parts.append(line[:-1])
            continue
        parts.append(line)
        lines.append((start, " ".join(parts)))
        parts = []
    if parts:
        lines.append((start, " ".join(parts)))
    return lines


def publish_problem(spec: str, network: ipaddress.IPv4Network) -> str | None:
    """What is wrong with a `docker run -p` spec, or None when it binds loopback or the tailnet.

    `8000:8000` and `8000` bind every interface; `ip:8000:8000` binds `ip`. An address computed at
    run time (`"$(tailscale ip -4)":...`) or a host name cannot be judged here and passes.
    """
    spec = spec.split("/", 1)[0]
    if spec.startswith("["):
        address, _, _ = spec[1:].partition("]")
    else:
        parts = spec.split(":")
        address = ":".join(parts[:-2]) if len(parts) >= 3 else ""
    if not address:
        return f"publishes {spec} on every interface"
    if "$" in address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.is_unspecified:
        return f"publishes {spec} on every interface"
    if ip.is_loopback or (ip.version == 4 and ip in network):
        return None
    return f"publishes {spec} on {address}, which is neither a tailnet nor a loopback address"


def _publish_specs(segment: str) -> list[str | None]:
    """The `-p`/`--publish` values of one container command (None for `-P`, publish all)."""
    try:
        tokens = shlex.split(segment)
    except ValueError:
        tokens = segment.split()
    specs: list[str | None] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in ("-p", "--publish") and index + 1 < len(tokens):
            specs.append(tokens[index + 1])
            index += 1
        elif token.startswith("--publish="):
            specs.append(token.split("=", 1)[1])
        elif token.startswith("-p") and not token.startswith("--") and len(token) > 2:
            specs.append(token[2:])
        elif token in ("-P", "--publish-all"):
            specs.append(None)
        index += 1
    return specs


def bind_problems(script: str, network: ipaddress.IPv4Network) -> list[str]:
    """`the command at line N <problem>` for each listener on every interface or public publication."""
    problems: list[str] = []
    for number, line in logical_lines(script):
        found: list[str] = []
        for run in CONTAINER_RUN.finditer(line):
            segment = COMMAND_END.split(line[run.start() :], maxsplit=1)[0]
            for spec in _publish_specs(segment):
                if spec is None:
                    found.append("publishes every exposed port (-P) on every interface")
                    continue
                problem = publish_problem(spec, network)
                if problem:
                    found.append(problem)
        for bind in BIND_ANY.finditer(line):
            address = bind.group(1)
            if not any(address in problem for problem in found):
                found.append(
                    f"binds {address} (every interface, including the LAN and possibly the internet)"
                )
        problems.extend(f"the command at line {number} {problem}" for problem in found)
    return problems


def secret_kinds(script: str, secret_values: list[tuple[str, str]]) -> list[str]:
    """`<kind> on line(s) N` for each kind of secret material in a script (never the value)."""
    lines_by_kind: dict[str, list[int]] = {}
    for number, line in enumerate(script.splitlines(), 1):
        for kind, pattern in SECRET_KINDS:
            if pattern.search(line):
                lines_by_kind.setdefault(kind, []).append(number)
    for key, value in secret_values:
        position = script.find(value)
        if position >= 0:
            kind = f"the value of the secret config {key}"
            lines_by_kind.setdefault(kind, []).append(script.count("\n", 0, position) + 1)
    found = []
    for kind, numbers in lines_by_kind.items():
        label = "line" if len(numbers) == 1 else "lines"
        found.append(f"{kind} on {label} {', '.join(map(str, numbers))}")
    return found


def _scripts(command: ResourceCheck) -> list[tuple[str, str]]:
    """(field, script) for each command string that is set and known."""

    def script(field: str) -> tuple[str, str] | None:
        value = command.props.get(field)
        return (field, value) if isinstance(value, str) and value else None

    return command.tracker.collect(SCRIPT_FIELDS, script)


# -- remote-command-host-key-pinned --------------------------------------------------------------


@resource_validator(REMOTE_COMMAND, production=True)
def remote_command_host_key_pinned_validator(command: ResourceCheck) -> None:
    """In production, reports a command whose SSH connection does not pin the host key."""
    connection: Any = command.props.get("connection")
    if not is_object(connection):
        connection = {}
    host_key = connection.get("hostKey")
    if isinstance(host_key, str) and host_key.strip():
        return
    host = _host(connection)
    text = (
        f"is not set, so SSH trusts whichever machine answers at {host}, and that machine receives "
        f"every secret sent on stdin; run `ssh-keyscan -t ed25519 {host}` and set "
        "sovereign-ai:hosts[].hostKey"
    )
    command.report("connection.hostKey", text)


def _host(connection: Mapping[str, object]) -> str:
    try:
        host = connection.get("host")
    except UnknownValueError:
        return "<host>"
    return host if isinstance(host, str) and host else "<host>"


# -- remote-command-no-public-bind ----------------------------------------------------------------


@resource_validator(REMOTE_COMMAND)
def remote_command_no_public_bind_validator(command: ResourceCheck) -> None:
    """Reports scripts that bind 0.0.0.0 or publish a container port on a public interface."""
    for field, script in _scripts(command):
        if field == "delete":
            continue
        problems = bind_problems(script, command.context.network)
        if problems:
            command.report(field, f"{'; '.join(problems)}; {BIND_FIX}", uses_config=True)


# -- remote-command-no-secret-argv ----------------------------------------------------------------


@resource_validator(REMOTE_COMMAND)
def remote_command_no_secret_argv_validator(command: ResourceCheck) -> None:
    """Reports secret material in create/update/delete scripts, by kind and line."""
    secret_values = secret_config_values()
    for field, script in _scripts(command):
        kinds = secret_kinds(script, secret_values)
        if kinds:
            command.report(field, f"contains {'; '.join(kinds)}; {SECRET_FIX}")


# -- the policies: name, description, validator --------------------------------------------------

remote_command_host_key_pinned = ResourceValidationPolicy(
    "remote-command-host-key-pinned",
    "Requires, in production, every remote command's SSH connection to pin the host key.",
    remote_command_host_key_pinned_validator,
)
remote_command_no_public_bind = ResourceValidationPolicy(
    "remote-command-no-public-bind",
    (
        "Prohibits remote commands that bind a service to 0.0.0.0 or publish a container port "
        "(docker run -p) on a public interface."
    ),
    remote_command_no_public_bind_validator,
)
remote_command_no_secret_argv = ResourceValidationPolicy(
    "remote-command-no-secret-argv",
    (
        "Prohibits secret material (auth keys, API keys, tokens, private keys) in remote command "
        "scripts, where it reaches a command line and the state."
    ),
    remote_command_no_secret_argv_validator,
)


POLICIES = [remote_command_host_key_pinned, remote_command_no_public_bind, remote_command_no_secret_argv]
"""The remote command guardrails, in the order the pack lists them."""
