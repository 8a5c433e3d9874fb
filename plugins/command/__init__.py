"""The project's own `command` 1.2.1 resource plugin: `command:remote:Command` over SSH (asyncssh).

Upstream's `pulumi-resource-command` cannot be had where Pulumi comes only from the Go module proxy,
so this plugin does what upstream (github.com/pulumi/pulumi-command, `provider/pkg/provider/remote/`)
does for the resource the program uses (docs/architecture.md §10.3). Modules, one concept each:

- `redact`: hiding secret values in any text a user or a log file sees;
- `connection`: the `connection` input, and dialling with upstream's retries and host-key pinning;
- `session`: one SSH session whose environment is set with confirmed `env` requests;
- `stream`: command output lines sent to the engine as they arrive;
- `background`: the asyncio loop the SSH work runs on;
- `run`: one command run (environment, stdin, streamed output, outputs, failure message);
- `remote_command`: `command:remote:Command`'s Check, Diff, Create, Update, Delete and Read;
- `provider`: the `pulumirpc.ResourceProvider` gRPC service and `register`.

Property values on the wire (secrets, unknowns, detailed-diff paths) are `plugins.wire`'s.
"""

import warnings

from cryptography.utils import CryptographyDeprecationWarning

# Importing asyncssh touches cryptography's deprecated DSA classes in its type annotations
# (asyncssh/crypto/dsa.py, and asyncssh/crypto/misc.py), which prints "DSA is deprecated" warnings
# on the plugin's stderr, and the engine shows them in the stack's output. Only those are hidden:
# this category, this message, warned from those two asyncssh modules; installed before any
# `import asyncssh` of the plugin, since every module of it is imported after this package.
warnings.filterwarnings(
    "ignore",
    message="DSA is deprecated",
    category=CryptographyDeprecationWarning,
    module=r"asyncssh\.crypto\.(dsa|misc)\Z",
)

VERSION = "1.2.1"
"""The upstream version this plugin stands in for (what `pulumi_command` 1.2.1 asks the engine for)."""

NOT_IMPLEMENTED = (
    "not implemented by this build of the command plugin; install the upstream plugin "
    "(`pulumi plugin install resource command 1.2.1`)"
)
"""The reason given at Check for anything this plugin does not implement."""
