"""What a panic in upstream's Go code looks like from the engine's side, and dying the same way.

pulumi-terraform-bridge v3.135.0 wraps the provider in `PanicRecoveringProviderServer`
(`pkg/pf/tfbridge/provider.go:222-241`, `pkg/providerserver/panic_recovering_provider.go`): on a
panic it logs one error to the engine, with the resource's URN, reading `Bridged provider panic
(provider=tailscale v=0.29.2 resourceURN=<urn> method=<Method>): <value>` and the goroutine's stack
(`:94-162`; metadata in `log/slog`'s text format), then panics again (`:364-379`), so the process
dies: Go prints `panic: <value> [recovered, repanicked]` and the trace on stderr (which the engine
shows) and exits with status 2. The Go stack itself cannot be reproduced; the frame of upstream's
code that panics stands in for it.
"""

from __future__ import annotations

import os
import unicodedata

from plugins.engine_log import EngineLog
from plugins.tailscale import NAME, VERSION
from plugins.tailscale.errors import GoPanic
from plugins.tailscale.golang import quote

EXIT_STATUS = 2
"""A Go program's exit status after an unrecovered panic."""


def _needs_quoting(value: str) -> bool:
    """log/slog `needsQuoting`: empty, or a space, `=`, `"`, or a rune that is not printable."""
    if not value:
        return True
    for ch in value:
        if ch.isascii():
            if ch in ' ="' or not ch.isprintable():
                return True
        elif not ch.isprintable() or unicodedata.category(ch) == "Zs":
            return True
    return False


def slog_value(value: str) -> str:
    return quote(value) if _needs_quoting(value) else value


def bridge_message(exc: GoPanic, method: str, urn: str) -> str:
    """`formatPanicMessage` (`panic_recovering_provider.go:94-138`)."""
    attrs = [("provider", NAME), ("v", VERSION)]
    attrs += [("resourceURN", urn)] if urn else []
    attrs.append(("method", method))
    metadata = " ".join(f"{key}={slog_value(value)}" for key, value in attrs)
    return f"Bridged provider panic ({metadata}): {exc.message}\n{stack(exc)}"


def stack(exc: GoPanic) -> str:
    return f"goroutine 1 [running]:\n{exc.frame}\n"


def die(exc: GoPanic, method: str, urn: str, engine: EngineLog, stderr_fd: int) -> None:
    """Log as the bridge does, print Go's panic on the engine's stderr, exit 2. Never returns."""
    engine.log("error", bridge_message(exc, method, urn), urn)
    text = f"panic: {exc.message} [recovered, repanicked]\n[signal SIGSEGV: segmentation violation]\n\n{stack(exc)}"
    os.write(stderr_fd, text.encode())
    os._exit(EXIT_STATUS)
