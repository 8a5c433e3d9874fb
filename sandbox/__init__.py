"""The offline sandbox: emulated Tailscale API, Aperture gateway, GB10 host (SSH) and vLLM.

Importing any `sandbox` module first runs this file, which silences exactly one known warning:
asyncssh (imported by `sandbox.orchestrator` and `sandbox.host.server`) still references
cryptography's deprecated DSA classes, so importing it prints `CryptographyDeprecationWarning: DSA is
deprecated` from `asyncssh/crypto/dsa.py` and `asyncssh/crypto/misc.py`. The filter matches that
category, that message and those two modules only; every other warning still shows.
"""

from __future__ import annotations

import warnings


def _quiet_asyncssh_dsa() -> None:
    try:
        from cryptography.utils import CryptographyDeprecationWarning
    except ImportError:  # no cryptography: no asyncssh either, nothing to silence
        return
    warnings.filterwarnings(
        "ignore",
        message="DSA is deprecated",
        category=CryptographyDeprecationWarning,
        module=r"asyncssh\.crypto\.(dsa|misc)\Z",
    )


_quiet_asyncssh_dsa()
