"""Issue 15, items 3, 6, 9 and 10: decisions that stand under faults, conditional writes that find
their own effect, a registry that fails closed, and usage that cannot push counters down. Each test
drives the handlers' own events against moto, with the fault injected into the botocore client the
handler uses (an event hook that answers 500, or that lets a write through and loses its response so
that the SDK retries it). Every one of them failed on main before its fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import boto3
import pytest
from asl_flow import execute
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError
from conftest import TABLE, article_request, converse_response, emf_blobs, put_limit, use_env, used
from lambda_context import LAMBDA_CONTEXT
from moto.core.models import botocore_stubber

from tollgate import clients
from tollgate.bedrock import ModelOutcomeUnknown
from tollgate.handlers import invoke, rate_limit, record_metrics, validate
from tollgate.outcome import record

APP = "aws-documentation-helper"
EXECUTION = "arn:aws:states:us-east-1:123456789012:express:tollgate:exec-1:run"
HANDLERS = {
    "validate_function_arn": lambda event: validate.handler(event, LAMBDA_CONTEXT),
    "rate_limit_function_arn": lambda event: rate_limit.handler(event, LAMBDA_CONTEXT),
    "invoke_function_arn": lambda event: invoke.handler(event, LAMBDA_CONTEXT),
    "record_metrics_function_arn": lambda event: record_metrics.handler(event, LAMBDA_CONTEXT),
}


class _Raw:
    """The raw body botocore reads from an HTTP response."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body

    def read(self, *_: Any) -> bytes:
        body, self._body = self._body, b""
        return body


def server_error(request: Any) -> AWSResponse:
    body = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected"}'
    return AWSResponse(request.url, 500, {}, _Raw(body))


@pytest.fixture
def one_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The handlers' DynamoDB client without SDK retries, so that an injected 500 reaches the ledger
    at once (with retries it reaches it too, after the backoff)."""
    monkeypatch.setattr(
        clients, "DYNAMODB_CONFIG", Config(retries={"mode": "standard", "total_max_attempts": 1})
    )


def on_dynamodb(operation: str, hook: Callable[..., Any]) -> None:
    """Run ``hook(request)`` before moto answers ``operation`` on the handlers' DynamoDB client: a
    response it returns is the answer; None lets moto answer."""
    clients.dynamodb().meta.events.register_first(
        f"before-send.dynamodb.{operation}", lambda request, **_: hook(request)
    )


def lose_the_first_response(operation: str, matches: Callable[[bytes], bool]) -> list[int]:
    """The first ``operation`` whose body ``matches`` goes through (moto applies it) and its response
    is lost (the connection closes): the SDK sends the same request again. Returns the count of
    matching requests sent."""
    sent: list[int] = []

    def hook(request: Any) -> Any:
        if not matches(request.body):
            return None
        sent.append(1)
        if len(sent) == 1:
            botocore_stubber(event_name=f"before-send.dynamodb.{operation}", request=request)
            raise ConnectionClosedError(endpoint_url=request.url, request=request)
        return None

    on_dynamodb(operation, hook)
    return sent


def validated(request: dict[str, Any] | None = None) -> dict[str, Any]:
    context = validate.handler({"request": request or article_request()}, LAMBDA_CONTEXT)
    assert context["valid"], context
    return context


def reserve(context: dict[str, Any], execution_id: str = "exec-1", action: str = "reserve") -> dict[str, Any]:
    event = {"action": action, "executionId": execution_id, "context": context}
    result: dict[str, Any] = rate_limit.handler(event, LAMBDA_CONTEXT)
    return result


# --- 3. fail_open never turns a decided denial into an admission ------------------------------------


def test_fail_open_still_denies_a_request_too_big_to_fit_when_its_detail_cannot_be_read(
    table, article_routing, one_attempt, monkeypatch, logs
):
    """Before: the BatchGetItem that builds the denial's detail answered 500, the ledger said
    LedgerUnavailable and fail_open admitted a request that can never fit (failOpen=True)."""
    use_env(monkeypatch, TOLLGATE_FAIL_OPEN="true")
    put_limit(table, "output", unit="output_tokens", limit=100)  # the article asks for 2,000
    context = validated()
    on_dynamodb("BatchGetItem", server_error)
    result = reserve(context)
    assert result["decision"] == "denied"
    assert result["failOpen"] is False
    assert result["denial"]["reason"] == "limit_exceeded"
    assert result["denial"]["limit"]["id"] == "output"
    assert result["denial"]["limit"]["used"] is None  # not read: unknown, not zero
    assert result["denial"]["retryAfterSeconds"] is None  # it can never fit
    assert used(table) == {}
    assert any("denial" in line["message"] and line["level"] == "WARNING" for line in logs())
    cause = record({"context": context, "reservation": result}, ("production",)).cause
    assert "its use could not be read" in cause["message"] and "never fit" in cause["message"]


def test_fail_open_still_denies_against_full_shards_when_their_totals_cannot_be_read(
    table, article_routing, one_attempt, monkeypatch
):
    """Before: every shard full, the BatchGetItem of the shards' totals answered 500, and fail_open
    admitted the request past the ceiling."""
    use_env(monkeypatch, TOLLGATE_FAIL_OPEN="true")
    put_limit(table, "requests", unit="requests", limit=3, shards=3)
    for number in range(3):
        filled = reserve(validated({**article_request(), "requestId": f"fill-{number}"}), f"x-{number}")
        assert filled["decision"] == "approved"
    before = used(table)
    assert sum(before.values()) == 3
    context = validated({**article_request(), "requestId": "one-too-many"})
    cancelled: list[int] = []

    def fail_after_a_cancelled_transaction(request: Any) -> Any:
        # Only the reads that follow the refused transaction (the denial's detail) fail.
        return server_error(request) if cancelled else None

    clients.dynamodb().meta.events.register(
        "after-call.dynamodb.TransactWriteItems",
        lambda http_response, **_: cancelled.append(1) if http_response.status_code == 400 else None,
    )
    on_dynamodb("BatchGetItem", fail_after_a_cancelled_transaction)
    result = reserve(context, "exec-4")
    assert cancelled, "the request never met a full shard"
    assert result["decision"] == "denied"
    assert result["failOpen"] is False
    assert result["denial"]["reason"] == "limit_exceeded"
    assert result["denial"]["limit"]["id"] == "requests"
    assert result["denial"]["retryAfterSeconds"] > 0
    assert used(table) == before


def test_fail_open_still_admits_when_the_ledger_cannot_decide(
    table, article_routing, one_attempt, monkeypatch
):
    """The other side of item 3: an outage before any decision (the transaction itself) is what
    fail_open is for."""
    use_env(monkeypatch, TOLLGATE_FAIL_OPEN="true")
    put_limit(table, "requests", unit="requests", limit=3)
    context = validated()
    on_dynamodb("TransactWriteItems", server_error)
    result = reserve(context)
    assert result["decision"] == "approved"
    assert result["failOpen"] is True


# --- 6. a conditional write that finds its own earlier effect succeeds ------------------------------


def _json(body: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(body or b"{}")
    return loaded


def is_the_invoking_mark(body: bytes) -> bool:
    values = _json(body).get("ExpressionAttributeValues") or {}
    return values.get(":new") == {"S": "invoking"}


def is_the_record_claim(body: bytes) -> bool:
    return (_json(body).get("Item") or {}).get("sk") == {"S": "RECORD"}


def test_a_lost_response_of_the_invoking_mark_does_not_stop_the_call(table, article_routing, bedrock, capsys):
    """Before: the mark went through, its response was lost, the SDK's retry failed its own
    condition (already invoking, same execution) and Invoke raised ModelOutcomeUnknown: the model
    was never called and the caller was charged the estimate."""
    put_limit(table, "tokens", unit="total_tokens", limit=1_000_000)
    sent = lose_the_first_response("UpdateItem", is_the_invoking_mark)
    bedrock.add_response("converse", converse_response(input_tokens=21, output_tokens=9))
    run = execute(article_request(), HANDLERS, EXECUTION)
    assert len(sent) == 2  # the write, and the SDK's retry of it
    assert run.end == "Succeeded", run.output
    assert run.output["usage"]["totalTokens"] == 30
    bedrock.assert_no_pending_responses()  # the model was called, once
    assert sum(used(table).values()) == 30  # settled at the real usage, counted once
    (reservation,) = [i for i in table.scan()["Items"] if i["sk"] == "RESERVATION"]
    assert reservation["state"] == "settled"
    blobs = [b for b in emf_blobs(capsys.readouterr().out) if "TotalRequests" in b]
    assert [(b["TotalRequests"], b["RateLimitApproved"], b["OutputTokens"]) for b in blobs] == [
        ([1.0], [1.0], [9.0])
    ]


def test_a_later_attempt_of_the_same_execution_still_never_calls_the_model_again(
    table, article_routing, bedrock
):
    """The mark's idempotency is the SDK retry's alone: a second Invoke attempt (a new Lambda
    invocation of the same execution) finds the first one's mark and does not call the model."""
    context = validated()
    approved = reserve(context, EXECUTION)
    event = {"context": context, "reservation": approved, "executionId": EXECUTION}
    bedrock.add_client_error("converse", "InternalServerException", "lost", 500)
    with pytest.raises(ModelOutcomeUnknown):
        invoke.handler(event, LAMBDA_CONTEXT)
    with pytest.raises(ModelOutcomeUnknown, match="PreviousAttemptUnfinished"):
        invoke.handler(event, LAMBDA_CONTEXT)


def test_a_lost_response_of_the_streaming_admit_mark_still_admits(table, article_routing):
    """The streaming path's admit marks the reservation the same way: its SDK retry succeeds too."""
    context = validated()
    sent = lose_the_first_response("UpdateItem", is_the_invoking_mark)
    admitted = reserve(context, EXECUTION, action="admit")
    assert len(sent) == 2
    assert admitted["decision"] == "approved"
    (reservation,) = [i for i in table.scan()["Items"] if i["sk"] == "RESERVATION"]
    assert reservation["state"] == "invoking"


def test_a_lost_response_of_the_record_claim_still_emits_the_metrics_once(table, article_routing, capsys):
    """Before: the claim went through, its response was lost, the SDK's retry found the mark and
    Record emitted nothing: the execution was never counted."""
    context = validated()
    state = {"context": context, "reservation": {"decision": "denied", "denial": {}}, "outcome": "denied"}
    sent = lose_the_first_response("PutItem", is_the_record_claim)
    first = record_metrics.handler({"state": state, "executionId": EXECUTION}, LAMBDA_CONTEXT)
    assert len(sent) == 2
    again = record_metrics.handler({"state": state, "executionId": EXECUTION}, LAMBDA_CONTEXT)
    assert first == again
    blobs = [b for b in emf_blobs(capsys.readouterr().out) if "TotalRequests" in b]
    assert [b["TotalRequests"] for b in blobs] == [[1.0]]  # once: not zero, not twice


# --- 9. a configured registry that cannot be used fails closed ---------------------------------------


def validate_as(application_id: str) -> dict[str, Any]:
    request = {**article_request(), "tags": {**article_request()["tags"], "applicationId": application_id}}
    result: dict[str, Any] = validate.handler({"request": request, "executionId": EXECUTION}, LAMBDA_CONTEXT)
    return result


def field_errors(result: dict[str, Any]) -> dict[str, str]:
    return {error["field"]: error["message"] for error in result.get("errors", [])}


def test_a_registry_of_malformed_items_refuses_every_application(table, article_routing, logs):
    """Before: every APPLICATION item malformed left the registry empty, which means off: an
    unregistered applicationId was accepted."""
    table.put_item(Item={"pk": "APPLICATION", "sk": APP, "costCenters": "support"})  # not a list
    table.put_item(Item={"pk": "APPLICATION", "sk": "other-app", "routes": [1, 2]})
    for application_id in ("invented-123", APP):
        result = validate_as(application_id)
        assert result["valid"] is False, application_id
        message = field_errors(result)["tags.applicationId"]
        assert "registry" in message and "cannot be used" in message
    errors = [line for line in logs() if line["level"] == "ERROR"]
    assert {line.get("applicationId") for line in errors} >= {APP, "other-app"}
    assert any("registry" in line["message"] and "no usable" in line["message"] for line in errors)


def test_an_application_whose_own_entry_is_malformed_is_told_so(table, article_routing):
    """One malformed entry among good ones: its application is refused with the reason, the others
    pass (the registry stays on either way)."""
    table.put_item(Item={"pk": "APPLICATION", "sk": "good-app"})
    table.put_item(Item={"pk": "APPLICATION", "sk": APP, "environments": "production"})
    assert validate_as("good-app")["valid"] is True
    message = field_errors(validate_as(APP))["tags.applicationId"]
    assert f"'{APP}'" in message and "cannot be used" in message and "environments" in message
    assert "not registered" in field_errors(validate_as("invented-123"))["tags.applicationId"]


def test_a_registry_that_cannot_be_read_never_lets_a_request_through(
    table, article_routing, one_attempt, logs
):
    """A read of the registry that fails (no cached copy) fails the Validate step (the execution
    ends failed at validate, never valid), with an ERROR line naming the registry."""
    table.put_item(Item={"pk": "APPLICATION", "sk": APP})

    def fail_the_registry_query(request: Any) -> Any:
        return server_error(request) if b'"APPLICATION"' in request.body else None

    on_dynamodb("Query", fail_the_registry_query)
    with pytest.raises(Exception, match="InternalServerError"):
        validate_as("invented-123")
    assert any(line["level"] == "ERROR" and "application registry" in line["message"] for line in logs())


# --- 10. usage that cannot be counted is charged at the estimate ------------------------------------


UNITS = ("requests", "input_tokens", "output_tokens", "total_tokens", "usd")


def every_unit(table: Any) -> None:
    for unit in UNITS:
        put_limit(table, unit, unit=unit, limit=1_000_000)


def by_unit(table: Any) -> dict[str, Any]:
    return {key.split("|")[0]: value for key, value in used(table).items()}


def model_answers(monkeypatch: pytest.MonkeyPatch, usage: dict[str, Any]) -> list[int]:
    """The model's answer with this usage, however odd, handed over as the client's parsed response
    (a ``before-call`` hook, as the Stubber does, without the Stubber's check of the output shape,
    which would refuse it). Returns the count of calls."""
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    monkeypatch.setattr(clients, "bedrock_runtime", lambda read_timeout: client)
    body = {**converse_response(), "usage": usage}
    calls: list[int] = []

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        calls.append(1)
        return AWSResponse("https://bedrock-runtime", 200, {}, None), json.loads(json.dumps(body))

    client.meta.events.register_first("before-call.bedrock-runtime.Converse", answer)
    return calls


def settled_first(table: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """One request answered and settled normally (21 in, 9 out): the counters' earlier values."""
    model_answers(monkeypatch, {"inputTokens": 21, "outputTokens": 9, "totalTokens": 30})
    first = execute({**article_request(), "requestId": "first"}, HANDLERS, EXECUTION + "-first")
    assert first.end == "Succeeded", first.output
    return by_unit(table)


@pytest.mark.parametrize(
    "usage",
    [
        {"inputTokens": -500, "outputTokens": -40, "totalTokens": -540},
        {"inputTokens": 21, "outputTokens": -40, "totalTokens": -19},
        {"inputTokens": "many", "outputTokens": 9, "totalTokens": 30},
        {"inputTokens": 21, "outputTokens": 9.5, "totalTokens": 30.5},
        {"inputTokens": 21, "outputTokens": 9, "totalTokens": 30, "cacheReadInputTokens": -1000},
    ],
    ids=["negative", "one-negative", "non-numeric", "fractional", "negative-cache"],
)
def test_usage_the_model_reports_that_cannot_be_counted_is_charged_at_the_estimate(
    table, article_routing, monkeypatch, logs, capsys, usage
):
    """Before: usage of -500/-40 settled the counters below their earlier values (usd negative), and
    a non-numeric count crashed Invoke after the model had answered."""
    every_unit(table)
    before = settled_first(table, monkeypatch)
    calls = model_answers(monkeypatch, usage)
    context = validated({**article_request(), "requestId": "odd"})
    estimate = context["estimate"]
    run = execute({**article_request(), "requestId": "odd"}, HANDLERS, EXECUTION)
    assert run.end == "Succeeded", run.output
    assert len(calls) == 1
    after = by_unit(table)
    assert after == {
        "requests": before["requests"] + 1,
        "input_tokens": before["input_tokens"] + estimate["inputTokens"],
        "output_tokens": before["output_tokens"] + estimate["outputTokens"],
        "total_tokens": before["total_tokens"] + estimate["totalTokens"],
        "usd": before["usd"] + Decimal(str(estimate["costUsd"])),
    }
    # What was charged is what the output and the metrics say.
    assert run.output["usage"] == {k: estimate[k] for k in ("inputTokens", "outputTokens", "totalTokens")}
    assert run.output["costUsd"] == estimate["costUsd"]
    (reservation,) = [i for i in table.scan()["Items"] if i["pk"].endswith("#odd")]
    assert reservation["state"] == "settled"
    warnings = [line for line in logs() if line["level"] == "WARNING" and "estimate" in line["message"]]
    assert warnings and "usage" in warnings[0]["message"].lower()
    blobs = [b for b in emf_blobs(capsys.readouterr().out) if "InputTokens" in b]
    assert [b["InputTokens"] for b in blobs][-1] == [float(estimate["inputTokens"])]


@pytest.mark.parametrize(
    "usage",
    [
        {"inputTokens": -500, "outputTokens": -40, "totalTokens": -540},
        {"inputTokens": "x", "outputTokens": 9, "totalTokens": 30},
        {"inputTokens": None, "outputTokens": 9, "totalTokens": 30},
        {"outputTokens": 9, "totalTokens": 30},
    ],
    ids=["negative", "non-numeric", "null", "missing"],
)
def test_a_streamed_usage_that_cannot_be_counted_is_charged_at_the_estimate(table, article_routing, usage):
    """The streaming path settles the usage the caller reports: the same rule holds there."""
    every_unit(table)
    context = validated()
    admitted = reserve(context, EXECUTION, action="admit")
    held = by_unit(table)
    result = {"text": "S3 is durable.", "stopReason": "end_turn", "usage": usage, "latencyMs": 12}
    event = {
        "action": "settle_stream",
        "context": context,
        "reservation": admitted,
        "result": result,
        "executionId": EXECUTION,
    }
    output = rate_limit.handler(event, LAMBDA_CONTEXT)
    assert by_unit(table) == held  # the estimate stays: not lower, not the odd numbers
    assert output["usage"]["inputTokens"] == context["estimate"]["inputTokens"]


@pytest.mark.parametrize("cost", [-1.0, float("nan"), "free", None, True])
def test_the_ledger_settles_at_the_estimate_when_the_cost_cannot_be_counted(table, article_routing, cost):
    """The ledger's own guard, for any caller of settle: usage or cost that cannot be counted moves
    no counter (the estimate stays), and the result is still stored."""
    from tollgate.ledger import Ledger, RequestRef

    every_unit(table)
    context = validated()
    reserve(context, EXECUTION)
    held = by_unit(table)
    ledger = Ledger(boto3.client("dynamodb"), TABLE)
    usage = {"inputTokens": 5, "outputTokens": 5, "totalTokens": 10}
    closed = ledger.settle(RequestRef.of(context), EXECUTION, usage, cost, {"answer": 1})
    assert closed["state"] == "settled"
    assert all(delta["delta"] == 0 for delta in closed["deltas"])
    assert by_unit(table) == held
