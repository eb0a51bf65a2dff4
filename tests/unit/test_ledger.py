"""The ledger against moto's DynamoDB (concurrency itself is proved against DynamoDB Local in tests/e2e)."""

from decimal import Decimal

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import TABLE, article_request, article_routes, at, counters, put_limit, used

from tollgate.config_store import ConfigStore
from tollgate.ledger import Ledger, LedgerBusy, RequestRef
from tollgate.validation import ValidationOptions, validate_request

NOW = at("2025-03-04T10:15:30Z")
OPTIONS = ValidationOptions(("dev", "production"), 100_000, False)
APP = "aws-documentation-helper"  # the article request's applicationId


def ref(request_id="req-1", application_id=APP):
    return RequestRef(application_id, request_id)


def reservation_item(table, request_id="req-1", application_id=APP):
    return table.get_item(Key={"pk": f"REQUEST#{application_id}#{request_id}", "sk": "RESERVATION"}).get(
        "Item"
    )


@pytest.fixture
def request_context(catalogue):
    def make(request_id="req-1", **changes):
        request = {**article_request(), "requestId": request_id, **changes}
        context = validate_request(request, routes=article_routes(), catalogue=catalogue, options=OPTIONS)
        assert context.valid, context.context
        return context.context

    return make


@pytest.fixture
def ledger(table):
    return Ledger(boto3.client("dynamodb"), TABLE, clock=lambda: NOW, sleep=lambda s: None)


@pytest.fixture
def limits(table, catalogue):
    store = ConfigStore(TABLE, boto3.client("dynamodb"), cache_seconds=0, catalogue=catalogue)
    return store.limits


def usage_for(context, input_tokens, output_tokens):
    return {
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": input_tokens + output_tokens,
    }


def actual_cost(context, input_tokens, output_tokens):
    prices = context["prices"]
    return (
        Decimal(str(prices["inputUsdPer1k"])) * input_tokens
        + Decimal(str(prices["outputUsdPer1k"])) * output_tokens
    ) / 1000


def every_unit(table, window="day", limit=1_000_000):
    for unit in ("requests", "input_tokens", "output_tokens", "total_tokens", "usd"):
        put_limit(table, f"*/{window}/{unit}", window=window, unit=unit, limit=limit)


def test_reserve_adds_the_estimate_to_every_matching_counter(table, ledger, limits, request_context):
    every_unit(table)
    put_limit(table, "other-cc", scope={"costCenter": "sales"}, limit=5)
    context = request_context()
    result = ledger.reserve(context, "exec-1", limits)
    estimate = context["estimate"]
    assert result["decision"] == "approved"
    assert result["failOpen"] is False
    assert used(table) == {
        "*/day/requests|2025-03-04T00:00:00Z#": 1,
        "*/day/input_tokens|2025-03-04T00:00:00Z#": estimate["inputTokens"],
        "*/day/output_tokens|2025-03-04T00:00:00Z#": 2000,
        "*/day/total_tokens|2025-03-04T00:00:00Z#": estimate["totalTokens"],
        "*/day/usd|2025-03-04T00:00:00Z#": Decimal(str(estimate["costUsd"])),
    }
    assert sorted(c["limitId"] for c in result["counters"]) == sorted(
        f"*/day/{u}" for u in ("requests", "input_tokens", "output_tokens", "total_tokens", "usd")
    )
    reservation = reservation_item(table, "req-1")
    assert reservation["state"] == "reserved"
    assert reservation["executionId"] == "exec-1"
    assert len(reservation["counters"]) == 5


def test_reserve_then_settle_leaves_the_real_usage(table, ledger, limits, request_context):
    every_unit(table)
    context = request_context()
    ledger.reserve(context, "exec-1", limits)
    cost = actual_cost(context, 17, 120)
    result = ledger.settle(
        ref("req-1"), "exec-1", usage_for(context, 17, 120), float(cost), {"requestId": "req-1"}
    )
    assert result["state"] == "settled"
    assert used(table) == {
        "*/day/requests|2025-03-04T00:00:00Z#": 1,
        "*/day/input_tokens|2025-03-04T00:00:00Z#": 17,
        "*/day/output_tokens|2025-03-04T00:00:00Z#": 120,
        "*/day/total_tokens|2025-03-04T00:00:00Z#": 137,
        "*/day/usd|2025-03-04T00:00:00Z#": cost,
    }
    deltas = {d["limitId"]: d["delta"] for d in result["deltas"]}
    assert deltas["*/day/output_tokens"] == 120 - 2000
    assert deltas["*/day/requests"] == 0


def test_settle_counts_input_beyond_the_estimate(table, ledger, limits, request_context):
    put_limit(table, "input", unit="input_tokens", limit=1_000_000)
    context = request_context()
    ledger.reserve(context, "exec-1", limits)
    ledger.settle(ref("req-1"), "exec-1", usage_for(context, 5000, 1), 0.1, {})
    assert used(table) == {"input|2025-03-04T00:00:00Z#": 5000}


def test_reserve_then_release_leaves_zero(table, ledger, limits, request_context):
    every_unit(table)
    context = request_context()
    ledger.reserve(context, "exec-1", limits)
    result = ledger.release(ref("req-1"), "exec-1")
    assert result["state"] == "released"
    assert set(used(table).values()) == {0}
    assert reservation_item(table, "req-1")["state"] == "released"


def test_counters_and_reservations_carry_a_ttl(table, limits, request_context):
    put_limit(table, "minute", window="minute")
    put_limit(table, "month", window="month")
    ledger = Ledger(boto3.client("dynamodb"), TABLE, idempotency_seconds=3600, clock=lambda: NOW)
    ledger.reserve(request_context(), "exec-1", limits)
    items = counters(table)
    assert items["minute|2025-03-04T10:15:00Z#"]["expiresAt"] == int(at("2025-03-04T11:16:00Z").timestamp())
    assert items["month|2025-03-01T00:00:00Z#"]["expiresAt"] == int(at("2025-04-01T01:00:00Z").timestamp())
    assert items["month|2025-03-01T00:00:00Z#"]["windowEnd"] == "2025-04-01T00:00:00Z"
    reservation = reservation_item(table, "req-1")
    assert reservation["expiresAt"] == int(NOW.timestamp()) + 3600


def test_a_denial_names_the_limit_that_was_exceeded_among_several(table, ledger, limits, request_context):
    put_limit(table, "global-requests", unit="requests", limit=100)
    put_limit(table, "support-tokens", scope={"costCenter": "support"}, unit="total_tokens", limit=3000)
    put_limit(table, "sales-requests", scope={"costCenter": "sales"}, unit="requests", limit=0)
    put_limit(table, "nova-usd", scope={"model": "nova-lite"}, unit="usd", limit=0)
    first = request_context("req-1")
    assert ledger.reserve(first, "exec-1", limits)["decision"] == "approved"
    before = used(table)

    result = ledger.reserve(request_context("req-2"), "exec-2", limits)
    assert result["decision"] == "denied"
    denial = result["denial"]
    assert denial["reason"] == "limit_exceeded"
    assert denial["limit"] == {
        "id": "support-tokens",
        "scope": {"costCenter": "support"},
        "window": "day",
        "unit": "total_tokens",
        "limit": 3000,
        "used": first["estimate"]["totalTokens"],
        "requested": first["estimate"]["totalTokens"],
        "windowStart": "2025-03-04T00:00:00Z",
        "windowEnd": "2025-03-05T00:00:00Z",
    }
    assert [e["id"] for e in denial["exceeded"]] == ["support-tokens"]
    assert denial["retryAfterSeconds"] == int((at("2025-03-05T00:00:00Z") - NOW).total_seconds())
    # Nothing of the denied request was counted, and it holds no reservation.
    assert used(table) == before
    assert reservation_item(table, "req-2") is None


def test_every_exceeded_limit_is_listed_and_the_longest_wait_is_named(table, ledger, limits, request_context):
    put_limit(table, "per-minute", window="minute", unit="requests", limit=1)
    put_limit(table, "per-hour", window="hour", unit="requests", limit=1)
    put_limit(table, "per-month", window="month", unit="requests", limit=5)
    ledger.reserve(request_context("req-1"), "exec-1", limits)
    denial = ledger.reserve(request_context("req-2"), "exec-2", limits)["denial"]
    assert sorted(e["id"] for e in denial["exceeded"]) == ["per-hour", "per-minute"]
    assert denial["limit"]["id"] == "per-hour"
    assert denial["retryAfterSeconds"] == int((at("2025-03-04T11:00:00Z") - NOW).total_seconds())


def test_a_request_larger_than_a_whole_limit_can_never_fit(table, ledger, limits, request_context):
    put_limit(table, "small", unit="output_tokens", limit=1000)
    put_limit(table, "roomy", unit="requests", limit=10)
    result = ledger.reserve(request_context(), "exec-1", limits)
    denial = result["denial"]
    assert denial["limit"]["id"] == "small"
    assert denial["limit"]["requested"] == 2000
    assert denial["limit"]["used"] == 0
    assert denial["retryAfterSeconds"] is None
    assert counters(table) == {}


def test_a_ceiling_is_exact_the_last_request_that_fits_is_admitted(table, ledger, limits, request_context):
    put_limit(table, "three", unit="requests", limit=3)
    decisions = [ledger.reserve(request_context(f"r{i}"), f"e{i}", limits)["decision"] for i in range(4)]
    assert decisions == ["approved", "approved", "approved", "denied"]
    assert used(table) == {"three|2025-03-04T00:00:00Z#": 3}


def test_shadow_limits_admit_and_report_a_would_be_denial(table, ledger, limits, request_context):
    put_limit(table, "shadow", unit="requests", limit=1, enforce=False)
    first = ledger.reserve(request_context("r1"), "e1", limits)
    second = ledger.reserve(request_context("r2"), "e2", limits)
    assert first["decision"] == second["decision"] == "approved"
    assert first["shadowDenials"] == []
    assert [(d["id"], d["used"], d["limit"]) for d in second["shadowDenials"]] == [("shadow", 1, 1)]
    assert used(table) == {"shadow|2025-03-04T00:00:00Z#": 2}


def test_a_repeated_reserve_by_the_same_execution_returns_the_same_approval(
    table, ledger, limits, request_context
):
    every_unit(table)
    context = request_context()
    first = ledger.reserve(context, "exec-1", limits)
    before = used(table)
    again = ledger.reserve(context, "exec-1", limits)
    assert again["decision"] == "approved"
    assert again["counters"] == first["counters"]
    assert used(table) == before


def test_a_duplicate_in_flight_from_another_execution_is_denied(table, ledger, limits, request_context):
    every_unit(table)
    context = request_context()
    ledger.reserve(context, "exec-1", limits)
    before = used(table)
    result = ledger.reserve(context, "exec-2", limits)
    assert result["decision"] == "denied"
    assert result["denial"]["reason"] == "duplicate_in_flight"
    assert result["denial"]["retryAfterSeconds"] == 1
    assert used(table) == before


def test_a_settled_request_replays_its_result_and_counts_nothing(table, ledger, limits, request_context):
    every_unit(table)
    context = request_context()
    ledger.reserve(context, "exec-1", limits)
    stored = {
        "requestId": "req-1",
        "response": {"text": "S3 is...", "stopReason": "end_turn"},
        "costUsd": 0.0012,
    }
    ledger.settle(ref("req-1"), "exec-1", usage_for(context, 10, 20), 0.0012, stored)
    before = used(table)
    replay = ledger.reserve(context, "exec-2", limits)
    assert replay["decision"] == "replay"
    assert replay["result"] == stored
    assert replay["counters"] == []
    assert used(table) == before


def test_settle_and_release_replays_change_nothing(table, ledger, limits, request_context):
    every_unit(table)
    context = request_context()
    ledger.reserve(context, "exec-1", limits)
    ledger.settle(ref("req-1"), "exec-1", usage_for(context, 10, 20), 0.0001, {})
    after_settle = used(table)
    assert ledger.settle(ref("req-1"), "exec-1", usage_for(context, 10, 20), 0.0001, {}) == {
        "state": "settled",
        "deltas": [],
    }
    assert ledger.release(ref("req-1"), "exec-1") == {"state": "settled", "deltas": []}
    assert used(table) == after_settle

    other = request_context("req-2")
    ledger.reserve(other, "exec-2", limits)
    ledger.release(ref("req-2"), "exec-2")
    after_release = used(table)
    assert ledger.release(ref("req-2"), "exec-2") == {"state": "released", "deltas": []}
    assert ledger.settle(ref("req-2"), "exec-2", usage_for(other, 1, 1), 0.0, {}) == {
        "state": "released",
        "deltas": [],
    }
    assert used(table) == after_release
    assert ledger.release(ref("never-reserved"), "exec-9") == {"state": "absent", "deltas": []}


def test_only_the_holding_execution_settles_or_releases(table, ledger, limits, request_context):
    every_unit(table)
    context = request_context()
    ledger.reserve(context, "exec-1", limits)
    before = used(table)
    assert ledger.release(ref("req-1"), "exec-2")["state"] == "reserved"
    assert ledger.settle(ref("req-1"), "exec-2", usage_for(context, 1, 1), 0.0, {})["state"] == "reserved"
    assert used(table) == before


def test_a_released_request_may_be_reserved_again(table, ledger, limits, request_context):
    # Whole-number units only: moto 5.2.5 stores a decimal that sums to zero as "0E-7" and then cannot
    # add to it (real DynamoDB normalises numbers); the usd round trip is covered by the tests above.
    for unit in ("requests", "input_tokens", "total_tokens"):
        put_limit(table, f"*/day/{unit}", unit=unit, limit=1_000_000)
    context = request_context()
    first = ledger.reserve(context, "exec-1", limits)
    ledger.release(ref("req-1"), "exec-1")
    again = ledger.reserve(context, "exec-2", limits)
    assert again["decision"] == "approved"
    assert again["counters"] == first["counters"]
    assert used(table)["*/day/requests|2025-03-04T00:00:00Z#"] == 1


def test_an_expired_reservation_not_yet_swept_by_ttl_is_a_fresh_attempt(table, limits, request_context):
    put_limit(table, "requests", unit="requests", limit=10)
    context = request_context()
    early = Ledger(boto3.client("dynamodb"), TABLE, idempotency_seconds=60, clock=lambda: NOW)
    early.reserve(context, "exec-1", limits)
    later = Ledger(
        boto3.client("dynamodb"), TABLE, idempotency_seconds=60, clock=lambda: at("2025-03-04T10:17:00Z")
    )
    assert later.reserve(context, "exec-2", limits)["decision"] == "approved"
    assert used(table)["requests|2025-03-04T00:00:00Z#"] == 2


def test_no_limits_means_admitted_with_only_the_reservation(table, ledger, limits, request_context):
    result = ledger.reserve(request_context(), "exec-1", limits)
    assert result["decision"] == "approved"
    assert result["counters"] == []
    assert reservation_item(table, "req-1")["state"] == "reserved"


def unreachable_client():
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=1)
    return boto3.client("dynamodb", endpoint_url="http://127.0.0.1:9", config=config)


def test_an_unreachable_ledger_fails_closed_by_default(request_context, catalogue, logs):
    context = request_context()
    store = ConfigStore(TABLE, unreachable_client(), cache_seconds=0, catalogue=catalogue)
    ledger = Ledger(unreachable_client(), TABLE, clock=lambda: NOW)
    result = ledger.reserve(context, "exec-1", store.limits)
    assert result["decision"] == "denied"
    assert result["denial"]["reason"] == "ledger_unavailable"
    assert result["failOpen"] is False
    assert any(line["level"] == "WARNING" and "failing CLOSED" in line["message"] for line in logs())


def test_an_unreachable_ledger_fails_open_when_configured(request_context, catalogue, logs):
    context = request_context()
    store = ConfigStore(TABLE, unreachable_client(), cache_seconds=0, catalogue=catalogue)
    ledger = Ledger(unreachable_client(), TABLE, fail_open=True, clock=lambda: NOW)
    result = ledger.reserve(context, "exec-1", store.limits)
    assert result["decision"] == "approved"
    assert result["failOpen"] is True
    assert result["counters"] == []
    assert any(line["level"] == "WARNING" and "failing OPEN" in line["message"] for line in logs())


class ConflictingClient:
    """Cancels the first ``conflicts`` transactions with ``code`` (TransactionConflict), then delegates."""

    def __init__(self, client, conflicts, code="TransactionConflict"):
        self.client = client
        self.conflicts = conflicts
        self.code = code
        self.calls = 0

    def transact_write_items(self, **kwargs):
        self.calls += 1
        if self.calls <= self.conflicts:
            reasons = [{"Code": self.code, "Message": "cancelled"}] + [
                {"Code": "None"} for _ in kwargs["TransactItems"][1:]
            ]
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                    "CancellationReasons": reasons,
                },
                "TransactWriteItems",
            )
        return self.client.transact_write_items(**kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_a_transaction_conflict_is_retried_with_backoff(table, limits, request_context):
    put_limit(table, "requests", unit="requests", limit=10)
    client = ConflictingClient(boto3.client("dynamodb"), conflicts=2)
    sleeps = []
    ledger = Ledger(client, TABLE, clock=lambda: NOW, sleep=sleeps.append, jitter=lambda low, high: high)
    assert ledger.reserve(request_context(), "exec-1", limits)["decision"] == "approved"
    assert client.calls == 3
    assert sleeps == [0.05, 0.1]
    assert used(table) == {"requests|2025-03-04T00:00:00Z#": 1}


def test_persistent_conflicts_raise_ledger_busy(table, limits, request_context):
    put_limit(table, "requests", unit="requests", limit=10)
    client = ConflictingClient(boto3.client("dynamodb"), conflicts=100)
    ledger = Ledger(client, TABLE, clock=lambda: NOW, sleep=lambda s: None, max_attempts=4)
    with pytest.raises(LedgerBusy):
        ledger.reserve(request_context(), "exec-1", limits)
    assert client.calls == 4
    assert counters(table) == {}


def test_moto_reports_cancellation_reasons_with_the_old_item(table, ledger, limits, request_context):
    """The denial relies on ReturnValuesOnConditionCheckFailure=ALL_OLD in cancellation reasons; this
    pins the behaviour of the moto version in use (real DynamoDB does the same)."""
    put_limit(table, "one", unit="requests", limit=1)
    ledger.reserve(request_context("r1"), "e1", limits)
    denial = ledger.reserve(request_context("r2"), "e2", limits)["denial"]
    assert denial["limit"]["used"] == 1


def test_a_malformed_transaction_is_a_bug_not_an_outage(table, limits, request_context):
    put_limit(table, "requests", unit="requests", limit=10)
    client = ConflictingClient(boto3.client("dynamodb"), conflicts=1, code="ValidationError")
    ledger = Ledger(client, TABLE, fail_open=True, clock=lambda: NOW, sleep=lambda s: None)
    with pytest.raises(ClientError, match="TransactionCanceledException"):
        ledger.reserve(request_context(), "exec-1", limits)
    assert client.calls == 1


def test_a_permanent_denial_still_replays_a_settled_request(table, ledger, limits, request_context):
    put_limit(table, "output", unit="output_tokens", limit=5000)
    context = request_context()
    ledger.reserve(context, "exec-1", limits)
    ledger.settle(ref("req-1"), "exec-1", usage_for(context, 10, 20), 0.0001, {"requestId": "req-1"})
    # The limit is lowered below what the request asks for: a new request could never fit, but the
    # settled one is still answered from its stored result.
    put_limit(table, "output", unit="output_tokens", limit=100)
    result = ledger.reserve(context, "exec-2", limits)
    assert result["decision"] == "replay"
    assert result["result"] == {"requestId": "req-1"}
