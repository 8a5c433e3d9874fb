"""`command:remote:Command`'s Check, Diff, Create, Update, Delete and Read, on plain property maps.

Upstream: github.com/pulumi/pulumi-command `provider/pkg/provider/remote/command.go` and
`remote/commandController.go`, and github.com/pulumi/pulumi-go-provider `infer/resource.go` (the
generic Check/Diff/secrets rules).

- Check fills `connection` defaults (port 22, user root, dialErrorLimit 10, perDialTimeout 15) and
  `addPreviousOutputInEnv` true, and keeps `connection` secret.
- Diff compares old inputs with new ones; every change is an update (`triggers` replace because the
  SDK sets `replace_on_changes=["triggers[*]"]`, which the engine matches against the detailed paths).
- Create: id `<name>` + 8 hex; a preview returns the inputs with `stdout`/`stderr` unknown; without
  `create` nothing runs and both are `""`.
- Update runs `update`, else `create`, else nothing (previous outputs kept); a preview marks the
  outputs unknown when something would run.
- Delete runs `delete` with the stored connection, environment, stdin and logging; the previous
  outputs are in `PULUMI_COMMAND_STDOUT`/`_STDERR` (unless `addPreviousOutputInEnv` is false).
- Read (answered by `provider`) returns the state unchanged.

Secrets: outputs keep every input's secret marking. `stdout`/`stderr` are also secret when the
command, its stdin or its environment held a secret (upstream leaves them plain and relies on
`additional_secret_outputs`; a command may print what it was given).
"""

from __future__ import annotations

import secrets as random
from collections.abc import Callable
from dataclasses import dataclass, field

from plugins.command import NOT_IMPLEMENTED
from plugins.command.connection import DEFAULTS, Connection
from plugins.command.redact import Redactor, secret_strings
from plugins.command.run import LOGGING, CommandFailed, Run
from plugins.wire import UNKNOWN, RevealedProps, changed_paths, has_unknown

TOKEN = "command:remote:Command"
IMPLEMENTED = (TOKEN,)
STRING_INPUTS = ("create", "update", "delete", "stdin")
STREAMS = ("stdout", "stderr")
ALWAYS_SECRET = ("connection",)
"""Secret in the schema whatever the program says."""
STREAM_SECRET_SOURCES = ("create", "update", "delete", "stdin", "environment")
"""A secret in any of these makes `stdout` and `stderr` secret too."""

Execute = Callable[[Run, Redactor], tuple[str, str]]
"""Runs one command (with the given redactor for messages); returns (stdout, stderr)."""


def name_of(urn: str, name: str = "") -> str:
    """The resource's name: the request's, else the URN's last `::` segment."""
    return name or urn.rsplit("::", 1)[-1]


def check(type_token: str, news: RevealedProps) -> tuple[RevealedProps, list[tuple[str, str]]]:
    """The inputs with defaults filled, and `(property, reason)` failures."""
    if type_token not in IMPLEMENTED:
        return news, [("", f"{type_token} is {NOT_IMPLEMENTED}")]
    values = dict(news.values)
    failures: list[tuple[str, str]] = []
    connection = values.get("connection")
    if connection is None:
        failures.append(("connection", "missing required property 'connection'"))
    elif isinstance(connection, dict):
        connection = {**DEFAULTS, **{k: v for k, v in connection.items() if v is not None}}
        values["connection"] = connection
        if connection.get("proxy"):
            failures.append(("connection.proxy", f"connection.proxy is {NOT_IMPLEMENTED}"))
        elif not has_unknown(connection):
            try:
                Connection.from_input(connection)
            except ValueError as exc:
                failures.append(("connection", str(exc)))
    elif connection != UNKNOWN:
        failures.append(("connection", "connection must be an object"))
    for key in STRING_INPUTS:
        if values.get(key) is not None and not isinstance(values[key], str):
            failures.append((key, f"{key} must be a string"))
    environment = values.get("environment")
    if environment not in (None, UNKNOWN) and (
        not isinstance(environment, dict) or not all(isinstance(v, str) for v in environment.values())
    ):
        failures.append(("environment", "environment must be a map of strings"))
    logging = values.get("logging")
    if logging is not None and logging != UNKNOWN and logging not in LOGGING:
        failures.append(("logging", f"logging must be one of {', '.join(LOGGING)}; got {logging!r}"))
    if values.get("triggers") not in (None, UNKNOWN) and not isinstance(values["triggers"], list):
        failures.append(("triggers", "triggers must be a list"))
    values.setdefault("addPreviousOutputInEnv", True)
    return RevealedProps(values, set(news.secret_keys) | {"connection"}), failures


@dataclass
class DiffResult:
    """Changed top-level keys and the detailed `{path: add|delete|update}`."""

    keys: list[str] = field(default_factory=list)
    detailed: dict[str, str] = field(default_factory=dict)


def _ignored(path: str, ignore: list[str]) -> bool:
    return any(path == rule or path.startswith((rule + ".", rule + "[")) for rule in ignore)


def diff(old_inputs: RevealedProps, news: RevealedProps, ignore_changes: list[str]) -> DiffResult:
    """Every difference between old and new inputs, as updates."""
    old = {k: v for k, v in old_inputs.values.items() if k not in STREAMS}
    detailed = {
        path: kind
        for path, kind in changed_paths(old, dict(news.values)).items()
        if not _ignored(path, ignore_changes)
    }
    keys = sorted({path.split(".", 1)[0].split("[", 1)[0] for path in detailed})
    return DiffResult(keys, detailed)


def redactor(props: RevealedProps) -> Redactor:
    """Hides this resource's secrets: connection credentials and secret stdin, environment, commands."""
    values: list[str] = []
    connection = props.values.get("connection")
    if isinstance(connection, dict):
        values += [
            str(connection[k]) for k in ("password", "privateKey", "privateKeyPassword") if connection.get(k)
        ]
    for key in STREAM_SECRET_SOURCES:
        if key in props.secret_keys:
            values += secret_strings(props.values.get(key))
    return Redactor(values)


def _run(name: str, props: RevealedProps, command: str, previous: tuple[str, str]) -> Run:
    values = props.values
    try:
        connection = Connection.from_input(values.get("connection") or {})
    except ValueError as exc:
        raise CommandFailed(str(exc)) from None
    keep_previous = values.get("addPreviousOutputInEnv", True) is not False
    return Run(
        resource=name,
        command=command,
        connection=connection,
        environment={str(k): str(v) for k, v in (values.get("environment") or {}).items()},
        stdin=values.get("stdin") or None,
        logging=values.get("logging") or "stdoutAndStderr",
        previous_stdout=previous[0] if keep_previous else "",
        previous_stderr=previous[1] if keep_previous else "",
    )


def _with_streams(inputs: RevealedProps, stdout: str, stderr: str) -> RevealedProps:
    secret_keys = set(inputs.secret_keys) | {"connection"}
    if secret_keys & set(STREAM_SECRET_SOURCES):
        secret_keys |= set(STREAMS)
    values = {k: v for k, v in inputs.values.items() if k not in STREAMS}
    return RevealedProps(values | {"stdout": stdout, "stderr": stderr}, secret_keys)


def create(name: str, inputs: RevealedProps, preview: bool, execute: Execute) -> tuple[str, RevealedProps]:
    """The new id and outputs; runs `create` unless previewing."""
    resource_id = name + random.token_hex(4)
    if preview:
        return resource_id, _with_streams(inputs, UNKNOWN, UNKNOWN)
    command = inputs.values.get("create")
    if not command:
        return resource_id, _with_streams(inputs, "", "")
    stdout, stderr = execute(_run(name, inputs, command, ("", "")), redactor(inputs))
    return resource_id, _with_streams(inputs, stdout, stderr)


def update(
    name: str, state: RevealedProps, news: RevealedProps, preview: bool, execute: Execute
) -> RevealedProps:
    """The new outputs; runs `update`, else `create`, unless previewing."""
    previous = (str(state.values.get("stdout") or ""), str(state.values.get("stderr") or ""))
    command = news.values.get("update") or news.values.get("create")
    if not command:
        return _with_streams(news, *previous)
    if preview:
        return _with_streams(news, UNKNOWN, UNKNOWN)
    stdout, stderr = execute(_run(name, news, command, previous), redactor(news))
    return _with_streams(news, stdout, stderr)


def delete(name: str, state: RevealedProps, execute: Execute) -> None:
    """Runs the stored `delete`, if any, with the stored connection, environment and stdin."""
    command = state.values.get("delete")
    if not command:
        return
    previous = (str(state.values.get("stdout") or ""), str(state.values.get("stderr") or ""))
    execute(_run(name, state, command, previous), redactor(state))
