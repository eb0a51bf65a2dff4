"""Invoke: call the model through Converse and return the success output.

Errors are raised as ModelThrottled, ModelUnavailable, ModelTimeout (retryable) or
ModelInvocationError (final), for the state machine's Retry and Catch.
"""

from __future__ import annotations

from typing import Any

from tollgate import clients
from tollgate.bedrock import ModelError, converse
from tollgate.observability import logger
from tollgate.outcome import fit_for_state, success_output
from tollgate.settings import get_settings


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = get_settings()
    request = event["context"]
    client = clients.bedrock_runtime(settings.bedrock_read_timeout_seconds)
    try:
        result = converse(client, request["modelId"], request["converse"])
    except ModelError as error:
        logger.warning(
            f"Model call failed: {type(error).__name__}",
            extra={
                "requestId": request["requestId"],
                "modelId": request["modelId"],
                "errorCode": error.code,
                "retryable": error.retryable,
            },
        )
        raise
    output = fit_for_state(success_output(request, result), settings.max_request_bytes)
    if output["response"].get("truncated"):
        logger.warning(
            "Response text cut to fit the Step Functions state",
            extra={"requestId": output["requestId"], "modelId": output["modelId"]},
        )
    logger.info(
        "Model call succeeded",
        extra={
            "requestId": output["requestId"],
            "modelId": output["modelId"],
            "stopReason": output["response"]["stopReason"],
            "usage": output["usage"],
            "costUsd": output["costUsd"],
            "latencyMs": output["latencyMs"],
            "replayable": output["replayable"],
        },
    )
    if settings.log_prompts:
        logger.info(
            "Response", extra={"requestId": output["requestId"], "responseText": output["response"]["text"]}
        )
    return output
