"""The project's own Python language host (`pulumi-language-python`), for machines without upstream's.

It implements the LanguageRuntime calls the engine makes as upstream's host does (github.com/pulumi/
pulumi `sdk/python/cmd/pulumi-language-python/main.go`; docs/architecture.md §10.3):
`GetPluginInfo`, `Handshake`, `GetRequiredPackages`/`GetRequiredPlugins`, `Run`, `RunPlugin` (policy
packs through `policy_proxy`), `InstallDependencies`, `About`, `GetProgramDependencies`, `Cancel`.
Everything else answers UNIMPLEMENTED, which the engine handles.
"""
