"""Validate: check the request, resolve its route, and return the context (valid or not)."""

from __future__ import annotations

from typing import Any

from tollgate import clients
from tollgate.bedrock import TokenCounter
from tollgate.catalogue import load_catalogue
from tollgate.config_store import ConfigStore
from tollgate.observability import logger
from tollgate.settings import get_settings
from tollgate.tokens import COUNT_TOKENS
from tollgate.validation import ValidationOptions, validate_request

_counter: TokenCounter | None = None


def _count_tokens(read_timeout_seconds: int) -> TokenCounter:
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


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = get_settings()
    catalogue = load_catalogue()
    store = ConfigStore(
        settings.table_name,
        clients.dynamodb(),
        cache_seconds=settings.config_cache_seconds,
        catalogue=catalogue,
    )
    options = ValidationOptions(
        allowed_environments=settings.allowed_environments,
        max_prompt_chars=settings.max_prompt_chars,
        max_request_bytes=settings.max_request_bytes,
        applications=store.applications(),
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
    result = validation.context
    for parameter in validation.dropped_parameters:
        logger.warning(
            f"Dropped {parameter}: the model family has no such setting",
            extra={
                "requestId": result["requestId"],
                "family": result["family"],
                "modelId": result["modelId"],
            },
        )
    if validation.valid:
        logger.info(
            "Request valid",
            extra={
                "requestId": result["requestId"],
                "route": result["route"],
                "estimate": result["estimate"],
            },
        )
        if settings.log_prompts:
            logger.info("Prompt", extra={"requestId": result["requestId"], "converse": result["converse"]})
    else:
        logger.info(
            "Request invalid",
            extra={"requestId": result["requestId"], "invalidFields": [e["field"] for e in result["errors"]]},
        )
    return result
