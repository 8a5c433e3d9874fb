"""Aperture's quota buckets: their definitions in the config, their balances, charging and refill.

Emulates tailscale.com/docs/aperture/how-to/set-per-user-spending-limits, set-team-budget,
check-and-refill-budgets and configure-overdraft-quotas (for a chain of one bucket):

- `quotas.<name>` is `{"capacity": "$10.00", "rate": "$5.00/day", "on_exceed": "reject"}`: a bucket
  that starts full, refills continuously at `rate` (per `min`, `hour`, `day`, `week` or `month`, 30
  days) and never holds more than `capacity`. `<user>` in a name makes one bucket per caller
  (`daily:<user>` -> `daily:alice@example.com`); `<node>` too.
- A bucket is inert until a grant names it (`grants.py`). Every bucket that applies to a request is
  charged the request's whole cost (`pricing.py`), in parallel.
- A request proceeds only while every rejecting bucket that applies has a positive balance;
  otherwise Aperture answers 429 with `Retry-After`. The cost is known only from the answer's
  usage, so it is charged afterwards and may take a balance below zero (as the docs say of an
  overdraft chain's last bucket); the bucket then refuses until a refill brings it above zero.
- `POST /api/quotas/refill` adds an amount to one bucket, never above its capacity.

Choices where the docs are silent: amounts are exact decimals; `Retry-After` is the whole seconds
until every refusing bucket is positive again (a day when a rate is `$0`); a bucket without
`on_exceed` is charged but never refuses; `<node>` expands to the caller's identity (the sandbox
has no node names); a template bucket is listed once it exists (after its first check or charge).
Validation: `invalid quota` for a bad capacity, rate or `on_exceed` (only `reject` is supported),
`bad quota/bucket template` for any `<...>` but `<user>` and `<node>`.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

UNIT_SECONDS = {"min": 60, "hour": 3600, "day": 86400, "week": 7 * 86400, "month": 30 * 86400}
"""The refill rate's units; a month is 30 days."""

TEMPLATES = ("<user>", "<node>")
"""What a bucket name may contain to make one bucket per caller."""

REJECT = "reject"
"""The only `on_exceed` Aperture supports."""

NO_REFILL_RETRY_SECONDS = 86400
"""`Retry-After` for a bucket whose rate is `$0` (it never refills by itself)."""

_AMOUNT = re.compile(r"^\$(\d+(?:\.\d+)?)$")
_RATE = re.compile(r"^\$(\d+(?:\.\d+)?)/(min|hour|day|week|month)$")
_TEMPLATE = re.compile(r"<[^<>]*>")


def parse_amount(text: Any) -> Decimal:
    """`$10.00` -> Decimal('10.00'); ValueError for anything else."""
    match = _AMOUNT.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not an amount such as $10.00")
    return Decimal(match.group(1))


def format_amount(value: Decimal) -> str:
    """`$9.999979`, `$10.00`, `-$0.000021`: at least cents, at most millionths of a dollar."""
    sign = "-" if value < 0 else ""
    text = f"{abs(value).quantize(Decimal('0.000001')):f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"{sign}${whole}.{cents.ljust(2, '0')}"


@dataclass(frozen=True)
class Quota:
    """One `quotas.<name>` entry, parsed."""

    capacity: Decimal
    per_second: Decimal
    """The refill rate, in dollars per second."""

    capacity_text: str
    rate_text: str
    on_exceed: str | None
    """`reject`, or None (charged, never refuses)."""

    @classmethod
    def parse(cls, value: Any) -> Quota:
        """A quota object; ValueError naming the field that is wrong."""
        if not isinstance(value, dict):
            raise ValueError("must be an object with capacity, rate and on_exceed")
        capacity = parse_amount(value.get("capacity"))
        rate = value.get("rate")
        match = _RATE.match(rate) if isinstance(rate, str) else None
        if match is None:
            raise ValueError(
                f"rate {rate!r} is not an amount per min, hour, day, week or month, e.g. $5.00/day"
            )
        on_exceed = value.get("on_exceed")
        if on_exceed is not None and on_exceed != REJECT:
            raise ValueError(f'on_exceed {on_exceed!r} is not supported: use "{REJECT}"')
        per_second = Decimal(match.group(1)) / UNIT_SECONDS[match.group(2)]
        return cls(capacity, per_second, str(value["capacity"]), str(rate), on_exceed)


def quota_problems(document: Mapping[str, Any]) -> list[str]:
    """The document's `quotas` as Aperture's save rules judge them (`config.validate_config`)."""
    quotas = document.get("quotas", {})
    if not isinstance(quotas, dict):
        return ["quotas must be an object of bucket name to quota"]
    problems = []
    for name, value in quotas.items():
        bad = [t for t in _TEMPLATE.findall(name) if t not in TEMPLATES]
        if bad:
            problems.append(f'bad quota/bucket template in "{name}": {", ".join(bad)} (use <user> or <node>)')
        try:
            Quota.parse(value)
        except (ValueError, InvalidOperation) as exc:
            problems.append(f'invalid quota "{name}": {exc}')
    return problems


def definitions(document: Mapping[str, Any]) -> dict[str, Quota]:
    """`quotas` of a (valid) document, by name; an entry that does not parse is left out."""
    quotas = document.get("quotas")
    found = {}
    for name, value in (quotas if isinstance(quotas, dict) else {}).items():
        try:
            found[name] = Quota.parse(value)
        except (ValueError, InvalidOperation):
            continue
    return found


def expand(name: str, identity: str) -> str:
    """The bucket a template name means for one caller."""
    for template in TEMPLATES:
        name = name.replace(template, identity)
    return name


def definition_for(bucket: str, defined: Mapping[str, Quota]) -> tuple[str, Quota] | None:
    """The quota (and its name as defined) a bucket name belongs to: itself, or a template it expands."""
    if bucket in defined:
        return bucket, defined[bucket]
    for name, quota in defined.items():
        parts = [re.escape(part) for part in _TEMPLATE.split(name)]
        if len(parts) > 1 and re.fullmatch("(.+)".join(parts), bucket):
            return name, quota
    return None


@dataclass
class _State:
    balance: Decimal
    updated: float


class Buckets:
    """The balances of the buckets that exist so far (thread-safe); `clock` gives seconds."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._state: dict[str, _State] = {}

    def _current(self, name: str, quota: Quota) -> _State:
        """The bucket's state refilled up to now (created full); call with the lock held."""
        now = self.clock()
        state = self._state.get(name)
        if state is None:
            state = self._state[name] = _State(quota.capacity, now)
        refilled = state.balance + quota.per_second * Decimal(str(max(now - state.updated, 0.0)))
        state.balance = min(quota.capacity, refilled)
        state.updated = now
        return state

    def retry_after(self, buckets: Iterable[tuple[str, Quota]]) -> tuple[int, str] | None:
        """None when every rejecting bucket is positive; else the seconds until all are, and the
        bucket that refuses longest."""
        waits = []
        with self._lock:
            for name, quota in buckets:
                balance = self._current(name, quota).balance
                if quota.on_exceed != REJECT or balance > 0:
                    continue
                if quota.per_second <= 0:
                    waits.append((NO_REFILL_RETRY_SECONDS, name))
                    continue
                waits.append((max(1, math.ceil((-balance / quota.per_second) + Decimal("0.001"))), name))
        return max(waits) if waits else None

    def charge(self, buckets: Iterable[tuple[str, Quota]], cost: Decimal) -> None:
        """Take `cost` from each bucket (each once), even below zero."""
        with self._lock:
            for name, quota in dict(buckets).items():
                self._current(name, quota).balance -= cost

    def refill(self, name: str, quota: Quota, amount: Decimal) -> None:
        """Add `amount`, up to the capacity."""
        with self._lock:
            state = self._current(name, quota)
            state.balance = min(quota.capacity, state.balance + amount)

    def existing(self) -> list[str]:
        """The buckets that exist so far, by name."""
        with self._lock:
            return list(self._state)

    def status(self, name: str, quota: Quota) -> dict[str, Any]:
        """One bucket as `GET /api/quotas` lists it."""
        with self._lock:
            state = self._current(name, quota)
            balance, updated = state.balance, state.updated
        return {
            "name": name,
            "balance": format_amount(balance),
            "capacity": quota.capacity_text,
            "rate": quota.rate_text,
            "on_exceed": quota.on_exceed,
            "last_updated": datetime.fromtimestamp(updated, UTC).isoformat(timespec="seconds"),
        }
