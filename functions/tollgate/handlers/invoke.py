"""Invoke: mark the reservation ``invoking``, call the model through Converse, settle the
reservation at the real usage and return the success output.

Throttled or unavailable models (did not run) are retried here, within the function's time left
(bedrock.converse_within_time); the state machine does not send a model call again. Errors are
raised as ModelThrottled, ModelUnavailable or ModelInvocationError (did not run: the reservation is
released) or ModelOutcomeUnknown (may have run, never retried; the state machine charges the
reservation at its estimate). An attempt that finds the mark of an earlier attempt of the same
execution does not call the model again: that earlier call may have run (ModelOutcomeUnknown).

The settle right after the answer is the ledger's own (idempotent per requestId), made here so that
a paid answer is settled in the same invocation (one Lambda hop less per request). Its result is
``settlement`` in the output; when it could not be made (no time left, DynamoDB failed) the output
has no ``settlement`` and the state machine's Settle state makes it.
"""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext

from tollgate import clients
from tollgate.alerts import AlertPublisher
from tollgate.bedrock import (
    ModelError,
    ModelInvocationError,
    ModelOutcomeUnknown,
    converse_within_time,
)
from tollgate.ledger import Ledger, RequestRef
from tollgate.observability import capture_lambda_handler, logger
from tollgate.outcome import fit_for_state, stored_for_replay, success_output
from tollgate.settings import Settings, get_settings
from tollgate.shapes import Invocation

# The in-function settle is made only with at least this much of the function's time left; with
# less, the Settle state makes it (a settle cut off by the timeout would end as an unknown outcome).
SETTLE_MIN_SECONDS = 2.0


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
        ledger = _ledger(settings)
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

    def time_left() -> float | None:
        if hasattr(context, "get_remaining_time_in_millis"):
            return float(context.get_remaining_time_in_millis()) / 1000
        return None

    try:
        result, timeout = converse_within_time(
            clients.bedrock_runtime,
            request["modelId"],
            request["converse"],
            max_tokens=max_tokens,
            override=settings.bedrock_read_timeout_seconds,
            time_left=time_left,
            on_retry=lambda error, wait: logger.info(
                f"Model call not run ({type(error).__name__}): retrying in {wait:.1f} s",
                extra={"modelId": request["modelId"], "errorCode": error.code},
            ),
        )
    except ModelError as error:
        logger.warning(
            f"Model call failed: {type(error).__name__}",
            extra={
                "modelId": request["modelId"],
                "errorCode": error.code,
                "retryable": error.retryable,
                "mayHaveRun": error.may_have_run,
                "readTimeoutSeconds": error.read_timeout_seconds,
            },
        )
        if ledger is not None and execution_id and not error.may_have_run:
            # The model did not run: take the mark back (the Release state then gives it back).
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
            "readTimeoutSeconds": timeout,
        },
    )
    if settings.log_prompts:
        logger.info("Response", extra={"responseText": output["response"]["text"]})
    if ledger is not None and execution_id:
        settlement = _settle(ledger, ref, execution_id, reservation, output, time_left())
        if settlement is not None:
            output["settlement"] = settlement
    return output


def _ledger(settings: Settings) -> Ledger:
    alerts = AlertPublisher(clients.sns(), settings.alert_topic_arn) if settings.alert_topic_arn else None
    return Ledger(
        clients.dynamodb(), settings.table_name, lease_seconds=settings.lease_seconds, alerts=alerts
    )


def _settle(
    ledger: Ledger,
    ref: RequestRef,
    execution_id: str,
    reservation: dict[str, Any],
    output: Invocation,
    time_left: float | None,
) -> dict[str, str] | None:
    """Settle the reservation at the answer's usage, as the Settle state would: ``{state}``, or None
    (logged) when it was not made, so that the Settle state makes it."""
    if time_left is not None and time_left < SETTLE_MIN_SECONDS:
        logger.warning(
            "Too little time left to settle here: the Settle state settles", extra={"timeLeft": time_left}
        )
        return None
    counters = reservation.get("counters")
    try:
        closed = ledger.settle(
            ref,
            execution_id,
            output["usage"],
            output["costUsd"],
            stored_for_replay(cast(dict[str, Any], output)),
            counters=counters if isinstance(counters, list) else None,
        )
    except Exception as error:  # noqa: BLE001 - a paid answer is returned whatever its settle did
        # The reservation stays invoking: the Settle state settles it, or, if the execution died,
        # the sweeper charges it at the estimate when its lease ends.
        logger.warning(
            "Could not settle here: the Settle state settles",
            extra={"error": f"{type(error).__name__}: {error}"},
        )
        return None
    logger.info(f"Settle: {closed['state']}", extra={"state": closed["state"], "deltas": closed["deltas"]})
    return {"state": str(closed["state"])}
