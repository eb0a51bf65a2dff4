"""The Bedrock call (Converse) and the classification of its errors.

The invoke handler raises one of four exceptions, named for the state machine's Retry and Catch:
``ModelThrottled``, ``ModelUnavailable`` and ``ModelTimeout`` are retried with backoff and jitter;
``ModelInvocationError`` is final. Each one's message is a JSON object ``{code, message, modelId,
retryable}`` that the failure cause is built from.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from tollgate.converse import parse_converse_response

THROTTLED_CODES = frozenset(
    {"ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"}
)
UNAVAILABLE_CODES = frozenset(
    {"InternalServerException", "ServiceUnavailableException", "ModelNotReadyException", "ServiceUnavailable"}
)
TIMEOUT_CODES = frozenset({"ModelTimeoutException"})
TIMEOUT_ERRORS = (ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError, ConnectionClosedError)
MESSAGE_MAX_CHARS = 1000


class ModelError(Exception):
    retryable = False

    def __init__(self, code: str, message: str, model_id: str) -> None:
        self.code = code
        self.detail = message[:MESSAGE_MAX_CHARS]
        self.model_id = model_id
        super().__init__(
            json.dumps(
                {"code": code, "message": self.detail, "modelId": model_id, "retryable": self.retryable}
            )
        )


class ModelThrottled(ModelError):
    retryable = True


class ModelUnavailable(ModelError):
    retryable = True


class ModelTimeout(ModelError):
    retryable = True


class ModelInvocationError(ModelError):
    retryable = False


def classify_error(error: Exception, model_id: str) -> ModelError:
    """The Tollgate error for an exception raised by the Converse call."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code") or "Unknown"
        message = details.get("Message") or str(error)
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in TIMEOUT_CODES:
            return ModelTimeout(code, message, model_id)
        if code in UNAVAILABLE_CODES:
            return ModelUnavailable(code, message, model_id)
        if code in THROTTLED_CODES or status == 429:
            return ModelThrottled(code, message, model_id)
        if status >= 500:
            return ModelUnavailable(code, message, model_id)
        return ModelInvocationError(code, message, model_id)
    if isinstance(error, TIMEOUT_ERRORS):
        return ModelTimeout(type(error).__name__, str(error), model_id)
    return ModelInvocationError(type(error).__name__, str(error), model_id)


def converse(
    client: Any,
    model_id: str,
    arguments: Mapping[str, Any],
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Call Converse; return ``{text, stopReason, usage, latencyMs}`` or raise a ModelError."""
    started = clock()
    try:
        response = client.converse(modelId=model_id, **arguments)
    except (ClientError, BotoCoreError) as error:
        raise classify_error(error, model_id) from error
    latency_ms = max(0, round((clock() - started) * 1000))
    return {**parse_converse_response(response), "latencyMs": latency_ms}


class TokenCounter:
    """Bedrock's CountTokens for validation's ``count_tokens`` hook: the exact input tokens, or None
    (then the caller falls back to the utf8_bytes bound) when the model does not support counting,
    the call fails or the SDK predates the API. A model that refused once is not asked again by
    this container."""

    def __init__(self, client: Any, on_fallback: Callable[[str, str], None] | None = None) -> None:
        self.client = client
        self.unsupported: set[str] = set()
        self.on_fallback = on_fallback or (lambda model_id, reason: None)

    def __call__(self, model_id: str, converse_input: Mapping[str, Any]) -> int | None:
        if model_id in self.unsupported:
            return None
        try:
            response = self.client.count_tokens(modelId=model_id, input={"converse": dict(converse_input)})
            return int(response["inputTokens"])
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code") or "Unknown"
            if code in ("ValidationException", "AccessDeniedException", "ResourceNotFoundException"):
                self.unsupported.add(model_id)
            self.on_fallback(model_id, f"{code}: {error}")
        except Exception as error:  # noqa: BLE001 - any failure only costs the exact count
            self.on_fallback(model_id, f"{type(error).__name__}: {error}")
        return None
