"""The bench's only contact with the ledger's API: one small function per call, so that a change of
signature in tollgate.ledger is a one-line fix here."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tollgate.ledger import Ledger, LedgerBusy, RequestRef
from tollgate.limits import Limit

# The state machine retries LedgerBusy (asl/tollgate.asl.json: Retry MaxAttempts 3 on the task).
STATE_MACHINE_ATTEMPTS = 4


def new_ledger(client: Any, table: str) -> Ledger:
    return Ledger(client, table)


def limit(limit_id: str, unit: str, ceiling: int, scope: Mapping[str, str] | None = None) -> Limit:
    return Limit(limit_id, dict(scope or {}), "month", unit, Decimal(ceiling))


def reserve(ledger: Ledger, context: Mapping[str, Any], execution_id: str, limits: list[Limit]) -> dict:
    return _retried(lambda: ledger.reserve(context, execution_id, lambda: limits))


def mark_invoking(ledger: Ledger, context: Mapping[str, Any], execution_id: str) -> str:
    """What the invoke function does before it calls the model (one conditional UpdateItem)."""
    return ledger.mark_invoking(RequestRef.of(context), execution_id)["mark"]


def settle(
    ledger: Ledger,
    context: Mapping[str, Any],
    execution_id: str,
    usage: Mapping[str, Any],
    cost_usd: Any,
    counters: list[Any] | None = None,
) -> dict:
    """``counters``: Reserve's, carried as the workflow carries them (settle then reads nothing)."""
    ref = RequestRef.of(context)
    return dict(
        _retried(
            lambda: ledger.settle(
                ref, execution_id, usage, cost_usd, {"usage": dict(usage)}, counters=counters
            )
        )
    )


def release(ledger: Ledger, context: Mapping[str, Any], execution_id: str) -> dict:
    return dict(_retried(lambda: ledger.release(RequestRef.of(context), execution_id)))


def _retried(call: Any) -> Any:
    for attempt in range(STATE_MACHINE_ATTEMPTS):
        try:
            return call()
        except LedgerBusy:
            if attempt + 1 == STATE_MACHINE_ATTEMPTS:
                raise
    raise AssertionError("unreachable")
