"""The stack config: its model, its one loader, and the policy plan drawn from it.

Pure except `loader` (which reads `pulumi.Config`): the policy pack and the sandbox import the model
and the plan without the Pulumi runtime.
"""
