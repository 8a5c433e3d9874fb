"""The project's own engine parts: a Python language host and the tailscale and command plugins.

Used only where upstream's cannot be installed (docs/architecture.md §9, plugins/README.md).
"""
