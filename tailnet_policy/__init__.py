"""The tailnet policy file as a model: parse and render, selectors, address sets and reachability.

Pure (no Pulumi): the program renders it, the policy pack evaluates it, and the Tailscale emulator
runs its `tests` with the same evaluator, so one definition of "who can reach what" serves all three.
"""
