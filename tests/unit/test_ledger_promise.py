"""The ledger's promise off the happy path (issue 7): scoped request IDs, unknown outcomes, the
invoking mark, leases and the sweeper, metrics once per execution, and a narrow fail-open. Each
test names the defect it guards against; every one of them failed on Tollgate 0.1.0."""

from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from conftest import TABLE, article_request, article_routes, at, converse_response, emf_blobs, put_limit, used
from lambda_context import LAMBDA_CONTEXT, json_log_lines

from tollgate import clients
from tollgate.bedrock import ModelOutcomeUnknown
from tollgate.config_store import ConfigStore
from tollgate.handlers import invoke, record_metrics, sweeper
from tollgate.ledger import Ledger, RequestRef, fingerprint
from tollgate.outcome import record
from tollgate.states import State
from tollgate.validation import ValidationOptions, validate_request

OPTIONS = ValidationOptions(("dev", "production"), 100_000, False)
APP = "aws-documentation-helper"
EXECUTION = "arn:aws:states:us-east-1:123456789012:express:tollgate:exec-1:run"


class Clock:
    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock(at("2025-03-04T10:15:30Z"))


def ledger_on(client, clock):
    """The ledger the tests use (a 400 s lease, the test's clock, no sleeping) over ``client``."""
    return Ledger(client, TABLE, lease_seconds=400, clock=clock, sleep=lambda s: None)


@pytest.fixture
def ledger(table, clock):
    return ledger_on(boto3.client("dynamodb"), clock)


@pytest.fixture
def limits(table, catalogue):
    return ConfigStore(TABLE, boto3.client("dynamodb"), cache_seconds=0, catalogue=catalogue).limits


@pytest.fixture
def make_context(catalogue):
    def make(request_id="req-1", application_id=APP, content=None):
        request = {**article_request(), "requestId": request_id}
        request["tags"] = {**request["tags"], "applicationId": application_id}
        if content is not None:
            request["prompt"] = {**request["prompt"], "messages": [{"role": "user", "content": content}]}
        result = validate_request(request, routes=article_routes(), catalogue=catalogue, options=OPTIONS)
        assert result.valid, result.context
        return result.context

    return make


def tokens(table):
    return sum(v for k, v in used(table).items() if k.startswith("tokens|"))


def reservation(table, request_id="req-1", application_id=APP):
    return table.get_item(Key={"pk": f"REQUEST#{application_id}#{request_id}", "sk": "RESERVATION"}).get(
        "Item"
    )


def open_leases(table):
    return [i for i in table.scan()["Items"] if i.get("lease") == "OPEN"]


# --- 1. request IDs are scoped to the application and bound to the request ---------------------


def test_the_same_request_id_from_two_applications_are_two_requests(table, ledger, limits, make_context):
    """Before: one global REQUEST#<id>: the second application got the first one's stored answer."""
    put_limit(table, "tokens", unit="total_tokens", limit=1_000_000)
    first = make_context("job-42", "team-a")
    ledger.reserve(first, "exec-a", limits)
    ledger.settle(
        RequestRef.of(first), "exec-a", {"inputTokens": 5, "outputTokens": 5, "totalTokens": 10}, 0, {"a": 1}
    )
    second = ledger.reserve(make_context("job-42", "team-b"), "exec-b", limits)
    assert second["decision"] == "approved"
    assert "result" not in second
    assert tokens(table) == 10 + make_context("job-42", "team-b")["estimate"]["totalTokens"]


def test_a_request_id_reused_for_a_different_request_is_a_validation_error(
    table, ledger, limits, make_context
):
    first = make_context(content="Explain S3.")
    ledger.reserve(first, "exec-1", limits)
    ledger.settle(
        RequestRef.of(first), "exec-1", {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}, 0, {"x": 1}
    )
    other = make_context(content="Explain EC2.")
    assert fingerprint(other) != fingerprint(first)
    result = ledger.reserve(other, "exec-2", limits)
    assert result["decision"] == "rejected"
    assert result["errors"][0]["field"] == "requestId"
    assert "reused for a different request" in result["errors"][0]["message"]
    # The execution ends ValidationError, naming requestId.
    recorded = record({"context": other, "reservation": result}, ("production",))
    assert recorded.outcome == "invalid"
    assert recorded.cause["errors"][0]["field"] == "requestId"
    # The same request again is a replay.
    assert ledger.reserve(make_context(content="Explain S3."), "exec-3", limits)["decision"] == "replay"


def test_the_fingerprint_covers_route_messages_parameters_and_tags_but_not_the_id(make_context):
    base = make_context()
    assert fingerprint(make_context("req-other")) == fingerprint(base)
    assert fingerprint(make_context(application_id="someone-else")) != fingerprint(base)
    changed = {**base, "converse": {**base["converse"], "inferenceConfig": {"maxTokens": 3}}}
    assert fingerprint(changed) != fingerprint(base)


# --- 2 and 3. unknown outcomes are charged, never released or re-sent ---------------------------


def test_an_unknown_outcome_after_the_invoking_mark_is_charged_at_the_estimate(
    table, ledger, limits, make_context
):
    """Before: a read timeout was retried and then released: counted zero though Bedrock billed it."""
    put_limit(table, "tokens", unit="total_tokens", limit=1_000_000)
    context = make_context()
    ledger.reserve(context, "exec-1", limits)
    assert ledger.mark_invoking(RequestRef.of(context), "exec-1")["mark"] == "marked"
    closure = ledger.resolve(RequestRef.of(context), "exec-1")
    assert closure["state"] == State.CHARGED
    assert tokens(table) == context["estimate"]["totalTokens"]
    assert "leaseExpiresAt" not in reservation(table)
    # A retry with the same requestId calls the model again, and is counted again.
    assert ledger.reserve(context, "exec-2", limits)["decision"] == "approved"
    assert tokens(table) == 2 * context["estimate"]["totalTokens"]


def test_a_failure_before_the_mark_is_released(table, ledger, limits, make_context):
    put_limit(table, "tokens", unit="total_tokens", limit=1_000_000)
    context = make_context()
    ledger.reserve(context, "exec-1", limits)
    assert ledger.resolve(RequestRef.of(context), "exec-1")["state"] == State.RELEASED
    assert tokens(table) == 0


class MarkBeforeFirstWrite:
    """A DynamoDB client whose first TransactWriteItems lets ``mark`` run just before it, as an
    invoke attempt still running when its state timed out would: between the close's read and
    its conditional write. A ``mark`` that raises stands for a transaction DynamoDB cancelled."""

    def __init__(self, client, mark):
        self._client, self._mark, self.transactions = client, mark, 0

    def transact_write_items(self, **kwargs):
        self.transactions += 1
        if self.transactions == 1:
            self._mark()
        return self._client.transact_write_items(**kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_a_mark_that_lands_while_resolving_is_charged_not_released(
    table, ledger, limits, make_context, clock
):
    """Before: resolve chose release from its first read and kept that choice when its write found
    the reservation changed, so a model call marked in between was released: run, never counted."""
    put_limit(table, "tokens", unit="total_tokens", limit=1_000_000)
    context = make_context()
    ref = RequestRef.of(context)
    ledger.reserve(context, "exec-1", limits)
    racing = MarkBeforeFirstWrite(boto3.client("dynamodb"), lambda: ledger.mark_invoking(ref, "exec-1"))
    resolving = ledger_on(racing, clock)
    closure = resolving.resolve(ref, "exec-1")
    assert racing.transactions == 2, "the first write must have lost to the mark"
    assert closure["state"] == State.CHARGED
    assert reservation(table)["state"] == State.CHARGED
    assert tokens(table) == context["estimate"]["totalTokens"]


def test_a_mark_taken_back_while_resolving_is_released(table, ledger, limits, make_context, clock):
    """The other way round: marked when read, unmarked (the model provably did not run) before the
    write: released, not charged."""
    put_limit(table, "tokens", unit="total_tokens", limit=1_000_000)
    context = make_context()
    ref = RequestRef.of(context)
    ledger.reserve(context, "exec-1", limits)
    assert ledger.mark_invoking(ref, "exec-1")["mark"] == "marked"
    racing = MarkBeforeFirstWrite(boto3.client("dynamodb"), lambda: ledger.unmark_invoking(ref, "exec-1"))
    resolving = ledger_on(racing, clock)
    assert resolving.resolve(ref, "exec-1")["state"] == State.RELEASED
    assert racing.transactions == 2
    assert tokens(table) == 0


def test_the_sweeper_charges_a_mark_that_lands_while_it_closes(table, ledger, limits, make_context, clock):
    put_limit(table, "tokens", unit="total_tokens", limit=1_000_000)
    context = make_context()
    ref = RequestRef.of(context)
    ledger.reserve(context, "exec-1", limits)
    clock.advance(401)
    racing = MarkBeforeFirstWrite(boto3.client("dynamodb"), lambda: ledger.mark_invoking(ref, "exec-1"))
    sweeping = ledger_on(racing, clock)
    swept = sweeping.sweep()
    assert [entry["closure"]["state"] for entry in swept] == [State.CHARGED]
    assert tokens(table) == context["estimate"]["totalTokens"]


class Counting:
    """A DynamoDB client that counts the calls made through it."""

    def __init__(self, client):
        self._client, self.calls = client, []

    def __getattr__(self, name):
        method = getattr(self._client, name)

        def call(*args, **kwargs):
            self.calls.append(name)
            return method(*args, **kwargs)

        return call


USAGE = {"inputTokens": 7, "outputTokens": 11, "totalTokens": 18}


def test_settle_with_reserves_counters_writes_once_and_reads_nothing(table, limits, make_context, clock):
    """Settle carries the counters Reserve returned: one conditional transaction, no GetItem
    first, and the same counters and reservation as a settle that reads."""
    put_limit(table, "tokens", unit="total_tokens", limit=1_000_000)
    put_limit(table, "usd", unit="usd", limit=100)
    counting = Counting(boto3.client("dynamodb"))
    ledger = ledger_on(counting, clock)
    reading_ctx, carried_ctx = make_context("req-read"), make_context("req-carry")
    ledger.reserve(reading_ctx, "exec-read", limits)
    approved = ledger.reserve(carried_ctx, "exec-carry", limits)
    before = used(table)
    read = ledger.settle(RequestRef.of(reading_ctx), "exec-read", USAGE, 0.0125, {"r": 1})
    after_read = used(table)
    counting.calls.clear()
    carried = ledger.settle(
        RequestRef.of(carried_ctx), "exec-carry", USAGE, 0.0125, {"r": 1}, counters=approved["counters"]
    )
    assert counting.calls == ["transact_write_items"]
    assert carried == read
    # Each settle moved every counter by the same amount.
    assert {k: after_read[k] - before[k] for k in before} == {
        k: used(table)[k] - after_read[k] for k in before
    }
    assert reservation(table, "req-carry")["state"] == State.SETTLED
    assert "leaseExpiresAt" not in reservation(table, "req-carry")


def test_a_retried_settle_with_counters_counts_once(table, ledger, limits, make_context):
    put_limit(table, "tokens", unit="total_tokens", limit=1_000_000)
    context = make_context()
    approved = ledger.reserve(context, "exec-1", limits)
    ref = RequestRef.of(context)
    assert ledger.settle(ref, "exec-1", USAGE, 0, {}, counters=approved["counters"])["state"] == State.SETTLED
    assert tokens(table) == 18
    again = ledger.settle(ref, "exec-1", USAGE, 0, {}, counters=approved["counters"])
    assert again == {"state": State.SETTLED, "deltas": []}
    assert tokens(table) == 18


def test_a_settle_with_counters_that_meets_contention_settles_once_the_reading_way(
    table, ledger, limits, make_context, clock
):
    """The carried-counters transaction cancelled by a conflict (nothing written): settle falls
    back to read, decide, write, and counts the real usage exactly once."""
    put_limit(table, "tokens", unit="total_tokens", limit=1_000_000)
    context = make_context()
    approved = ledger.reserve(context, "exec-1", limits)

    def conflict():
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
            },
            "TransactWriteItems",
        )

    racing = MarkBeforeFirstWrite(boto3.client("dynamodb"), conflict)
    closure = ledger_on(racing, clock).settle(
        RequestRef.of(context), "exec-1", USAGE, 0, {}, counters=approved["counters"]
    )
    assert closure["state"] == State.SETTLED and closure["closed"]
    assert racing.transactions == 2
    assert tokens(table) == 18
    assert reservation(table)["state"] == State.SETTLED


def test_a_settle_with_counters_after_the_sweep_changes_nothing(table, ledger, limits, make_context, clock):
    """The execution outlived its lease: the sweeper released the reservation and the same request
    was reserved again by another execution. The late settle must neither close that one nor move
    a counter."""
    put_limit(table, "tokens", unit="total_tokens", limit=1_000_000)
    context = make_context()
    ref = RequestRef.of(context)
    approved = ledger.reserve(context, "exec-1", limits)
    clock.advance(401)
    assert [e["closure"]["state"] for e in ledger.sweep()] == [State.RELEASED]
    assert ledger.reserve(context, "exec-2", limits)["decision"] == "approved"
    held = tokens(table)
    late = ledger.settle(ref, "exec-1", USAGE, 0, {}, counters=approved["counters"])
    assert late == {"state": State.RESERVED, "deltas": []}
    assert tokens(table) == held == context["estimate"]["totalTokens"]
    assert reservation(table)["executionId"] == "exec-2"


def invoke_event(context):
    return {"context": context, "reservation": {"decision": "approved"}, "executionId": "exec-1"}


def test_a_second_invoke_attempt_never_calls_the_model_again(
    table, ledger, limits, make_context, monkeypatch
):
    """Before: a retried Invoke called the model twice on one reservation; one call was settled."""
    context = make_context()
    ledger.reserve(context, "exec-1", limits)
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    monkeypatch.setattr(clients, "bedrock_runtime", lambda timeout: client)
    with Stubber(client) as stub:
        stub.add_client_error("converse", "InternalServerException", "lost", 500)
        with pytest.raises(ModelOutcomeUnknown):
            invoke.handler(invoke_event(context), LAMBDA_CONTEXT)
        assert reservation(table)["state"] == State.INVOKING  # may have run: the mark stays
        # The retry finds the mark: no call (the Stubber has no response left to give).
        with pytest.raises(ModelOutcomeUnknown) as raised:
            invoke.handler(invoke_event(context), LAMBDA_CONTEXT)
        assert "PreviousAttemptUnfinished" in str(raised.value)
        stub.assert_no_pending_responses()


def test_a_throttled_attempt_takes_its_mark_back_so_the_retry_may_call(
    table, ledger, limits, make_context, monkeypatch
):
    # The invoke function retries a throttled model itself (MODEL_ATTEMPTS calls); once they are all
    # throttled it takes the mark back. An invoke that answers settles the reservation itself (issue
    # 18): it ends settled, where it used to stay invoking for the Settle state.
    from tollgate.bedrock import MODEL_ATTEMPTS

    monkeypatch.setattr("tollgate.bedrock.wait_before_retry", lambda seconds: None)
    context = make_context()
    ledger.reserve(context, "exec-1", limits)
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    monkeypatch.setattr(clients, "bedrock_runtime", lambda timeout: client)
    with Stubber(client) as stub:
        for _ in range(MODEL_ATTEMPTS):
            stub.add_client_error("converse", "ThrottlingException", "slow down", 429)
        stub.add_response("converse", converse_response())
        with pytest.raises(Exception, match="ThrottlingException"):
            invoke.handler(invoke_event(context), LAMBDA_CONTEXT)
        assert reservation(table)["state"] == State.RESERVED
        output = invoke.handler(invoke_event(context), LAMBDA_CONTEXT)
    assert output["usage"]["outputTokens"] == 9
    assert output["settlement"] == {"state": State.SETTLED}
    assert reservation(table)["state"] == State.SETTLED


def test_a_charged_failure_says_so_in_its_cause(make_context):
    context = make_context()
    state = {
        "context": context,
        "reservation": {"decision": "approved", "requestId": "req-1", "counters": []},
        "error": {
            "Error": "ModelOutcomeUnknown",
            "Cause": '{"errorMessage": "{\\"code\\": \\"ReadTimeoutError\\"}"}',
        },
        "stage": "invoke",
        "release": {"state": "charged", "deltas": []},
        "outcome": "failed",
    }
    recorded = record(state, ("production",))
    assert recorded.outcome == "failed"
    assert "charged at the estimate" in recorded.cause["message"]
    assert recorded.cause["chargedAtEstimate"]["totalTokens"] == context["estimate"]["totalTokens"]
    assert recorded.metrics == {"TotalRequests": 1, "RateLimitApproved": 1, "InvocationFailed": 1}


# --- 5. leases and the sweeper ----------------------------------------------------------------------


def test_an_abandoned_reservation_is_swept_when_its_lease_expires(table, ledger, limits, make_context, clock):
    """Before: an execution that timed out left its estimate counted and its ID in flight for 24 h."""
    put_limit(table, "tokens", unit="total_tokens", limit=1_000_000)
    abandoned, marked = make_context("r-1"), make_context("r-2")
    ledger.reserve(abandoned, "exec-1", limits)
    ledger.reserve(marked, "exec-2", limits)
    ledger.mark_invoking(RequestRef.of(marked), "exec-2")
    assert ledger.sweep() == []  # leases still running
    clock.advance(401)
    swept = {s["item"]["requestId"]: s["closure"]["state"] for s in ledger.sweep()}
    assert swept == {"r-1": State.RELEASED, "r-2": State.CHARGED}
    assert open_leases(table) == []
    assert tokens(table) == marked["estimate"]["totalTokens"]
    assert ledger.sweep() == []


def test_a_retry_after_the_lease_expired_proceeds_and_counts_once(table, ledger, limits, make_context, clock):
    put_limit(table, "tokens", unit="total_tokens", limit=1_000_000)
    context = make_context()
    ledger.reserve(context, "exec-1", limits)
    assert ledger.reserve(context, "exec-2", limits)["denial"]["reason"] == "duplicate_in_flight"
    clock.advance(401)
    assert ledger.reserve(context, "exec-2", limits)["decision"] == "approved"  # not yet swept
    assert reservation(table)["executionId"] == "exec-2"
    assert tokens(table) == context["estimate"]["totalTokens"]


def test_closing_a_reservation_takes_it_out_of_the_lease_index(table, ledger, limits, make_context):
    for request_id, close in (("a", "settle"), ("b", "release")):
        context = make_context(request_id)
        ledger.reserve(context, "exec", limits)
        assert reservation(table, request_id)["leaseExpiresAt"] > 0
        if close == "settle":
            ledger.settle(
                RequestRef.of(context), "exec", {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}, 0, {}
            )
        else:
            ledger.release(RequestRef.of(context), "exec")
    assert open_leases(table) == []


# --- 6. metrics exactly once per execution -----------------------------------------------------------


def test_a_retried_record_emits_once(table, make_context, capsys):
    """Before: a retried Record task printed its EMF blob twice (TotalRequests counted 2)."""
    context = make_context()
    state = {"context": context, "reservation": {"decision": "denied", "denial": {}}, "outcome": "denied"}
    first = record_metrics.handler({"state": state, "executionId": EXECUTION}, LAMBDA_CONTEXT)
    again = record_metrics.handler({"state": state, "executionId": EXECUTION}, LAMBDA_CONTEXT)
    assert first == again  # Finish still gets its cause
    blobs = emf_blobs(capsys.readouterr().out)
    assert [b["TotalRequests"] for b in blobs] == [[1.0]]


def test_the_sweeper_records_executions_that_never_did(table, limits, make_context, capsys, monkeypatch):
    put_limit(table, "tokens", unit="total_tokens", limit=1_000_000)
    ledger = Ledger(boto3.client("dynamodb"), TABLE, lease_seconds=1)
    ledger.reserve(make_context("died"), "exec-died", limits)
    ledger.reserve(make_context("recorded"), "exec-recorded", limits)
    ledger.claim_record("exec-recorded")  # its Record ran, its Settle did not
    table.update_item(
        Key={"pk": f"REQUEST#{APP}#died", "sk": "RESERVATION"},
        UpdateExpression="SET leaseExpiresAt = :past",
        ExpressionAttributeValues={":past": 1},
    )
    table.update_item(
        Key={"pk": f"REQUEST#{APP}#recorded", "sk": "RESERVATION"},
        UpdateExpression="SET leaseExpiresAt = :past",
        ExpressionAttributeValues={":past": 1},
    )
    with json_log_lines() as lines:
        summary = sweeper.handler({}, LAMBDA_CONTEXT)
    assert summary == {"swept": 2, "released": 2, "charged": 0, "recorded": 1}
    # Each line about a swept reservation carries its request and execution; the summary neither.
    about = {(line.get("requestId"), line.get("executionId")) for line in lines if "Swept" in line["message"]}
    assert about == {("died", "exec-died"), ("recorded", "exec-recorded")}
    (finished,) = [line for line in lines if line["message"] == "Sweep finished"]
    assert "requestId" not in finished and "executionId" not in finished
    blobs = emf_blobs(capsys.readouterr().out)
    totals = [b for b in blobs if "TotalRequests" in b]
    assert len(totals) == 1 and totals[0]["InvocationFailed"] == [1.0]
    assert totals[0]["Application"] == APP  # the request's dimensions, not the index's projection
    assert [b["SweptReservations"] for b in blobs if "SweptReservations" in b] == [2]
    assert tokens(table) == 0


# --- 8. fail-open only for outages ----------------------------------------------------------------------


def failing_ledger(code, status, fail_open=True):
    client = boto3.client("dynamodb", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_client_error("transact_write_items", code, "no", status)
    stub.activate()
    return Ledger(client, TABLE, fail_open=fail_open, sleep=lambda s: None)


@pytest.mark.parametrize(
    ("code", "status"),
    [("AccessDeniedException", 400), ("KMSAccessDeniedException", 400), ("ResourceNotFoundException", 400)],
)
def test_fail_open_does_not_admit_on_a_configuration_error(make_context, code, status):
    """Before: with fail_open, AccessDenied, KMS errors and a missing table admitted traffic uncounted."""
    result = failing_ledger(code, status).reserve(make_context(), "exec-1", lambda: [])
    assert result["decision"] == "denied"
    assert result["failOpen"] is False


@pytest.mark.parametrize(("code", "status"), [("InternalServerError", 500), ("ServiceUnavailable", 503)])
def test_fail_open_admits_on_an_outage(make_context, code, status):
    result = failing_ledger(code, status).reserve(make_context(), "exec-1", lambda: [])
    assert result["decision"] == "approved" and result["failOpen"] is True


def test_the_record_mark_is_claimed_once_per_execution(table):
    ledger = Ledger(boto3.client("dynamodb"), TABLE)
    assert ledger.claim_record(EXECUTION) is True
    assert ledger.claim_record(EXECUTION) is False
    assert ledger.claim_record(EXECUTION.replace("exec-1", "exec-2")) is True
    mark = table.get_item(Key={"pk": EXECUTION, "sk": "RECORD"})["Item"]
    assert mark["expiresAt"] > 0  # TTL: the marks do not pile up
