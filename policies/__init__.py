"""sovereign-ai's CrossGuard policy pack: guardrails that stop a production stack from exposing the
model or the host, or from handing out admin too widely.

One module per domain, each exporting `POLICIES`: `tailnet` (the policy file), `gateway` (the
Aperture config), `keys` (auth keys), `commands` (remote commands), `stack` (invariants over all
resources). `common` holds what they share (resource types, the stack's environment and config,
message wording); `enforcement` makes production mandatory whatever a policy config says.
`__main__` only builds the `PolicyPack`; never import it (its constructor blocks forever).
"""
