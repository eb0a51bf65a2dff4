"""Validate: check the request, resolve its route, and return the context (valid or not)."""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from tollgate import clients
from tollgate.bedrock import TokenCounter
from tollgate.catalogue import load_catalogue
from tollgate.config_store import ConfigStore
from tollgate.observability import capture_lambda_handler, logger
from tollgate.settings import get_settings
from tollgate.shapes import RequestContext
from tollgate.tokens import COUNT_TOKENS
from tollgate.validation import ValidationOptions, validate_request

_counter: TokenCounter | None = None


def _count_tokens(read_timeout_seconds: int | None) -> TokenCounter:
    """One counter per container, so that a model that does not support CountTokens is asked once."""
    global _counter
    if _counter is None:
        _counter = TokenCounter(
            clients.bedrock_runtime(read_timeout_seconds),
            on_fallback=lambda model_id, reason: logger.warning(
                "CountTokens gave no count: reserving by UTF-8 bytes",
                extra={"modelId": model_id, "reason": reason[:500]},
            ),
        )
    return _counter


@logger.inject_lambda_context(clear_state=True)
@capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> RequestContext:
    raw = event.get("request")
    raw_id = raw.get("requestId") if isinstance(raw, dict) else None
    logger.append_keys(
        requestId=raw_id if isinstance(raw_id, str) else None, executionId=event.get("executionId")
    )
    settings = get_settings()
    catalogue = load_catalogue()
    store = ConfigStore(
        settings.table_name,
        clients.dynamodb(),
        cache_seconds=settings.config_cache_seconds,
        catalogue=catalogue,
    )
    try:
        applications = store.applications()
    except (BotoCoreError, ClientError) as error:
        # Unread, the registry might be on: the step fails (closed) rather than accept any applicationId.
        logger.error(
            "Could not read the application registry: the request is refused (fails closed)",
            extra={"error": str(error)},
        )
        raise
    options = ValidationOptions(
        allowed_environments=settings.allowed_environments,
        max_prompt_chars=settings.max_prompt_chars,
        max_request_bytes=settings.max_request_bytes,
        applications=applications,
        input_token_estimate=settings.input_token_estimate,
        allow_direct_model_ids=settings.allow_direct_model_ids,
    )
    count_tokens = (
        _count_tokens(settings.bedrock_read_timeout_seconds)
        if settings.input_token_estimate == COUNT_TOKENS
        else None
    )
    validation = validate_request(
        event.get("request"),
        routes=store.routes(),
        catalogue=catalogue,
        options=options,
        count_tokens=count_tokens,
    )
    result = cast(RequestContext, validation.context)
    logger.append_keys(requestId=result["requestId"])
    for parameter in validation.dropped_parameters:
        logger.warning(
            f"Dropped {parameter}: the model family has no such setting",
            extra={"family": result["family"], "modelId": result["modelId"]},
        )
    if validation.valid:
        logger.info(
            "Request valid",
            extra={"route": result["route"], "estimate": result["estimate"]},
        )
        if settings.log_prompts:
            logger.info("Prompt", extra={"converse": result["converse"]})
    else:
        logger.info(
            "Request invalid",
            extra={"invalidFields": [e["field"] for e in result["errors"]]},
        )
    return result
