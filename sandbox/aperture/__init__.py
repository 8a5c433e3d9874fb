"""Offline emulator of Tailscale's Aperture AI gateway (admin config API, inference routing).

`models.py` holds state and operations (`ApertureBackend`), built on `config.py` (the document's
rules, redaction, ETag), `grants.py` (roles and model globs), `upstream.py` (forwarding to
providers, usage) and `spending.py` (quota buckets: `quotas.py` balances, `pricing.py` costs); `errors.py` has the upstream-shaped error bodies and `app.py` the HTTP layer
(`serve`). Sandbox-only additions are documented in `models.py` and those modules.
"""

from sandbox.aperture.app import IDENTITY_HEADER, ApertureServer, serve
from sandbox.aperture.models import DEFAULT_CONFIG, REDACTED, ApertureBackend, UsageRecord

__all__ = [
    "DEFAULT_CONFIG",
    "IDENTITY_HEADER",
    "REDACTED",
    "ApertureBackend",
    "ApertureServer",
    "UsageRecord",
    "serve",
]
