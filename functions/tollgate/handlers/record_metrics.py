"""Record: one call per execution, whatever its outcome: metrics, one log line, and the output or
the Fail cause for the state machine's Finish state.

Metrics are emitted once per execution: Record first claims the execution's record mark (a
conditional put); a retried Record, RecordFallback or the sweeper that finds the mark taken emits
nothing, but Record still returns the result the Finish state needs.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from tollgate import clients
from tollgate.ledger import Ledger
from tollgate.metrics import emit
from tollgate.observability import capture_lambda_handler, logger
from tollgate.outcome import record
from tollgate.settings import get_settings
from tollgate.shapes import RecordResult


@logger.inject_lambda_context(clear_state=True)
@capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> RecordResult:
    settings = get_settings()
    namespace = settings.metrics_namespace  # a missing namespace fails here, before anything is claimed
    # Input: {state, executionId} from the state machine; a bare state is accepted too.
    execution_id = event.get("executionId") if "state" in event else None
    state = event["state"] if "state" in event else event
    logger.append_keys(requestId=_request_id(state), executionId=execution_id)
    recorded = record(state, settings.allowed_environments)
    log = dict(recorded.log)
    logger.append_keys(requestId=log.pop("requestId", None))
    if _claim(settings.table_name, execution_id):
        try:
            log["metricsSink"] = emit(
                recorded.metrics,
                recorded.dimensions,
                namespace=namespace,
                sink=settings.metrics_sink,
                cloudwatch=clients.cloudwatch,
            )
        except Exception as error:  # noqa: BLE001 - a metrics failure must never fail the request
            logger.exception("Metrics could not be emitted", extra={"error": str(error)})
            log["metricsSink"] = None
    else:
        log["metricsSink"] = "already-recorded"
    if settings.log_prompts:
        log.update(prompt=recorded.prompt, responseText=recorded.response_text)
    logger.info("Tollgate request", extra=log)
    return recorded.result()


def _request_id(state: Any) -> str | None:
    """The request's ID as far as the state knows it before Record reads it (for the log keys)."""
    if not isinstance(state, dict):
        return None
    context = state.get("context")
    found = context.get("requestId") if isinstance(context, dict) else state.get("requestId")
    return found if isinstance(found, str) else None


def _claim(table_name: str, execution_id: str | None) -> bool:
    """Whether this call emits the metrics. Without an execution ID (a direct call) there is
    nothing to claim; if the mark cannot be written, emitting risks a double count on a retry,
    which is better than a request that is never counted."""
    if not execution_id:
        return True
    try:
        claimed = Ledger(clients.dynamodb(), table_name).claim_record(execution_id)
    except (BotoCoreError, ClientError) as error:
        logger.warning("Could not claim the record mark; emitting anyway", extra={"error": str(error)})
        return True
    if not claimed:
        logger.info("This execution's metrics were already emitted (a retried Record)")
    return claimed
