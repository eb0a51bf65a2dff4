"""The Bedrock call (Converse) and the classification of its errors.

Every error is one of two kinds, because they cost the caller differently (docs/ledger.md):

- *did not run*: Bedrock refused the request before generating anything (throttling, 503, a
  4xx validation or access error, ResourceNotFound, no connection). ``ModelThrottled`` and
  ``ModelUnavailable`` are retried by the state machine; ``ModelInvocationError`` is final. The
  reservation is released.
- *may have run*: the request was sent and no answer came back (read timeout, connection closed
  after send, a 5xx other than 503, ModelTimeoutException). ``ModelOutcomeUnknown`` is never
  retried: the model may have generated, and billed, the answer. The reservation is charged at
  its estimate.

Each exception's message is a JSON object ``{code, message, modelId, retryable, mayHaveRun}``
that the failure cause is built from.
"""

from __future__ import annotations

import json
import random
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
# Answers that say the request was not processed (the service or the model was not available).
NOT_PROCESSED_CODES = frozenset(
    {"ServiceUnavailableException", "ModelNotReadyException", "ServiceUnavailable"}
)
# Answers that come after the request was accepted: the model may have generated (and billed) it.
MAY_HAVE_RUN_CODES = frozenset({"ModelTimeoutException", "InternalServerException"})
# Raised before a byte of the request reached Bedrock.
NOT_SENT_ERRORS = (ConnectTimeoutError, EndpointConnectionError)
# Raised after the request was sent, before the answer arrived.
MAY_HAVE_RUN_ERRORS = (ReadTimeoutError, ConnectionClosedError)
MESSAGE_MAX_CHARS = 1000
# Read timeout sizing: a fixed allowance plus the time the longest answer takes at a slow rate.
READ_TIMEOUT_BASE_SECONDS = 20
READ_TIMEOUT_TOKENS_PER_SECOND = 50
READ_TIMEOUT_MINIMUM_SECONDS = 30
# What the invoke function keeps of its time after the read timeout: to settle and report.
READ_TIMEOUT_MARGIN_SECONDS = 5
# Did-not-run errors (throttled, unavailable) are retried inside the invoke function, within its time
# left: at most this many calls, full-jitter exponential waits, and only while a retry would still
# have this much time to read.
MODEL_ATTEMPTS = 3
RETRY_BASE_SECONDS = 1.0
RETRY_CAP_SECONDS = 8.0
RETRY_MIN_READ_SECONDS = 10


def read_timeout_seconds(max_tokens: int, override: int | None, remaining_seconds: float | None) -> int:
    """The Converse read timeout: ``override`` if set, else sized from the request's max_tokens;
    never longer than the invoke function has left (less a margin to report the failure)."""
    if override is not None:
        timeout = override
    else:
        timeout = max(
            READ_TIMEOUT_MINIMUM_SECONDS,
            READ_TIMEOUT_BASE_SECONDS + -(-int(max_tokens) // READ_TIMEOUT_TOKENS_PER_SECOND),
        )
    if remaining_seconds is not None:
        timeout = min(timeout, max(1, int(remaining_seconds) - READ_TIMEOUT_MARGIN_SECONDS))
    return int(timeout)


class ModelError(Exception):
    retryable = False
    may_have_run = False
    read_timeout_seconds: int | None = None

    def __init__(self, code: str, message: str, model_id: str) -> None:
        self.code = code
        self.detail = message[:MESSAGE_MAX_CHARS]
        self.model_id = model_id
        super().__init__(
            json.dumps(
                {
                    "code": code,
                    "message": self.detail,
                    "modelId": model_id,
                    "retryable": self.retryable,
                    "mayHaveRun": self.may_have_run,
                }
            )
        )


class ModelThrottled(ModelError):
    retryable = True


class ModelUnavailable(ModelError):
    retryable = True


class ModelOutcomeUnknown(ModelError):
    """The request was sent and no answer came back: the model may have run. Never retried."""

    may_have_run = True


class ModelInvocationError(ModelError):
    retryable = False


def classify_error(error: Exception, model_id: str) -> ModelError:
    """The Tollgate error for an exception raised by the Converse call."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code") or "Unknown"
        message = details.get("Message") or str(error)
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in NOT_PROCESSED_CODES or status == 503:
            return ModelUnavailable(code, message, model_id)
        if code in THROTTLED_CODES or status == 429:
            return ModelThrottled(code, message, model_id)
        if code in MAY_HAVE_RUN_CODES or status >= 500 or status == 408:
            return ModelOutcomeUnknown(code, message, model_id)
        return ModelInvocationError(code, message, model_id)
    if isinstance(error, MAY_HAVE_RUN_ERRORS):
        return ModelOutcomeUnknown(type(error).__name__, str(error), model_id)
    if isinstance(error, NOT_SENT_ERRORS):
        return ModelUnavailable(type(error).__name__, str(error), model_id)
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


def wait_before_retry(seconds: float) -> None:
    """The wait between two model calls (a module function, so that tests can skip it)."""
    time.sleep(seconds)


def converse_within_time(
    client_for: Callable[[int], Any],
    model_id: str,
    arguments: Mapping[str, Any],
    *,
    max_tokens: int,
    override: int | None,
    time_left: Callable[[], float | None],
    attempts: int = MODEL_ATTEMPTS,
    sleep: Callable[[float], None] | None = None,
    jitter: Callable[[float, float], float] = random.uniform,
    on_retry: Callable[[ModelError, float], None] | None = None,
) -> tuple[dict[str, Any], int]:
    """Converse, retrying the errors that prove the model did not run (ModelThrottled,
    ModelUnavailable) inside the function: up to ``attempts`` calls, a full-jitter exponential wait
    between them, each call's read timeout sized from max_tokens and capped by the time left
    (``time_left()``, None when unknown). A retry is made only if, after its wait, at least
    RETRY_MIN_READ_SECONDS would be left to read. Anything that may have run is never retried.
    Returns the parsed result and the read timeout of the call that answered; raises the last
    ModelError (with ``read_timeout_seconds`` set)."""
    for attempt in range(attempts):
        remaining = time_left()
        timeout = read_timeout_seconds(max_tokens, override, remaining)
        try:
            return converse(client_for(timeout), model_id, arguments), timeout
        except (ModelThrottled, ModelUnavailable) as error:
            error.read_timeout_seconds = timeout
            wait = jitter(0, min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2**attempt))
            left = time_left()
            if attempt + 1 >= attempts or (
                left is not None and left - wait - READ_TIMEOUT_MARGIN_SECONDS < RETRY_MIN_READ_SECONDS
            ):
                raise
            if on_retry is not None:
                on_retry(error, wait)
            (sleep or wait_before_retry)(wait)
        except ModelError as error:
            error.read_timeout_seconds = timeout
            raise
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover


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
