"""The project's own `command` 1.2.1 resource plugin: `command:remote:Command` over SSH (asyncssh).

Upstream's `pulumi-resource-command` cannot be had where Pulumi comes only from the Go module proxy,
so this plugin does exactly what upstream (github.com/pulumi/pulumi-command v1.2.1,
`provider/pkg/provider/remote/`, served by github.com/pulumi/pulumi-go-provider v1.3.0, over
golang.org/x/crypto v0.48.0 `ssh/`) does for the resource the program uses, failures and error texts
included (docs/architecture.md §9 "Faithful, not kinder", §10.3). Modules, one concept each:

- `values`: property values in wire form as go-provider sees them (nested secrets, unknowns, nulls,
  deep equality, detailed-diff paths);
- `schema`: the inputs as upstream declares them, and go-provider's generic Check on them;
- `keys`: `hostKey` and `privateKey` read as x/crypto reads them, with its errors;
- `auth`: client authentication in x/crypto's order over upstream's methods;
- `connection`: the `connection` input, `SSHConfig`, and dialling with upstream's retries;
- `session`: one SSH session whose environment is set with confirmed `env` requests;
- `stream`: messages for the engine (output lines as they arrive, warnings, errors);
- `background`: the asyncio loop the SSH work runs on;
- `run`: one command run (environment, stdin, streamed output, outputs, failure message);
- `remote_command`: `command:remote:Command`'s Check, Diff, Create, Update and Delete;
- `provider`: the `pulumirpc.ResourceProvider` gRPC service and `register`.
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
