"""Limits, calendar windows and the counters a request adds to (pure: no AWS here).

A limit is a scope, a calendar window in UTC, a unit and a ceiling. A request adds to one counter per
limit whose scope matches it: the counter of the limit's current window and of the request's values
for the scope's keys.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tollgate.catalogue import as_decimal, strip_geo_prefix

WINDOWS = ("minute", "hour", "day", "month")
UNITS = ("requests", "input_tokens", "output_tokens", "total_tokens", "usd")
SCOPE_KEYS = ("model", "costCenter", "applicationId", "environment")
EACH_VALUE = "*"
ABSENT_TAG = "unspecified"
# Settle may run after the window closed; the counter must still be there to be corrected.
COUNTER_GRACE = timedelta(hours=1)
MAX_SHARDS = 64
# A reservation tries its hashed shard and at most this many others before it is denied.
SHARD_FALLBACKS = 2
# The finest split of a usd ceiling over shards (a millionth of a dollar); other units: whole units.
USD_SHARD_QUANTUM = Decimal("0.000001")


class LimitConfigError(ValueError):
    """A LIMIT item that cannot be used."""


@dataclass(frozen=True)
class Limit:
    id: str
    scope: dict[str, str]
    window: str
    unit: str
    ceiling: Decimal
    enforce: bool = True
    shards: int = 1  # counter items the ceiling is split over (docs/ledger.md, "Sharded limits")
    # Fractions of the ceiling at which an alert goes to the SNS topic (tollgate.alerts), ascending.
    alert_at: tuple[Decimal, ...] = ()

    def describe(self) -> str:
        scope = ", ".join(f"{k}={v}" for k, v in sorted(self.scope.items())) or "everything"
        return f"{self.unit} per {self.window} for {scope}"

    @property
    def shard_ceilings(self) -> tuple[Decimal, ...]:
        """The ceiling of each shard: the ceiling divided into ``shards`` parts of whole quanta
        (whole units; a millionth of a dollar for usd, or the ceiling's own finer digits), the
        first ones one quantum larger, so that they sum exactly to the ceiling."""
        return split_ceiling(self.ceiling, self.shards, self.unit)


def split_ceiling(ceiling: Decimal, shards: int, unit: str) -> tuple[Decimal, ...]:
    if shards == 1:
        return (ceiling,)
    exponent = ceiling.as_tuple().exponent
    finest = USD_SHARD_QUANTUM.as_tuple().exponent if unit == "usd" else 0
    quantum = Decimal(1).scaleb(min(int(exponent), int(finest)))
    quanta = int(ceiling / quantum)  # exact: the ceiling is a whole number of quanta
    base, extra = divmod(quanta, shards)
    return tuple((base + (1 if i < extra else 0)) * quantum for i in range(shards))


def shard_order(limit_id: str, request_id: str, shards: int) -> tuple[int, ...]:
    """The shards a request tries, in order: the first by a hash of its requestId, then up to
    ``SHARD_FALLBACKS`` others. Rendezvous hashing: every shard is ranked by SHA-256 of (limit,
    request, shard), so the order is deterministic and spread evenly, whatever ``shards`` is."""
    if shards == 1:
        return (0,)

    def rank(shard: int) -> bytes:
        return hashlib.sha256(f"{limit_id}\n{request_id}\n{shard}".encode()).digest()

    return tuple(sorted(range(shards), key=rank)[: 1 + SHARD_FALLBACKS])


@dataclass(frozen=True)
class Amounts:
    """What one request counts in each unit."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    usd: Decimal
    requests: int = 1

    def of(self, unit: str) -> Decimal:
        return Decimal(getattr(self, unit))

    @classmethod
    def from_estimate(cls, estimate: Mapping[str, Any]) -> Amounts:
        return cls(
            input_tokens=int(estimate["inputTokens"]),
            output_tokens=int(estimate["outputTokens"]),
            total_tokens=int(estimate["totalTokens"]),
            usd=as_decimal(estimate["costUsd"]) or Decimal(0),
        )

    @classmethod
    def from_usage(cls, usage: Mapping[str, Any], cost_usd: Any) -> Amounts:
        return cls(
            input_tokens=int(usage["inputTokens"]),
            output_tokens=int(usage["outputTokens"]),
            total_tokens=int(usage["totalTokens"]),
            usd=as_decimal(cost_usd) or Decimal(0),
        )


@dataclass(frozen=True)
class CounterPlan:
    """One counter that a reservation adds ``amount`` to."""

    limit: Limit
    pk: str
    sk: str
    scope_key: str
    window_start: datetime
    window_end: datetime
    amount: Decimal
    shard: int = 0  # which of the limit's counter items (0 when it is not sharded)
    shard_order: tuple[int, ...] = (0,)  # the shards this request may try, in order

    @property
    def ceiling(self) -> Decimal:
        """The ceiling of this counter item: the limit's, or its shard's part of it."""
        return self.limit.shard_ceilings[self.shard]

    @property
    def fits_at_all(self) -> bool:
        """Whether the amount fits in an empty counter of some shard this request may use."""
        return self.amount <= max(self.limit.shard_ceilings[s] for s in self.shard_order)

    @property
    def ceiling_minus_amount(self) -> Decimal:
        return self.ceiling - self.amount

    @property
    def shard_keys(self) -> list[tuple[str, str]]:
        """(pk, sk) of every shard of this counter (one item when the limit is not sharded)."""
        return [
            counter_key(self.limit.id, self.window_start, self.scope_key, s, self.limit.shards)
            for s in range(self.limit.shards)
        ]

    def on_shard(self, shard: int) -> CounterPlan:
        """The same counter on another of the limit's shards."""
        pk, sk = counter_key(self.limit.id, self.window_start, self.scope_key, shard, self.limit.shards)
        return replace(self, pk=pk, sk=sk, shard=shard)

    @property
    def expires_at(self) -> int:
        return int((self.window_end + COUNTER_GRACE).timestamp())

    def describe(self, used: Decimal | None) -> dict[str, Any]:
        """The limit as a denial or a would-be denial names it."""
        return {
            "id": self.limit.id,
            "scope": dict(self.limit.scope),
            "window": self.limit.window,
            "unit": self.limit.unit,
            "limit": self.limit.ceiling,
            "used": used,
            "requested": self.amount,
            "windowStart": format_instant(self.window_start),
            "windowEnd": format_instant(self.window_end),
        }


def limit_from_item(item: Mapping[str, Any]) -> Limit:
    limit_id = str(item.get("sk", ""))
    scope = item.get("scope") or {}
    window, unit, ceiling = item.get("window"), item.get("unit"), item.get("limit")
    problems = []
    if not isinstance(scope, Mapping) or any(
        k not in SCOPE_KEYS or not isinstance(v, str) for k, v in scope.items()
    ):
        problems.append(f"scope must map some of {', '.join(SCOPE_KEYS)} to strings")
    if window not in WINDOWS:
        problems.append(f"window must be one of {', '.join(WINDOWS)}")
    if unit not in UNITS:
        problems.append(f"unit must be one of {', '.join(UNITS)}")
    try:
        ceiling = as_decimal(ceiling)
    except ArithmeticError:
        ceiling = None
    if ceiling is None or not ceiling.is_finite() or ceiling < 0:
        problems.append("limit must be a number, 0 or more")
    shards = item.get("shards", 1)
    if isinstance(shards, bool) or not isinstance(shards, int | Decimal) or shards != int(shards):
        shards = 0
    if not 1 <= int(shards) <= MAX_SHARDS:
        problems.append(f"shards must be a whole number from 1 to {MAX_SHARDS}")
    alert_at = _alert_at(item.get("alertAt"), problems)
    if problems:
        raise LimitConfigError(f"Limit '{limit_id}' cannot be used: {'; '.join(problems)}.")
    assert ceiling is not None  # for mypy: a missing limit is one of the problems above
    return Limit(
        id=limit_id,
        scope={str(k): str(v) for k, v in scope.items()},
        window=str(window),
        unit=str(unit),
        ceiling=ceiling,
        enforce=item.get("enforce", True) is not False,
        shards=int(shards),
        alert_at=alert_at,
    )


def _alert_at(raw: Any, problems: list[str]) -> tuple[Decimal, ...]:
    """The ``alertAt`` list of a LIMIT item: fractions of the ceiling, each > 0 and <= 1."""
    if raw is None:
        return ()
    try:
        fractions = [as_decimal(v) for v in raw] if isinstance(raw, list | tuple | set) else None
    except (ArithmeticError, TypeError, ValueError):
        fractions = None
    if fractions is None or not all(f is not None and f.is_finite() and 0 < f <= 1 for f in fractions):
        problems.append("alertAt must be a list of fractions of the limit, each above 0 and at most 1")
        return ()
    return tuple(sorted({f for f in fractions if f is not None}))  # all checked above


def window_bounds(window: str, at: datetime) -> tuple[datetime, datetime]:
    """The calendar window (UTC) that contains ``at``: [start, end)."""
    at = at.astimezone(UTC)
    if window == "minute":
        start = at.replace(second=0, microsecond=0)
        return start, start + timedelta(minutes=1)
    if window == "hour":
        start = at.replace(minute=0, second=0, microsecond=0)
        return start, start + timedelta(hours=1)
    if window == "day":
        start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    if window == "month":
        start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
        return start, end
    raise ValueError(f"unknown window {window!r}")


def retry_after_seconds(window_end: datetime, now: datetime) -> int:
    """Whole seconds until the window rolls over (at least 1)."""
    return max(1, math.ceil((window_end - now).total_seconds()))


def format_instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


SHARD_SEPARATOR = "#shard-"


def counter_key(
    limit_id: str, window_start: datetime, scope_key: str = "", shard: int = 0, shards: int = 1
) -> tuple[str, str]:
    """(pk, sk) of a limit's counter for one window and scope; with ``scope_key`` empty, the sk is
    also the prefix shared by all of that window's counters of the limit. Shard 0 is the item an
    unsharded limit uses; shard i > 0 appends ``#shard-i`` (scope values cannot contain ``#``)."""
    sk = f"{format_instant(window_start)}#{scope_key}"
    return f"COUNTER#{limit_id}", (f"{sk}{SHARD_SEPARATOR}{shard}" if shards > 1 and shard else sk)


def counter_scope(sk: str) -> str:
    """The scope key of a counter's sk, without its window or shard: what the shards share."""
    return sk.split("#", 1)[1].split(SHARD_SEPARATOR, 1)[0]


def scope_values(context: Mapping[str, Any]) -> dict[str, str]:
    """The request's value for each scope key (absent optional tags count as ``unspecified``)."""
    tags = context.get("tags") or {}
    return {
        "model": context["route"],
        "costCenter": tags.get("costCenter") or ABSENT_TAG,
        "applicationId": tags.get("applicationId") or ABSENT_TAG,
        "environment": tags.get("environment") or ABSENT_TAG,
    }


def _matches(key: str, wanted: str, context: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    if wanted == EACH_VALUE:
        return True
    if key == "model":
        return wanted in model_names(context)
    return wanted == values[key]


def model_names(context: Mapping[str, Any]) -> set[str]:
    """The names a ``model`` scope matches a request by: its route, the alias that route copies
    from, the model ID or profile ARN it calls, and the model behind it (its base model ID, and
    that ID without a system profile's geography prefix), so a limit on a model ID holds on every
    route that reaches the model, while a limit on a route or profile holds on that one only."""
    names = {str(context["route"])}
    names.update(str(v) for v in (context.get("baseRoute"), context.get("modelId")) if v)
    base = context.get("baseModelId")
    if base:
        names.update((str(base), strip_geo_prefix(str(base).rsplit("/", 1)[-1])))
    return names


def plan_counters(
    limits: list[Limit], context: Mapping[str, Any], amounts: Amounts, now: datetime
) -> list[CounterPlan]:
    """One counter per limit whose scope matches the request, in limit-ID order; for a sharded
    limit, the counter of the first shard in the request's ``shard_order``."""
    values = scope_values(context)
    plans = []
    for limit in sorted(limits, key=lambda lim: lim.id):
        if not all(_matches(k, v, context, values) for k, v in limit.scope.items()):
            continue
        # An exact scope value names the counter; "*" gives each of the request's values its own.
        scope_key = ",".join(
            f"{k}={values[k] if v == EACH_VALUE else v}" for k, v in sorted(limit.scope.items())
        )
        start, end = window_bounds(limit.window, now)
        order = shard_order(limit.id, str(context.get("requestId", "")), limit.shards)
        pk, sk = counter_key(limit.id, start, scope_key, order[0], limit.shards)
        plans.append(
            CounterPlan(
                limit=limit,
                pk=pk,
                sk=sk,
                scope_key=scope_key,
                window_start=start,
                window_end=end,
                amount=amounts.of(limit.unit),
                shard=order[0],
                shard_order=order,
            )
        )
    return plans
