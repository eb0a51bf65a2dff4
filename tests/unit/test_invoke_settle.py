"""Issue 18: the invoke function retries a model that did not run within its time left, and settles
the reservation itself right after the answer (one Lambda invocation less per request)."""

from __future__ import annotations

from dataclasses import dataclass

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from conftest import TABLE, article_request, article_routes, converse_response, put_limit, used
from lambda_context import LAMBDA_CONTEXT

from tollgate import clients
from tollgate.bedrock import MODEL_ATTEMPTS, ModelOutcomeUnknown, ModelThrottled
from tollgate.config_store import ConfigStore
from tollgate.handlers import invoke, rate_limit
from tollgate.ledger import Ledger
from tollgate.outcome import caller_output
from tollgate.states import State
from tollgate.validation import ValidationOptions, validate_request

OPTIONS = ValidationOptions(("production",), 100_000, False)
APP = "aws-documentation-helper"


@dataclass(frozen=True)
class TimedContext:
    """A Lambda context whose function has ``left`` seconds of its timeout left."""

    left: float
    function_name: str = "tollgate-unit"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:tollgate-unit"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return int(self.left * 1000)


@pytest.fixture
def waits(monkeypatch):
    recorded = []
    monkeypatch.setattr("tollgate.bedrock.wait_before_retry", recorded.append)
    return recorded


@pytest.fixture
def model(monkeypatch):
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    timeouts = []

    def factory(read_timeout):
        timeouts.append(read_timeout)
        return client

    monkeypatch.setattr(clients, "bedrock_runtime", factory)
    with Stubber(client) as stub:
        stub.timeouts = timeouts
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def reserved(table, catalogue):
    """A request reserved by exec-1 against a token limit: (context, reservation)."""
    put_limit(table, "tokens", scope={"applicationId": "*"}, unit="total_tokens", limit=1_000_000)
    request = {**article_request(), "model": "nova-lite", "requestId": "req-1"}
    context = validate_request(request, routes=article_routes(), catalogue=catalogue, options=OPTIONS).context
    store = ConfigStore(TABLE, boto3.client("dynamodb"), cache_seconds=0, catalogue=catalogue)
    reservation = Ledger(boto3.client("dynamodb"), TABLE).reserve(context, "exec-1", store.limits)
    assert reservation["decision"] == "approved"
    return context, reservation


def event(reserved):
    context, reservation = reserved
    return {"context": context, "reservation": reservation, "executionId": "exec-1"}


def state(table):
    item = table.get_item(Key={"pk": f"REQUEST#{APP}#req-1", "sk": "RESERVATION"})["Item"]
    return item["state"]


def tokens(table):
    return sum(v for k, v in used(table).items() if k.startswith("tokens|"))


def test_an_answer_is_settled_by_the_invoke_function_itself(table, reserved, model):
    model.add_response("converse", converse_response(input_tokens=21, output_tokens=9))
    output = invoke.handler(event(reserved), LAMBDA_CONTEXT)
    assert output["settlement"] == {"state": "settled"}
    assert state(table) == State.SETTLED
    assert tokens(table) == 30  # the real usage, not the estimate
    # the mark is Tollgate's own: the caller never sees it, and neither does a replay
    assert "settlement" not in caller_output(output)
    stored = table.get_item(Key={"pk": f"REQUEST#{APP}#req-1", "sk": "RESERVATION"})["Item"]["result"]
    assert "settlement" not in stored
    # the Settle state, had it run anyway (a retried execution), changes nothing: settle is idempotent
    again = rate_limit.handler({**event(reserved), "action": "settle", "invocation": output}, LAMBDA_CONTEXT)
    assert again["state"] == State.SETTLED and again["deltas"] == []
    assert tokens(table) == 30


def test_a_settle_that_fails_in_the_function_is_left_to_the_settle_state(table, reserved, model, monkeypatch):
    model.add_response("converse", converse_response(input_tokens=21, output_tokens=9))

    def unavailable(*args, **kwargs):
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "TransactWriteItems")

    with monkeypatch.context() as patch:
        patch.setattr(Ledger, "settle", unavailable)
        output = invoke.handler(event(reserved), LAMBDA_CONTEXT)
    assert "settlement" not in output  # the state machine's Settled choice goes on to Settle
    assert state(table) == State.INVOKING
    rate_limit.handler({**event(reserved), "action": "settle", "invocation": output}, LAMBDA_CONTEXT)
    assert state(table) == State.SETTLED and tokens(table) == 30


def test_with_too_little_time_left_the_settle_state_settles(table, reserved, model):
    model.add_response("converse", converse_response())
    output = invoke.handler(event(reserved), TimedContext(left=invoke.SETTLE_MIN_SECONDS - 0.5))
    assert "settlement" not in output
    assert state(table) == State.INVOKING


def test_a_throttled_model_is_retried_inside_the_function(table, reserved, model, waits):
    model.add_client_error("converse", "ThrottlingException", "slow down", 429)
    model.add_response("converse", converse_response(input_tokens=21, output_tokens=9))
    output = invoke.handler(event(reserved), TimedContext(left=200))
    assert output["settlement"] == {"state": "settled"} and tokens(table) == 30
    assert len(waits) == 1 and 0 <= waits[0] <= 1.0  # full jitter on 1 s
    # each call's read timeout is sized from max_tokens and capped by the time left
    assert all(t <= 200 - 5 for t in model.timeouts) and len(model.timeouts) == 2


def test_throttling_is_retried_a_bounded_number_of_times_then_released(table, reserved, model, waits):
    for _ in range(MODEL_ATTEMPTS):
        model.add_client_error("converse", "ServiceUnavailableException", "busy", 503)
    with pytest.raises(Exception) as raised:
        invoke.handler(event(reserved), LAMBDA_CONTEXT)
    assert type(raised.value).__name__ == "ModelUnavailable"
    assert len(waits) == MODEL_ATTEMPTS - 1
    assert state(table) == State.RESERVED  # the mark is taken back: the Release state releases


def test_no_retry_when_it_would_leave_too_little_time_to_read(table, reserved, model, waits):
    model.add_client_error("converse", "ThrottlingException", "slow down", 429)
    with pytest.raises(ModelThrottled):
        invoke.handler(event(reserved), TimedContext(left=12))
    assert waits == []


def test_an_answer_that_may_have_been_generated_is_never_retried(table, reserved, model, waits):
    model.add_client_error("converse", "InternalServerException", "lost", 500)
    with pytest.raises(ModelOutcomeUnknown):
        invoke.handler(event(reserved), LAMBDA_CONTEXT)
    assert waits == [] and state(table) == State.INVOKING  # Resolve charges it at the estimate


def test_any_failure_of_the_settle_still_returns_the_paid_answer(table, reserved, model):
    # counters the settle cannot write (what the fault suite hands it to play a settle that never ran)
    model.add_response("converse", converse_response())
    _, reservation = reserved
    broken = {**reservation, "counters": [{"unwritable": True}]}
    output = invoke.handler({**event(reserved), "reservation": broken}, LAMBDA_CONTEXT)
    assert "settlement" not in output and output["usage"]["outputTokens"] == 9
    assert state(table) == State.INVOKING  # the Settle state settles, or the sweeper charges
