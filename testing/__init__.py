"""Support shared by the tests and the benchmarks: the engine runner, the sandbox stack, policy and host helpers.

Not part of the product: nothing under `components/`, `config/`, `policies/`, `sandbox/` or `plugins/`
imports it.
"""
