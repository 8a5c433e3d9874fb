"""`command:remote:Command`'s Check, Diff, Create, Update and Delete, on property maps in wire form.

Upstream: github.com/pulumi/pulumi-command v1.2.1 `provider/pkg/provider/remote/commandController.go`
(the resource) and github.com/pulumi/pulumi-go-provider v1.3.0 `infer/resource.go` (the generic rules
around it). Values stay as the engine sent them (`values`): a secret nested in `connection` or in
one environment value stays exactly there, in the inputs and in the outputs.

- Check: `schema` (mapping errors, the connection's defaults, schema secrets; nothing else).
- Diff: old inputs against new inputs; every difference is an update at its property path, except
  `triggers` added or removed as a whole, which is a replace (`resource.go:1132-1253`).
- Create: id `<name>` + 8 hex (`commandController.go:40`); outputs are the inputs plus `stdout` and
  `stderr`; a preview leaves them unknown; without `create` nothing runs and both are `""`.
- Update: runs `update`, else `create`, else nothing (the previous outputs stay); a preview keeps the
  previous outputs unless an input is unknown or differs from the state (`resource.go:545-590`).
- Delete: runs the stored `delete`, if any, with the stored inputs and outputs.
- Read (answered by `provider`) returns the state unchanged (`resource.go:1353-1364`).

Secrets: outputs keep the inputs' marking where it is; `stdout` and `stderr` are never marked by the
provider (no input shares their name, `resource.go:772-807`), which is why a program that may see a
secret in a command's output asks for `additional_secret_outputs`.
"""

from __future__ import annotations

import secrets as random
from collections.abc import Callable
from dataclasses import dataclass, field

from plugins.command import NOT_IMPLEMENTED, schema
from plugins.command.connection import Connection
from plugins.command.run import Run
from plugins.command.values import Props, deep_equals, is_unknown, object_diff, plain, skip_nulls
from plugins.wire import UNKNOWN

TOKEN = "command:remote:Command"
IMPLEMENTED = (TOKEN,)
STREAMS = ("stdout", "stderr")
REPLACE_ON_CHANGES = ("triggers",)
"""Inputs with `provider:"replaceOnChanges"` (`common/inputs.go:10`), matched against whole paths."""

Execute = Callable[[Run], tuple[str, str]]
"""Runs one command; returns (stdout, stderr)."""


def name_of(urn: str, name: str = "") -> str:
    """The resource's name: the request's, else the URN's last `::` segment."""
    return name or urn.rsplit("::", 1)[-1]


def check(type_token: str, news: Props) -> tuple[Props, list[schema.Failure]]:
    """The checked inputs and `(property, reason)` failures (`infer/resource.go:1027-1046`)."""
    news = skip_nulls(news)
    if type_token not in IMPLEMENTED:
        return news, [("", f"{type_token} is {NOT_IMPLEMENTED}")]
    failures = schema.failures(news)
    if failures:
        return schema.apply_secrets(news), failures
    return schema.apply_secrets(schema.with_defaults(news)), []


@dataclass
class DiffResult:
    """`DiffResponse`: whether anything changed, and `{path: kind}` with kinds such as `update`,
    `add&replace` (`provider.go:95-103`)."""

    changes: bool = False
    detailed: dict[str, str] = field(default_factory=dict)

    @property
    def diffs(self) -> list[str]:
        """The top-level keys of every changed path (`provider.go:191-217`)."""
        return sorted({_head(path) for path in self.detailed})

    @property
    def replaces(self) -> list[str]:
        """The top-level keys of the paths that replace."""
        return sorted({_head(path) for path, kind in self.detailed.items() if kind.endswith("&replace")})


def _head(path: str) -> str:
    """The first element of a property path: `a` of `a.b`, `a[0]` and `a["x"]`, `x` of `["x"].y`."""
    if path.startswith('["'):
        return path[2 : path.index('"]')].replace('\\"', '"')
    for index, char in enumerate(path):
        if char in ".[":
            return path[:index]
    return path


def diff(old_inputs: Props, news: Props, state: Props, ignore_changes: list[str]) -> DiffResult:
    """Old inputs against new ones (`infer/resource.go:1155-1253`)."""
    news = _with_ignored(skip_nulls(news), skip_nulls(state), ignore_changes)
    news = {k: v for k, v in news.items() if k != "version" and not k.startswith("__")}
    detailed = {
        path: f"{kind}&replace" if path in REPLACE_ON_CHANGES else kind
        for path, kind in object_diff(skip_nulls(old_inputs), news).items()
    }
    return DiffResult(bool(detailed), detailed)


def _with_ignored(news: Props, state: Props, ignore_changes: list[str]) -> Props:
    """Each ignored key takes its value from the state, when the state has that exact key
    (`resource.go:1159-1164`, `1419-1424`)."""
    return news | {key: state[key] for key in ignore_changes if key in state}


def _run(props: Props, command: str, previous: tuple[str, str]) -> Run:
    """A run of `command` with the connection, environment, stdin and logging of `props`."""
    add_previous = plain(props.get("addPreviousOutputInEnv"))
    keep_previous = add_previous is None or add_previous is True
    environment = plain(props.get("environment")) or {}
    return Run(
        command=command,
        connection=Connection.from_input(plain(props.get("connection")) or {}),
        environment={str(k): str(v) for k, v in environment.items()},
        stdin=plain(props.get("stdin")),
        logging=plain(props.get("logging")),
        previous_stdout=previous[0] if keep_previous else "",
        previous_stderr=previous[1] if keep_previous else "",
    )


def _previous(state: Props) -> tuple[str, str]:
    """The state's `stdout` and `stderr` (the engine may have made them secret)."""
    return str(plain(state.get("stdout")) or ""), str(plain(state.get("stderr")) or "")


def create(name: str, inputs: Props, preview: bool, execute: Execute) -> tuple[str, Props]:
    """The new id and outputs; runs `create` unless previewing (`commandController.go:31-60`)."""
    resource_id = name + random.token_hex(4)
    outputs = skip_nulls(inputs)
    if preview:
        return resource_id, outputs | {"stdout": UNKNOWN, "stderr": UNKNOWN}
    command = plain(outputs.get("create"))
    if command is None:
        return resource_id, outputs | {"stdout": "", "stderr": ""}
    stdout, stderr = execute(_run(outputs, command, ("", "")))
    return resource_id, outputs | {"stdout": stdout, "stderr": stderr}


def _inputs_changed(state: Props, news: Props) -> bool:
    """Whether an input is unknown or differs from the state's value (`resource.go:565-587`)."""
    for key in schema.INPUT_FIELDS:
        if is_unknown(news.get(key)) or (key in state and not deep_equals(news.get(key), state[key])):
            return True
    return False


def update(state: Props, news: Props, preview: bool, ignore_changes: list[str], execute: Execute) -> Props:
    """The new outputs; runs `update`, else `create`, unless previewing (`commandController.go:63-83`)."""
    state = skip_nulls(state)
    outputs = _with_ignored(skip_nulls(news), state, ignore_changes)
    previous = _previous(state)
    if preview:
        streams = (UNKNOWN, UNKNOWN) if _inputs_changed(state, outputs) else previous
        return outputs | dict(zip(STREAMS, streams, strict=True))
    command = plain(outputs.get("update"))
    if command is None:
        command = plain(outputs.get("create"))
    if command is None:
        return outputs | dict(zip(STREAMS, previous, strict=True))
    stdout, stderr = execute(_run(outputs, command, previous))
    return outputs | {"stdout": stdout, "stderr": stderr}


def delete(state: Props, execute: Execute) -> None:
    """Runs the stored `delete`, if any, with the stored inputs and outputs (`commandController.go:86-92`)."""
    state = skip_nulls(state)
    command = plain(state.get("delete"))
    if command is None:
        return
    execute(_run(state, command, _previous(state)))
