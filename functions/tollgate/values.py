"""Conversions between JSON payload values (float) and DynamoDB numbers (Decimal)."""

from __future__ import annotations

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
