"""sovereign-ai's CrossGuard policy pack: guardrails that stop a production stack from exposing the
model or the host, or from handing out admin too widely.

One module per domain, each exporting `POLICIES`: `tailnet` (the policy file), `gateway` (the
Aperture config), `keys` (auth keys), `commands` (remote commands), `stack` (invariants over all
resources). Each module writes its rules as `<rule>_validator` functions, decorated with
`common.resource_validator` or `common.stack_validator` (the prelude every validator shares), then
declares its policies together. `common` holds what they share (resource types, the stack's
environment and config, message wording, preview-unknown handling); `exposure` and `gpu_servers`
judge a policy file for `tailnet` and `stack`; `enforcement` makes production mandatory whatever a
policy config says.
`__main__` only builds the `PolicyPack`; never import it (its constructor blocks forever).
"""
