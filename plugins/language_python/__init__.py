"""The project's own Python language host (`pulumi-language-python`), for machines without upstream's.

It answers the LanguageRuntime calls the engine makes as upstream's host does, failures included
(docs/architecture.md §9 "Faithful, not kinder"; plugins/README.md "Fidelity"): `GetPluginInfo`,
`Handshake`, `GetRequiredPackages` (creating a missing virtualenv), `Run`, `RunPlugin` (policy packs
through `policy_proxy`), `InstallDependencies`, `About`, `GetProgramDependencies`, `Cancel`.
`GetRequiredPlugins` and everything else answer UNIMPLEMENTED, as upstream's do or as the engine handles.

Citations in this package name upstream's files briefly:

- `main.go:N`: github.com/pulumi/pulumi `sdk/python/cmd/pulumi-language-python/main.go` at commit
  1b5949891b3cefcb9974752b24a5ecef0acc86c8 (the source the upstream-engine build of v3.274.1 uses);
- `pip.go:N`, `toolchain.go:N`, `pyproject.go:N`: `python/toolchain/` of the module
  `github.com/pulumi/pulumi/sdk/v3@v3.274.1`, which that build compiles against;
- `policy_proxy.go:N`: `policy_proxy.go` of the same sdk module;
- pkg `<path>:N`: the engine, `github.com/pulumi/pulumi/pkg/v3@v3.274.1`.
"""
