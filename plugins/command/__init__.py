"""The project's own `command` 1.2.1 resource plugin: `command:remote:Command` over SSH (asyncssh).

Upstream's `pulumi-resource-command` cannot be had where Pulumi comes only from the Go module proxy,
so this plugin does what upstream does for the resource the program uses (reference
`pulumi-plugins.md` section 3). Modules, one concept each:

- `wire`: property values on the wire (Struct, secrets, unknowns) and detailed-diff paths;
- `redact`: hiding secret values in any text a user or a log file sees;
- `connection`: the `connection` input, and dialling with upstream's retries and host-key pinning;
- `session`: one SSH session whose environment is set with confirmed `env` requests;
- `stream`: command output lines sent to the engine as they arrive;
- `run`: one command run (environment, stdin, streamed output, outputs, failure message);
- `lifecycle`: Check, Diff, Create, Update, Delete and Read on plain property maps;
- `servicer`: the `pulumirpc.ResourceProvider` gRPC service.
"""

VERSION = "1.2.1"
"""The upstream version this plugin stands in for (what `pulumi_command` 1.2.1 asks the engine for)."""

NOT_IMPLEMENTED = (
    "not implemented by this build of the command plugin; install the upstream plugin "
    "(`pulumi plugin install resource command 1.2.1`)"
)
"""The reason given at Check for anything this plugin does not implement."""
