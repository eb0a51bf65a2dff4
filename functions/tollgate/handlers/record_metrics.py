"""Record: one call per execution, whatever its outcome: metrics, one log line, and the output or
the Fail cause for the state machine's Finish state."""

from __future__ import annotations

from typing import Any

from tollgate import clients
from tollgate.metrics import emit
from tollgate.observability import logger
from tollgate.outcome import record
from tollgate.settings import get_settings


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = get_settings()
    namespace = settings.metrics_namespace
    recorded = record(event, settings.allowed_environments)
    log = dict(recorded.log)
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
    if settings.log_prompts:
        log.update(prompt=recorded.prompt, responseText=recorded.response_text)
    logger.info("Tollgate request", extra=log)
    return recorded.result()
