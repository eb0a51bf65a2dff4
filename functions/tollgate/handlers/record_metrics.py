"""Record: one call per execution, whatever its outcome: metrics, one log line, and the output or
the Fail cause for the state machine's Finish state.

Metrics are emitted once per execution: Record first claims the execution's record mark (a
conditional put); a retried Record, RecordFallback or the sweeper that finds the mark taken emits
nothing, but Record still returns the result the Finish state needs.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tollgate import clients
from tollgate.ledger import Ledger
from tollgate.metrics import emit
from tollgate.observability import logger
from tollgate.outcome import record
from tollgate.settings import get_settings


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = get_settings()
    namespace = settings.metrics_namespace
    # Input: {state, executionId} from the state machine; a bare state is accepted too.
    execution_id = event.get("executionId") if "state" in event else None
    state = event["state"] if "state" in event else event
    recorded = record(state, settings.allowed_environments)
    log = dict(recorded.log)
    log["executionId"] = execution_id
    if _claim(settings.table_name, execution_id, log["requestId"]):
        try:
            log["metricsSink"] = emit(
                recorded.metrics,
                recorded.dimensions,
                namespace=namespace,
                sink=settings.metrics_sink,
                cloudwatch=clients.cloudwatch,
            )
        except Exception as error:  # noqa: BLE001 - a metrics failure must never fail the request
            logger.exception(
                "Metrics could not be emitted", extra={"requestId": log["requestId"], "error": str(error)}
            )
            log["metricsSink"] = None
    else:
        log["metricsSink"] = "already-recorded"
    if settings.log_prompts:
        log.update(prompt=recorded.prompt, responseText=recorded.response_text)
    logger.info("Tollgate request", extra=log)
    return recorded.result()


def _claim(table_name: str, execution_id: str | None, request_id: Any) -> bool:
    """Whether this call emits the metrics. Without an execution ID (a direct call) there is
    nothing to claim; if the mark cannot be written, emitting risks a double count on a retry,
    which is better than a request that is never counted."""
    if not execution_id:
        return True
    try:
        claimed = Ledger(clients.dynamodb(), table_name).claim_record(execution_id)
    except (BotoCoreError, ClientError) as error:
        logger.warning(
            "Could not claim the record mark; emitting anyway",
            extra={"requestId": request_id, "error": str(error)},
        )
        return True
    if not claimed:
        logger.info(
            "This execution's metrics were already emitted (a retried Record)",
            extra={"requestId": request_id, "executionId": execution_id},
        )
    return claimed
