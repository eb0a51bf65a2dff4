"""The shapes the handlers pass each other through the state machine (docs/internals.md, section 4),
as TypedDicts: the request context (Validate), the reservation (Reserve), the invocation (Invoke's
success output) and what Record returns. They type what the code reads and writes; Step Functions
carries them as JSON, so every field is a JSON value. Decisions, states, reasons and outcomes are the
StrEnums of ``tollgate.states``; what Settle, Release and Resolve return is ``tollgate.ledger.Closure``.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from tollgate.states import Decision, DenialReason, Outcome


class Tags(TypedDict):
    applicationId: str
    costCenter: NotRequired[str]
    environment: NotRequired[str]


class Estimate(TypedDict):
    inputTokens: int
    outputTokens: int
    totalTokens: int
    costUsd: float


class FieldError(TypedDict):
    field: str
    message: str


class RequestContext(TypedDict):
    """Validate's result: a valid request has everything; an invalid one has ``valid: false``,
    ``requestId``, ``timestamp``, ``errors`` and ``dimensions`` only."""

    valid: bool
    requestId: str | None
    timestamp: str
    dimensions: dict[str, str]
    errors: NotRequired[list[FieldError]]
    model: NotRequired[str]
    route: NotRequired[str]
    kind: NotRequired[str]
    modelId: NotRequired[str]
    modelMetric: NotRequired[str]
    baseModelId: NotRequired[str]
    family: NotRequired[str]
    baseRoute: NotRequired[str]
    tags: NotRequired[Tags]
    converse: NotRequired[dict[str, Any]]
    prices: NotRequired[dict[str, Any]]
    estimate: NotRequired[Estimate]


class LimitView(TypedDict, total=False):
    """A limit as a denial reports it."""

    id: str
    scope: dict[str, str]
    window: str
    unit: str
    limit: float
    used: float
    requested: float
    windowStart: str
    windowEnd: str


class Denial(TypedDict):
    reason: DenialReason
    limit: NotRequired[LimitView | None]
    exceeded: NotRequired[list[LimitView]]
    retryAfterSeconds: NotRequired[int | None]


class Usage(TypedDict):
    inputTokens: int
    outputTokens: int
    totalTokens: int
    cacheReadInputTokens: NotRequired[int]
    cacheWriteInputTokens: NotRequired[int]


class Response(TypedDict):
    text: str
    stopReason: str
    truncated: NotRequired[bool]


class Invocation(TypedDict):
    """Invoke's success output, stored on the reservation for replays and returned to the caller
    (without ``replayable``)."""

    requestId: str
    modelId: str
    modelMetric: str
    model: str
    tags: Tags
    response: Response
    usage: Usage
    costUsd: float
    latencyMs: int
    replayable: NotRequired[bool]
    replayed: NotRequired[bool]
    # Set by invoke when it settled the reservation itself ({state}); absent: the Settle state does it.
    settlement: NotRequired[dict[str, str]]


class Reservation(TypedDict):
    """Reserve's result."""

    decision: Decision
    requestId: str
    counters: list[dict[str, Any]]
    failOpen: bool
    shadowDenials: NotRequired[list[dict[str, Any]]]
    denial: NotRequired[Denial]
    result: NotRequired[Invocation]
    errors: NotRequired[list[FieldError]]


class RecordResult(TypedDict):
    """Record's result: the output of a success, or the Fail state's cause (a JSON string)."""

    outcome: Outcome
    output: NotRequired[dict[str, Any]]
    cause: NotRequired[str]
