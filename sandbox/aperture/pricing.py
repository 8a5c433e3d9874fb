"""What a request costs: its tokens at the price of the model on the provider's price list.

Emulates tailscale.com/docs/aperture/provider-compatibility (cost basis, model cost mapping):

- A provider's `cost_basis` names a price list (`openai`, `anthropic`, ...); without one, Aperture
  infers it from the provider (unless the document sets `auto_cost_basis: false`). A self-hosted
  provider has none: its cost basis is "N/A" and its requests cost $0.
- `model_cost_map` (`[{"match": "<Go path.Match glob>", "as": "<known model>", "adjustment": 1.1}]`,
  first match wins) prices a model as another one, times `adjustment`: this is how a self-hosted
  model gets a price.
- A request costs `prompt_tokens * input price + completion_tokens * output price`.

Choices (Aperture's price lists are not published as data): `PRICES` holds a few models at the
vendors' list prices in US dollars per token; a model not in it costs $0, as an unknown model would
have no price. Inference from the provider: the OpenAI and Anthropic API hosts only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

PRICES: dict[str, dict[str, tuple[Decimal, Decimal]]] = {
    "openai": {
        "gpt-5": (Decimal("0.00000125"), Decimal("0.00001")),
        "gpt-5-mini": (Decimal("0.00000025"), Decimal("0.000002")),
    },
    "anthropic": {
        "claude-sonnet-4-5": (Decimal("0.000003"), Decimal("0.000015")),
        "claude-haiku-4-5": (Decimal("0.000001"), Decimal("0.000005")),
    },
}
"""Cost basis -> model -> (input, output) US dollars per token."""

INFERRED = {"api.openai.com": "openai", "api.anthropic.com": "anthropic"}
"""Provider host -> the cost basis Aperture infers for it."""


def go_path_match(pattern: str, name: str) -> bool:
    """Go's `path.Match`: `*` and `?` never match `/`, `[...]` classes (`^` negates), `\\` escapes."""
    regex, index = "", 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            regex += re.escape(pattern[index + 1])
            index += 2
            continue
        if char == "[":
            end = pattern.find("]", index + 1)
            if end > index:
                body = pattern[index + 1 : end]
                negate = body.startswith("^")
                body = re.sub(r"([\\\]\[^])", r"\\\1", body[1:] if negate else body)
                regex += f"[{'^/' if negate else ''}{body}]"
                index = end + 1
                continue
        regex += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
        index += 1
    return re.fullmatch(regex, name) is not None


def cost_basis(provider: Mapping[str, Any], auto: bool) -> str | None:
    """The provider's price list: its `cost_basis`, else the inferred one, else None (N/A)."""
    basis = provider.get("cost_basis")
    if isinstance(basis, str) and basis:
        return basis
    host = urlsplit(str(provider.get("baseurl", ""))).hostname or ""
    return INFERRED.get(host) if auto else None


def request_cost(
    provider: Mapping[str, Any], model: str, prompt_tokens: int, completion_tokens: int, auto: bool = True
) -> Decimal:
    """What one answered request costs, in US dollars ($0 without a price)."""
    priced_as, adjustment = model, Decimal(1)
    for entry in provider.get("model_cost_map") or []:
        if isinstance(entry, dict) and go_path_match(str(entry.get("match", "")), model):
            priced_as = str(entry.get("as") or model)
            adjustment = Decimal(str(entry.get("adjustment", 1)))
            break
    prices = PRICES.get(cost_basis(provider, auto) or "", {}).get(priced_as)
    if prices is None:
        return Decimal(0)
    return (prompt_tokens * prices[0] + completion_tokens * prices[1]) * adjustment
