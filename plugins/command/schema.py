"""`command:remote:Command`'s inputs as upstream declares them, and upstream's generic Check on them.

The resource has no Check of its own (github.com/pulumi/pulumi-command v1.2.1
`provider/pkg/provider/remote/command.go:26-28` implements only Create, Update, Delete), so
pulumi-go-provider v1.3.0's default Check runs (`infer/resource.go:1027-1046`):

1. the inputs are decoded into the Go struct, and every mapping error is a check failure in the
   words of `github.com/pulumi/pulumi/sdk/v3/go/common/util/mapper` (`errors.go`); a failed check
   returns the inputs with schema secrets applied and no defaults (`resource.go:1031-1037`);
2. `Annotate`'s `SetDefault`s are filled in where a field is absent (`infer/apply_defaults.go:108-118`):
   only in `connection` (`remote/connection.go:57,61,73,78`: user `root`, port 22, dialErrorLimit 10,
   perDialTimeout 15). `addPreviousOutputInEnv` has no default: absent stays absent
   (`remote/command.go:48`, read as true only when a command runs, `commandOutputs.go:51`);
3. fields tagged `provider:"secret"` are marked secret where they are (`infer/apply_secrets.go:29-127`):
   `connection` (`command.go:46`) and, inside it, `password`, `privateKey`, `privateKeyPassword`
   (`connection.go:43,46,47`).

Nothing else is validated here: a `hostKey` that does not parse fails when a command runs
(`connection.go:88-92`), a `logging` value outside the enum is accepted (no enum check in the mapper).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plugins.command import NOT_IMPLEMENTED
from plugins.command.values import Props, inner, is_unknown, make_secret, rewrap
from plugins.wire import json_kind

INPUTS_TYPE = "remote.CommandInputs"
CONNECTION_TYPE = "remote.Connection"


@dataclass(frozen=True)
class Field:
    """One `pulumi:"name"` field: its Go type (as the mapper prints it) and whether it may be absent."""

    go_type: str
    optional: bool = True
    secret: bool = False


CONNECTION_FIELDS: dict[str, Field] = {
    "user": Field("string"),
    "password": Field("string", secret=True),
    "host": Field("string", optional=False),
    "port": Field("float64"),
    "privateKey": Field("string", secret=True),
    "privateKeyPassword": Field("string", secret=True),
    "agentSocketPath": Field("string"),
    "dialErrorLimit": Field("int"),
    "perDialTimeout": Field("int"),
    "hostKey": Field("string"),
    "proxy": Field("struct"),
}
"""`remote/connection.go:36-52`, in declaration order."""

CONNECTION_DEFAULTS: dict[str, Any] = {"user": "root", "port": 22, "dialErrorLimit": 10, "perDialTimeout": 15}
"""`Connection.Annotate`'s `SetDefault`s (`remote/connection.go:57,61,73,78`)."""

INPUT_FIELDS: dict[str, Field] = {
    "triggers": Field("[]interface {}"),
    "create": Field("string"),
    "update": Field("string"),
    "delete": Field("string"),
    "stdin": Field("string"),
    "logging": Field("remote.Logging"),
    "connection": Field("struct", optional=False, secret=True),
    "environment": Field("map[string]string"),
    "addPreviousOutputInEnv": Field("bool"),
}
"""`common/inputs.go:10-15` then `remote/command.go:44-48`, in declaration order."""

Failure = tuple[str, str]
"""`(property, reason)` of a check failure."""

GO_TYPES = {
    "bool": "bool",
    "number": "float64",
    "string": "string",
    "array": "[]interface {}",
    "object": "map[string]interface {}",
}
"""How the mapper names the Go type a wire value of each JSON kind decodes to."""


def _assignable(go_type: str, value: Any) -> bool:
    """Whether the mapper can store `value` in a field of `go_type` (`mapper_decode.go:143-258`)."""
    if is_unknown(value) or (go_type == "[]interface {}" and isinstance(value, list)):
        return True
    if go_type in ("string", "remote.Logging"):
        return isinstance(value, str)
    if go_type in ("float64", "int"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if go_type == "bool":
        return isinstance(value, bool)
    return isinstance(value, dict)


def _decode(values: Props, fields: dict[str, Field], type_name: str) -> list[Failure]:
    """Mapping errors of one struct: wrong types, missing required fields, unrecognized keys."""
    failures: list[Failure] = []
    for name, field in fields.items():
        if name not in values:
            if not field.optional:
                failures.append((name, f"Missing required field '{name}' on '{type_name}'"))
            continue
        value = inner(values[name])
        if field.go_type == "map[string]string" and isinstance(value, dict):
            failures += [
                (f"{name}[{key}] value", _wrong_type(type_name, f"{name}[{key}] value", "string", item))
                for key, item in value.items()
                if not _assignable("string", inner(item))
            ]
        elif field.go_type != "struct" and not _assignable(field.go_type, value):
            failures.append((name, _wrong_type(type_name, name, field.go_type, value)))
    failures += [(key, f"Unrecognized field '{key}' on '{type_name}'") for key in values if key not in fields]
    return failures


def _wrong_type(type_name: str, name: str, expected: str, value: Any) -> str:
    """`mapper.NewWrongTypeError`'s message (`errors.go`)."""
    actual = GO_TYPES[json_kind(inner(value))]
    return f"Field '{name}' on '{type_name}' must be a '{expected}'; got '{actual}' instead"


def _connection_failures(connection: Any) -> list[Failure]:
    """The connection's own mapping errors, reported on `connection` as the mapper nests them."""
    value = inner(connection)
    if is_unknown(value):
        return []
    if not isinstance(value, dict):
        return [("connection", _wrong_type(INPUTS_TYPE, "connection", CONNECTION_TYPE, value))]
    nested = _decode(value, CONNECTION_FIELDS, CONNECTION_TYPE)
    if not nested:
        return []
    lines = "".join(f"\n\t{field}: {reason}" for field, reason in nested)
    return [
        (
            "connection",
            f"An error occurred decoding 'CommandInputs.connection': {len(nested)} failures decoding:{lines}",
        )
    ]


def failures(news: Props) -> list[Failure]:
    """Every check failure of `news` (already without nulls)."""
    found = [f for f in _decode(news, INPUT_FIELDS, INPUTS_TYPE) if f[0] != "connection"]
    if "connection" not in news:
        return [*found, ("connection", f"Missing required field 'connection' on '{INPUTS_TYPE}'")]
    found += _connection_failures(news["connection"])
    if isinstance(inner(news["connection"]), dict) and inner(news["connection"]).get("proxy") is not None:
        found.append(("connection.proxy", f"connection.proxy is {NOT_IMPLEMENTED}"))
    return found


def with_defaults(news: Props) -> Props:
    """`news` with the connection's absent defaults filled in, wrappers and unknowns kept."""
    connection = news.get("connection")
    value = inner(connection)
    if not isinstance(value, dict):
        return news
    filled = {**value, **{k: v for k, v in CONNECTION_DEFAULTS.items() if k not in value}}
    return {**news, "connection": rewrap(connection, filled)}


def apply_secrets(props: Props) -> Props:
    """`props` with every `provider:"secret"` field marked secret where it is (`apply_secrets.go`)."""
    result = dict(props)
    connection = result.get("connection")
    if connection is None:
        return result
    value = inner(connection)
    if isinstance(value, dict):
        marked = {
            key: make_secret(item) if CONNECTION_FIELDS.get(key, Field("")).secret else item
            for key, item in value.items()
        }
        connection = rewrap(connection, marked)
    result["connection"] = make_secret(connection)
    return result
