"""Conversions between JSON payload values (float) and DynamoDB numbers (Decimal)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` with every Decimal turned into an int (when whole) or a float, for a Lambda payload."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def dynamodb_safe(value: Any) -> Any:
    """``value`` with every float turned into a Decimal (through its shortest repr), for DynamoDB."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: dynamodb_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [dynamodb_safe(v) for v in value]
    return value


# A model's (or a streaming caller's) reported usage: the counts the ledger settles to.
USAGE_COUNTS = ("inputTokens", "outputTokens", "totalTokens")
OPTIONAL_USAGE_COUNTS = ("cacheReadInputTokens", "cacheWriteInputTokens")


def usage_problem(usage: Any) -> str | None:
    """Why a reported usage cannot be counted (a count missing, not a whole number, or negative),
    or None when it can. Usage that cannot be counted is charged at the estimate."""
    if not isinstance(usage, Mapping):
        return "the usage is not an object"
    for name in USAGE_COUNTS + OPTIONAL_USAGE_COUNTS:
        if name not in usage:
            if name in USAGE_COUNTS:
                return f"{name} is missing"
            continue
        if not _whole_and_not_negative(usage[name]):
            return f"{name} is {_shown(usage[name])}, not a whole number of 0 or more"
    return None


def cost_problem(cost_usd: Any) -> str | None:
    """Why a reported cost cannot be counted (not a finite number of 0 or more), or None."""
    number = _number(cost_usd)
    if number is None or not number.is_finite() or number < 0:
        return f"costUsd is {_shown(cost_usd)}, not a number of 0 or more"
    return None


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return value if isinstance(value, Decimal) else Decimal(repr(value))


def _whole_and_not_negative(value: Any) -> bool:
    number = _number(value)
    return number is not None and number.is_finite() and number >= 0 and number == number.to_integral_value()


def _shown(value: Any) -> str:
    """A reported value for a log line or a message: its repr, cut short (it may be anything)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
