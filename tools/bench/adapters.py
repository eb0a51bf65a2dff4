"""The bench's only contact with the ledger's API: one small function per call, so that a change of
signature in tollgate.ledger is a one-line fix here."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tollgate.ledger import Ledger, LedgerBusy
from tollgate.limits import Limit

# The state machine retries LedgerBusy (asl/tollgate.asl.json: Retry MaxAttempts 3 on the task).
STATE_MACHINE_ATTEMPTS = 4


def new_ledger(client: Any, table: str) -> Ledger:
    return Ledger(client, table)


def limit(limit_id: str, unit: str, ceiling: int, scope: Mapping[str, str] | None = None) -> Limit:
    return Limit(limit_id, dict(scope or {}), "month", unit, Decimal(ceiling))


def reserve(ledger: Ledger, context: Mapping[str, Any], execution_id: str, limits: list[Limit]) -> dict:
    return _retried(lambda: ledger.reserve(context, execution_id, lambda: limits))


def settle(
    ledger: Ledger, request_id: str, execution_id: str, usage: Mapping[str, Any], cost_usd: Any
) -> dict:
    return _retried(lambda: ledger.settle(request_id, execution_id, usage, cost_usd, {"usage": dict(usage)}))


def release(ledger: Ledger, request_id: str, execution_id: str) -> dict:
    return _retried(lambda: ledger.release(request_id, execution_id))


def _retried(call: Any) -> dict:
    for attempt in range(STATE_MACHINE_ATTEMPTS):
        try:
            return call()
        except LedgerBusy:
            if attempt + 1 == STATE_MACHINE_ATTEMPTS:
                raise
    raise AssertionError("unreachable")
