"""What an execution ends with: the success output, or the cause of its Fail state, and the metric
values and log fields that record it.

``record`` reads the whole state the state machine accumulated (docs/internals.md, section 4); it
never raises on a state it does not expect, because every execution must be recorded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tollgate.catalogue import as_decimal
from tollgate.metrics import DIMENSIONS
from tollgate.observability import logger
from tollgate.payload import REPLAY_MAX_BYTES, json_bytes, response_budget_bytes, truncate_json_text
from tollgate.pricing import Prices
from tollgate.shapes import RecordResult
from tollgate.states import Decision, DenialReason, Outcome, State
from tollgate.values import USAGE_COUNTS, usage_problem

SUCCEEDED, DENIED, FAILED, INVALID = Outcome.SUCCEEDED, Outcome.DENIED, Outcome.FAILED, Outcome.INVALID
FAIL_ERRORS = {DENIED: "RateLimitExceeded", FAILED: "InvocationFailed", INVALID: "ValidationError"}
UNRESOLVED = "unresolved"


def success_output(context: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, Any]:
    """The success output from the context and a parsed Converse result (text, stopReason, usage,
    latencyMs). Cost is the real usage at the route's prices, cache reads and cache writes each at
    their own price (pricing.py). A usage that cannot be counted (negative, not a whole number,
    missing) is unknown: the output, the metrics and the ledger then carry the estimate."""
    usage = result["usage"]
    problem = usage_problem(usage)
    if problem is not None:
        logger.warning(
            f"The reported usage cannot be counted ({problem}): charged at the estimate",
            extra={"requestId": context["requestId"], "modelId": context["modelId"]},
        )
        estimate = context["estimate"]
        usage = {name: int(estimate[name]) for name in USAGE_COUNTS}
        cost = as_decimal(estimate["costUsd"]) or Decimal(0)
    else:
        cost = Prices.from_payload(context["prices"]).cost_usd(
            usage["inputTokens"],
            usage["outputTokens"],
            usage.get("cacheReadInputTokens", 0),
            usage.get("cacheWriteInputTokens", 0),
        )
    return {
        "requestId": context["requestId"],
        "modelId": context["modelId"],
        "modelMetric": context["modelMetric"],
        "model": context["route"],
        "tags": dict(context["tags"]),
        "response": {"text": result["text"], "stopReason": result["stopReason"]},
        "usage": dict(usage),
        "costUsd": float(cost),
        "latencyMs": result["latencyMs"],
    }


def fit_for_state(output: Mapping[str, Any], max_request_bytes: int) -> dict[str, Any]:
    """The success output made safe to carry: its response text cut (and marked ``truncated``) if
    it would not fit in the state next to the largest request, and ``replayable`` saying whether it
    is small enough (``REPLAY_MAX_BYTES``) to be stored for replays. The usage is never changed: a
    cut or unstored response is still settled at what the model really used."""
    fitted = {**output, "response": dict(output["response"])}
    budget = response_budget_bytes(max_request_bytes)
    text = fitted["response"]["text"]
    if json_bytes(text) - 2 > budget:
        fitted["response"]["text"] = truncate_json_text(text, budget)
        fitted["response"]["truncated"] = True
    fitted["replayable"] = json_bytes(fitted) <= REPLAY_MAX_BYTES
    return fitted


# Tollgate's own marks on the invoke result, never part of the caller's output.
INTERNAL_KEYS = frozenset({"replayable", "settlement"})


def caller_output(output: Mapping[str, Any]) -> dict[str, Any]:
    """The success output as the caller gets it (without Tollgate's internal ``replayable`` and
    ``settlement`` marks)."""
    return {k: v for k, v in output.items() if k not in INTERNAL_KEYS}


def stored_for_replay(invocation: Mapping[str, Any]) -> dict[str, Any]:
    """What the reservation keeps of a success output: all of it, or, when invoke marked it
    ``replayable: false`` (too large), the output without its response text. The counters are still
    settled at the real usage either way."""
    kept = {k: v for k, v in invocation.items() if k != "settlement"}
    if invocation.get("replayable", True):
        return kept
    response = {k: v for k, v in invocation["response"].items() if k != "text"}
    return {**kept, "response": response}


@dataclass
class Record:
    outcome: Outcome
    dimensions: dict[str, str]
    metrics: dict[str, float]
    log: dict[str, Any]
    output: dict[str, Any] | None = None
    cause: dict[str, Any] | None = None
    prompt: Any = None
    response_text: str | None = None

    def result(self) -> RecordResult:
        """The Record task's result: ``{outcome, output}`` or ``{outcome, cause}`` (a JSON string)."""
        if self.output is not None:
            return {"outcome": self.outcome, "output": self.output}
        return {"outcome": self.outcome, "cause": json.dumps(self.cause, separators=(",", ":"))}


@dataclass
class _State:
    raw: Mapping[str, Any]
    context: Mapping[str, Any] = field(init=False)
    reservation: Mapping[str, Any] = field(init=False)
    invocation: Mapping[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.context = _mapping(self.raw.get("context"))
        self.reservation = _mapping(self.raw.get("reservation"))
        self.invocation = _mapping(self.raw.get("invocation"))

    @property
    def decision(self) -> Any:
        return self.reservation.get("decision")


def record(state: Mapping[str, Any], allowed_environments: Sequence[str]) -> Record:
    """The whole record of one execution, in four steps: who it was (dimensions, request ID), how it
    ended (outcome and output), what it counts (metrics), and what is logged (with the cause of a
    failure)."""
    raw = _mapping(state)
    if raw.get("stage") == "validate":
        # Validate failed: only its error is Tollgate's own; the rest would be the caller's input.
        raw = {k: raw[k] for k in ("error", "stage", "outcome") if k in raw}
    seen = _State(raw)
    dimensions, request_id = _identity(seen)
    outcome, output = _ending(seen)
    metrics = _metrics(seen.decision, outcome, output)
    log, cause = _log_and_cause(seen, outcome, output, dimensions, request_id)
    converse = _mapping(seen.context.get("converse"))
    return Record(
        outcome=outcome,
        dimensions=dimensions,
        metrics=metrics,
        log=log,
        output=output,
        cause=cause,
        prompt={"system": converse.get("system"), "messages": converse.get("messages")} if converse else None,
        response_text=_mapping((output or {}).get("response")).get("text"),
    )


def _identity(state: _State) -> tuple[dict[str, str], str | None]:
    """The metric dimensions and the request ID, from the context validation produced. Without one
    (Validate itself failed) every dimension is a placeholder and there is no request ID: nothing
    the caller sent is trusted (issue 15, item 7)."""
    if state.context:
        known = _mapping(state.context.get("dimensions"))
        dimensions = {name: str(known.get(name) or UNRESOLVED) for name in DIMENSIONS}
        request_id = state.context.get("requestId")
        return dimensions, request_id if isinstance(request_id, str) else None
    return dict.fromkeys(DIMENSIONS, UNRESOLVED), None


def _ending(state: _State) -> tuple[Outcome, dict[str, Any] | None]:
    """The outcome and, for a success, the caller's output (a replay's stored one, or the model's).
    A success with nothing to return is recorded as the failure it is."""
    decision = state.decision
    outcome = Outcome(state.raw.get("outcome") or _derived_outcome(state.raw, state.context, decision))
    stored = state.reservation.get("result")
    if outcome != SUCCEEDED:
        return outcome, None
    if decision == Decision.REPLAY and isinstance(stored, Mapping):
        if stored.get("replayable") is False:
            return FAILED, None  # answered once, too large to keep: see _failure_cause
        return outcome, {**caller_output(stored), "replayed": True}
    if state.invocation:
        return outcome, caller_output(state.invocation)
    return FAILED, None


def _metrics(decision: Any, outcome: Outcome, output: Mapping[str, Any] | None) -> dict[str, float]:
    """The contract's metric values for one execution (docs/internals.md, section 5)."""
    admitted = decision in (Decision.APPROVED, Decision.REPLAY)
    metrics: dict[str, float] = {"TotalRequests": 1}
    if admitted:
        metrics["RateLimitApproved"] = 1
    if outcome == DENIED:
        metrics["RateLimitDenied"] = 1
    if admitted and outcome == FAILED:
        metrics["InvocationFailed"] = 1
    if output is not None and decision != Decision.REPLAY:  # the model was called
        usage = output["usage"]
        metrics["InputTokens"] = usage["inputTokens"]
        metrics["OutputTokens"] = usage["outputTokens"]
        metrics["CacheReadInputTokens"] = usage.get("cacheReadInputTokens", 0)
        metrics["CacheWriteInputTokens"] = usage.get("cacheWriteInputTokens", 0)
        metrics["EstimatedCostUSD"] = output["costUsd"]
        metrics["InvocationLatency"] = output["latencyMs"]
    return metrics


def _log_and_cause(
    state: _State,
    outcome: Outcome,
    output: Mapping[str, Any] | None,
    dimensions: dict[str, str],
    request_id: str | None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The fields of the execution's one log line, and the cause of a failure (None on success)."""
    decision, reservation = state.decision, state.reservation
    log: dict[str, Any] = {
        "outcome": outcome,
        "requestId": request_id,
        "route": state.context.get("route"),
        "modelId": state.context.get("modelId"),
        "decision": decision,
        "dimensions": dimensions,
    }
    if reservation.get("failOpen"):
        log["failOpen"] = True
    if reservation.get("shadowDenials"):
        log["shadowLimitIds"] = [d.get("id") for d in reservation["shadowDenials"]]
    if output is not None:
        log.update(
            usage=output.get("usage"), costUsd=output.get("costUsd"), latencyMs=output.get("latencyMs")
        )
        if decision == Decision.REPLAY:
            log["replayed"] = True
        return log, None
    cause = _cause(outcome, state, request_id)
    log.update({k: v for k, v in cause.items() if k in ("reason", "stage", "retryAfterSeconds")})
    if cause.get("limit"):
        log["limitId"] = cause["limit"].get("id")
    if cause.get("modelError"):
        log["errorCode"] = cause["modelError"].get("code")
    if cause.get("errors"):
        log["invalidFields"] = [e.get("field") for e in cause["errors"]]
    if cause.get("chargedAtEstimate"):
        log["chargedAtEstimate"] = cause["chargedAtEstimate"]
    return log, cause


def _derived_outcome(raw: Mapping[str, Any], context: Mapping[str, Any], decision: Any) -> Outcome:
    if (context and context.get("valid") is False) or decision == Decision.REJECTED:
        return INVALID
    if decision == Decision.DENIED:
        return DENIED
    if raw.get("invocation") or decision == Decision.REPLAY:
        return SUCCEEDED
    return FAILED


def _cause(outcome: Outcome, state: _State, request_id: str | None) -> dict[str, Any]:
    error = FAIL_ERRORS.get(outcome) or "InvocationFailed"
    base = {"requestId": request_id, "error": error}
    if outcome == INVALID:
        # Invalid input (Validate), or a requestId reused for another request (Reserve).
        errors = list(state.context.get("errors") or state.reservation.get("errors") or [])
        problems = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors)
        noun = "problem" if len(errors) == 1 else "problems"
        return {**base, "message": f"The request has {len(errors)} {noun}: {problems}", "errors": errors}
    if outcome == DENIED:
        return {**base, **_denial_cause(_mapping(state.reservation.get("denial")), request_id)}
    return {**base, **_failure_cause(state)}


def _denial_cause(denial: Mapping[str, Any], request_id: str | None) -> dict[str, Any]:
    reason = denial.get("reason") or DenialReason.LIMIT_EXCEEDED
    limit = denial.get("limit")
    retry_after = denial.get("retryAfterSeconds")
    if reason == DenialReason.LEDGER_UNAVAILABLE:
        message = (
            "Request denied: the budget ledger could not be reached and Tollgate fails closed. "
            f"Retry in {retry_after or 1} seconds."
        )
    elif reason == DenialReason.DUPLICATE_IN_FLIGHT:
        message = (
            f"Request denied: another execution is already handling requestId {request_id}. Retry with the "
            "same requestId once it finishes to get its result."
        )
    elif limit:
        scope = ", ".join(f"{k}={v}" for k, v in sorted((limit.get("scope") or {}).items())) or "everything"
        # used is None when the counters could not be read for the detail (the denial stands).
        use = "its use could not be read" if limit.get("used") is None else f"{limit.get('used')} is used"
        message = (
            f"Request denied by limit '{limit.get('id')}' ({limit.get('unit')} per {limit.get('window')} for "
            f"{scope}): the limit is {limit.get('limit')}, {use} and this request "
            f"needs {limit.get('requested')}."
        )
        if retry_after is None:
            message += " It can never fit: the request needs more than the whole limit."
        else:
            message += (
                f" Retry after {retry_after} seconds, when the {limit.get('window')} window rolls over."
            )
    else:
        message = "Request denied by a limit."
    return {
        "message": message,
        "reason": reason,
        "limit": limit,
        "exceeded": list(denial.get("exceeded") or []),
        "retryAfterSeconds": retry_after,
    }


def _failure_cause(state: _State) -> dict[str, Any]:
    stored = _mapping(state.reservation.get("result"))
    if state.reservation.get("decision") == Decision.REPLAY and stored.get("replayable") is False:
        return {
            "message": (
                "This requestId was already answered, but its response was larger than "
                f"{REPLAY_MAX_BYTES} bytes and was not stored for replay. Send a new requestId to "
                "ask again."
            ),
            "stage": "replay",
            "modelId": state.context.get("modelId"),
            "modelError": {"code": "ResponseNotStored", "message": "too large to store for replay"},
        }
    error = _mapping(state.raw.get("error"))
    code, detail, model_id = _error_detail(error)
    if not state.context:
        stage = "validate"
    elif not state.reservation:
        stage = "reserve"
    else:
        stage = "invoke"
    stage = state.raw.get("stage") or stage
    model_id = model_id or state.context.get("modelId")
    if stage == "invoke":
        message = f"The model call failed: {code}: {detail}"
    else:
        message = f"Tollgate's {stage} step failed: {code}: {detail}"
    cause: dict[str, Any] = {
        "message": message,
        "stage": stage,
        "modelId": model_id,
        "modelError": {"code": code, "message": detail},
    }
    if _mapping(state.raw.get("release")).get("state") == State.CHARGED:
        # The outcome is unknown: the model may have generated (and billed) an answer.
        estimate = _mapping(state.context.get("estimate"))
        cause["chargedAtEstimate"] = dict(estimate)
        cause["message"] = (
            f"{message}. The model may have run, so the usage was charged at the estimate "
            f"({estimate.get('inputTokens')} input + {estimate.get('outputTokens')} output tokens, "
            f"{estimate.get('costUsd')} USD) and the model was not called again. A retry with the same "
            "requestId calls the model again and is charged again."
        )
    return cause


def _error_detail(error: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """Code, message and model ID from a Catch's ``{Error, Cause}``. A Lambda error's Cause is JSON
    with ``errorMessage``; Tollgate's model errors put JSON ``{code, message, modelId}`` in there."""
    code = str(error.get("Error") or "Unknown")
    cause = error.get("Cause")
    detail = cause if isinstance(cause, str) else ""
    model_id = None
    parsed = _json_object(detail)
    if parsed is not None:
        detail = str(parsed.get("errorMessage") or detail)
        inner = _json_object(detail)
        if inner is not None:
            code = str(inner.get("code") or code)
            detail = str(inner.get("message") or "")
            model_id = inner.get("modelId")
    return code, detail or "no details", model_id


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
