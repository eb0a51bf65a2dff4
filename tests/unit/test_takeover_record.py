"""A dead execution whose expired reservation its retry takes over is counted exactly once in
TotalRequests (DESIGN.md R1; issue 15, item 4), through the handlers' own events on moto."""

import json

import boto3
import pytest
from conftest import TABLE, article_request, converse_response, emf_blobs, put_limit, used
from lambda_context import LAMBDA_CONTEXT

from tollgate.handlers import invoke, rate_limit, record_metrics, sweeper, validate
from tollgate.ledger import Ledger

pytestmark = pytest.mark.usefixtures("article_routing")

APP = "aws-documentation-helper"  # the article request's applicationId
DEAD = "arn:aws:states:us-east-1:123456789012:express:tollgate:dead:run"
RETRY = "arn:aws:states:us-east-1:123456789012:express:tollgate:retry:run"


def handled(handler, event):
    """Through JSON both ways, as Lambda and Step Functions pass it."""
    return json.loads(json.dumps(handler.handler(json.loads(json.dumps(event)), LAMBDA_CONTEXT)))


def reserve(execution_id):
    """Validate and Reserve of one execution of the request ``r-1``."""
    request = {**article_request(), "requestId": "r-1"}
    context = handled(validate, {"request": request, "executionId": execution_id})
    reservation = handled(rate_limit, {"action": "reserve", "context": context, "executionId": execution_id})
    return {"context": context, "reservation": reservation}


def finish(state, execution_id):
    """The rest of an admitted execution: Invoke (the model answers), Settle, Record."""
    assert state["reservation"]["decision"] == "approved", state["reservation"]
    event = {**state, "executionId": execution_id}
    state["invocation"] = handled(invoke, event)
    state["settlement"] = handled(
        rate_limit, {**event, "action": "settle", "invocation": state["invocation"]}
    )
    state["outcome"] = "succeeded"
    return handled(record_metrics, {"state": state, "executionId": execution_id})


def expire_lease():
    """The dead execution's lease runs out (its execution timed out without closing it)."""
    boto3.resource("dynamodb").Table(TABLE).update_item(
        Key={"pk": f"REQUEST#{APP}#r-1", "sk": "RESERVATION"},
        UpdateExpression="SET leaseExpiresAt = :past",
        ExpressionAttributeValues={":past": 1},
    )


def sweep():
    return handled(sweeper, {})


def counted(capsys):
    """Sums of the outcome metrics printed so far (EMF)."""
    sums: dict[str, float] = {}
    for blob in emf_blobs(capsys.readouterr().out):
        for name in ("TotalRequests", "RateLimitApproved", "InvocationFailed", "OutputTokens"):
            if name in blob:
                sums[name] = sums.get(name, 0) + sum(blob[name])
    return sums


def unrecorded(table):
    """Items still waiting in the lease index for the sweeper to record their execution."""
    return [i for i in table.scan()["Items"] if i.get("lease") not in (None, "OPEN")]


@pytest.fixture
def model_answers(bedrock):
    bedrock.add_response("converse", converse_response(input_tokens=25, output_tokens=80))


@pytest.fixture
def limited(table):
    put_limit(table, "tokens", unit="total_tokens", limit=1_000_000)


def test_a_dead_execution_taken_over_by_its_retry_is_counted_once(table, limited, model_answers, capsys):
    reserve(DEAD)  # then it died: no Invoke, no Record
    expire_lease()
    retry = reserve(RETRY)
    assert retry["reservation"]["decision"] == "approved"  # the retry took the expired reservation over
    assert finish(retry, RETRY)["outcome"] == "succeeded"
    assert counted(capsys) == {"TotalRequests": 1, "RateLimitApproved": 1, "OutputTokens": 80}
    first, second = sweep(), sweep()
    assert (first["recorded"], second["recorded"]) == (1, 0)
    assert counted(capsys) == {"TotalRequests": 1, "RateLimitApproved": 1, "InvocationFailed": 1}
    assert unrecorded(table) == []
    assert list(used(table).values()) == [105]  # the dead estimate given back, the retry's real usage


def test_a_dead_execution_that_had_recorded_is_not_counted_again(table, limited, model_answers, capsys):
    dead = reserve(DEAD)
    # Its Record ran (RecordFallback after a failed step), but its reservation stayed open.
    handled(record_metrics, {"state": {**dead, "outcome": "denied"}, "executionId": DEAD})
    expire_lease()
    finish(reserve(RETRY), RETRY)
    sweep()
    sweep()
    assert counted(capsys)["TotalRequests"] == 2  # the dead one's own Record, and the retry's
    assert unrecorded(table) == []


def test_a_sweep_before_the_retry_counts_the_dead_execution_once(table, limited, model_answers, capsys):
    reserve(DEAD)
    expire_lease()
    assert sweep()["recorded"] == 1
    finish(reserve(RETRY), RETRY)
    assert sweep()["recorded"] == 0
    assert counted(capsys)["TotalRequests"] == 2
    assert unrecorded(table) == []


def test_a_sweep_that_dies_after_closing_is_recorded_by_the_next_one(table, limited, monkeypatch, capsys):
    reserve(DEAD)
    expire_lease()

    def dies(self, execution_id):
        raise RuntimeError("the sweeper timed out")

    with monkeypatch.context() as patched:
        patched.setattr(Ledger, "claim_record", dies)
        with pytest.raises(RuntimeError):
            sweep()
    assert used(table) == {next(iter(used(table))): 0}  # it had closed the reservation
    assert sweep()["recorded"] == 1
    assert sweep()["recorded"] == 0
    assert counted(capsys) == {"TotalRequests": 1, "RateLimitApproved": 1, "InvocationFailed": 1}
