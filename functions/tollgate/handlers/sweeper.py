"""Sweeper: close the reservations whose lease expired, on a schedule (every minute by default).

A reservation's lease runs out only when its execution died (timed out, or a function crashed past
every retry) without closing it. The sweeper closes each one as the execution would have: charged
at the estimate when it was marked ``invoking`` (the model may have run), released otherwise; it
records the execution's outcome metrics unless the execution already did (the record mark), and
logs each. It returns, and emits as ``SweptReservations``, how many it closed.

Every close of an expired reservation (this sweep's, an earlier sweep's that died before
recording, or a retry's that took the reservation over) leaves the dead execution in the ledger's
``unrecorded`` list in the same transaction; the sweeper records each one there through the same
record mark, then clears it, so a dead execution is counted in TotalRequests exactly once.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tollgate import clients
from tollgate.ledger import Ledger
from tollgate.metrics import DIMENSIONS, emit, emit_count
from tollgate.observability import capture_lambda_handler, logger
from tollgate.outcome import UNRESOLVED
from tollgate.settings import get_settings
from tollgate.states import State

# What Record would have emitted for an admitted request that failed.
SWEPT_METRICS = {"TotalRequests": 1, "RateLimitApproved": 1, "InvocationFailed": 1}


@logger.inject_lambda_context(clear_state=True)
@capture_lambda_handler
def handler(event: dict[str, Any] | None, context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    ledger = Ledger(clients.dynamodb(), settings.table_name, lease_seconds=settings.lease_seconds)
    swept = ledger.sweep()
    summary = {"swept": len(swept), State.RELEASED.value: 0, State.CHARGED.value: 0, "recorded": 0}
    for entry in swept:
        item, closure = entry["item"], entry["closure"]
        summary[closure["state"]] += 1
        execution_id = str(item.get("executionId"))
        # The lines about this reservation carry its request and execution, like the execution's own.
        logger.append_keys(requestId=item.get("requestId"), executionId=execution_id)
        recorded = _record(ledger, execution_id, item.get("dimensions"))
        summary["recorded"] += recorded
        logger.warning(
            f"Swept a reservation whose lease expired: {closure['state']}",
            extra={
                "applicationId": item.get("applicationId"),
                "state": closure["state"],
                "deltas": closure["deltas"],
                "leaseExpiresAt": item.get("leaseExpiresAt"),
                "outcomeRecorded": recorded,
            },
        )
    done = {str(entry["item"].get("executionId")) for entry in swept}
    for dead in ledger.unrecorded():
        execution_id = str(dead.get("executionId"))
        if execution_id in done:
            continue  # recorded above, and the index has not caught up with its clear
        logger.append_keys(requestId=dead.get("requestId"), executionId=execution_id)
        recorded = _record(ledger, execution_id, dead.get("dimensions"))
        summary["recorded"] += recorded
        logger.warning(
            "Recorded an execution that died after its expired reservation was closed "
            "(taken over by a retry, or swept by a sweep that stopped before recording it)",
            extra={
                "applicationId": dead.get("applicationId"),
                "state": dead.get("state"),
                "outcomeRecorded": recorded,
            },
        )
    logger.remove_keys(["requestId", "executionId"])  # the summary is about no one request
    emit_count(
        "SweptReservations",
        len(swept),
        namespace=settings.metrics_namespace,
        sink=settings.metrics_sink,
        cloudwatch=clients.cloudwatch,
    )
    logger.info("Sweep finished", extra=summary)
    return summary


def _record(ledger: Ledger, execution_id: str, known: Any) -> bool:
    """Emit a dead execution's outcome unless it was recorded already (by it, or an earlier call),
    then take it off the ledger's unrecorded list; whether this call emitted it."""
    settings = get_settings()
    recorded = ledger.claim_record(execution_id)
    if recorded:
        known = known if isinstance(known, dict) else {}
        dimensions = {name: str(known.get(name) or UNRESOLVED) for name in DIMENSIONS}
        emit(
            SWEPT_METRICS,
            dimensions,
            namespace=settings.metrics_namespace,
            sink=settings.metrics_sink,
            cloudwatch=clients.cloudwatch,
        )
    ledger.clear_unrecorded(execution_id)
    return recorded
