"""Invoke: mark the reservation ``invoking``, call the model through Converse and return the
success output.

Errors are raised as ModelThrottled, ModelUnavailable (did not run, retried), ModelInvocationError
(did not run, final) or ModelOutcomeUnknown (may have run, never retried; the state machine charges
the reservation at its estimate). An attempt that finds the mark of an earlier attempt of the same
execution does not call the model again: that earlier call may have run (ModelOutcomeUnknown).
"""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext

from tollgate import clients
from tollgate.bedrock import (
    ModelError,
    ModelInvocationError,
    ModelOutcomeUnknown,
    converse,
    read_timeout_seconds,
)
from tollgate.ledger import Ledger, RequestRef
from tollgate.observability import capture_lambda_handler, logger
from tollgate.outcome import fit_for_state, success_output
from tollgate.settings import get_settings
from tollgate.shapes import Invocation


@logger.inject_lambda_context(clear_state=True)
@capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Invocation:
    settings = get_settings()
    request = event["context"]
    execution_id = event.get("executionId")
    logger.append_keys(requestId=request.get("requestId"), executionId=execution_id)
    reservation = event.get("reservation") or {}
    ref = RequestRef.of(request)
    ledger = None
    # A fail-open admission holds no reservation: there is nothing to mark.
    if execution_id and not reservation.get("failOpen"):
        ledger = Ledger(clients.dynamodb(), settings.table_name)
        mark = ledger.mark_invoking(ref, execution_id)
        if mark["mark"] == "already_invoking":
            logger.warning(
                "An earlier attempt of this execution already called the model: not calling it again"
            )
            raise ModelOutcomeUnknown(
                "PreviousAttemptUnfinished",
                "An earlier attempt of this execution called the model and did not report back; "
                "it may have run, so it is not called again.",
                request["modelId"],
            )
        if mark["mark"] != "marked":
            raise ModelInvocationError(
                "ReservationNotHeld",
                f"The reservation for requestId {ref.request_id} is {mark['state']}, not held by this "
                "execution (its lease may have expired); the model was not called.",
                request["modelId"],
            )
    max_tokens = int((request.get("converse") or {}).get("inferenceConfig", {}).get("maxTokens") or 0)
    remaining = (
        context.get_remaining_time_in_millis() / 1000
        if hasattr(context, "get_remaining_time_in_millis")
        else None
    )
    timeout = read_timeout_seconds(max_tokens, settings.bedrock_read_timeout_seconds, remaining)
    client = clients.bedrock_runtime(timeout)
    try:
        result = converse(client, request["modelId"], request["converse"])
    except ModelError as error:
        logger.warning(
            f"Model call failed: {type(error).__name__}",
            extra={
                "modelId": request["modelId"],
                "errorCode": error.code,
                "retryable": error.retryable,
                "mayHaveRun": error.may_have_run,
                "readTimeoutSeconds": timeout,
            },
        )
        if ledger is not None and execution_id and not error.may_have_run:
            # The model did not run: take the mark back so that a retry may call it.
            try:
                ledger.unmark_invoking(ref, execution_id)
            except Exception as unmark_error:  # noqa: BLE001 - a retry then charges, which is safe
                logger.warning("Could not take the invoking mark back", extra={"error": str(unmark_error)})
        raise
    output = cast(Invocation, fit_for_state(success_output(request, result), settings.max_request_bytes))
    if output["response"].get("truncated"):
        logger.warning(
            "Response text cut to fit the Step Functions state",
            extra={"modelId": output["modelId"]},
        )
    logger.info(
        "Model call succeeded",
        extra={
            "modelId": output["modelId"],
            "stopReason": output["response"]["stopReason"],
            "usage": output["usage"],
            "costUsd": output["costUsd"],
            "latencyMs": output["latencyMs"],
            "replayable": output["replayable"],
        },
    )
    if settings.log_prompts:
        logger.info("Response", extra={"responseText": output["response"]["text"]})
    return output
