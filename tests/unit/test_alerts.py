"""Threshold alerts (limits' alert_at): one SNS message per limit, counter, window and threshold,
sent by whichever reserve or settle takes the counter across it (moto's DynamoDB, SNS and SQS)."""

import json
import threading
from datetime import timedelta
from decimal import Decimal

import boto3
import pytest
from conftest import TABLE, article_request, article_routes, at, counters, put_limit

from tollgate.alerts import AlertPublisher, alert_message, thresholds_due
from tollgate.config_store import ConfigStore
from tollgate.ledger import Ledger, RequestRef
from tollgate.limits import LimitConfigError, limit_from_item
from tollgate.settings import Settings, SettingsError
from tollgate.validation import ValidationOptions, validate_request

NOW = at("2025-03-04T10:15:30Z")
OPTIONS = ValidationOptions(("dev", "production"), 100_000, False)
APP = "aws-documentation-helper"
COST_CENTER = "support"


@pytest.fixture
def topic(aws):
    """The alert topic, with an SQS queue subscribed to it: what a subscriber receives."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic_arn = sns.create_topic(Name="tollgate-alarms")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    def received():
        messages = []
        while True:
            batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return messages
            for m in batch:
                envelope = json.loads(m["Body"])
                messages.append({"subject": envelope.get("Subject"), **json.loads(envelope["Message"])})
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])

    return topic_arn, received


@pytest.fixture
def clock():
    moments = [NOW]

    def now():
        return moments[0]

    now.moments = moments
    return now


@pytest.fixture
def ledger(table, topic, clock):
    return Ledger(
        boto3.client("dynamodb"),
        TABLE,
        clock=clock,
        sleep=lambda s: None,
        alerts=AlertPublisher(boto3.client("sns"), topic[0]),
    )


@pytest.fixture
def limits(table, catalogue):
    return ConfigStore(TABLE, boto3.client("dynamodb"), cache_seconds=0, catalogue=catalogue).limits


@pytest.fixture
def request_context(catalogue):
    def make(request_id):
        request = {**article_request(), "requestId": request_id}
        result = validate_request(request, routes=article_routes(), catalogue=catalogue, options=OPTIONS)
        assert result.valid, result.context
        return result.context

    return make


def alert_limit(
    table, limit_id="cc-requests", *, limit=10, alert_at=(0.5, 0.8, 1), enforce=True, unit="requests"
):
    put_limit(table, limit_id, scope={"costCenter": "*"}, unit=unit, limit=limit, enforce=enforce)
    table.update_item(
        Key={"pk": "LIMIT", "sk": limit_id},
        UpdateExpression="SET alertAt = :a",
        ExpressionAttributeValues={":a": [Decimal(str(t)) for t in alert_at]},
    )


def reserve(ledger, limits, request_context, request_id):
    result = ledger.reserve(request_context(request_id), f"exec-{request_id}", limits)
    assert result["decision"] == "approved", result
    return result


def test_crossing_50_then_80_percent_sends_two_messages(table, ledger, limits, request_context, topic):
    alert_limit(table)
    for i in range(4):
        reserve(ledger, limits, request_context, f"r{i}")
    assert topic[1]() == []
    reserve(ledger, limits, request_context, "r4")  # 5 of 10: 50 %
    [fifty] = topic[1]()
    for i in range(5, 8):
        reserve(ledger, limits, request_context, f"r{i}")  # 8 of 10: 80 %
    [eighty] = topic[1]()
    assert (fifty["threshold"], fifty["used"], eighty["threshold"], eighty["used"]) == (0.5, 5, 0.8, 8)
    assert eighty == {
        "subject": f"Tollgate: 80% of limit cc-requests (costCenter={COST_CENTER}) used this day",
        "type": "tollgate.threshold_alert",
        "limitId": "cc-requests",
        "scope": {"costCenter": "*"},
        "scopeValue": f"costCenter={COST_CENTER}",
        "used": 8,
        "ceiling": 10,
        "unit": "requests",
        "window": "day",
        "windowStart": "2025-03-04T00:00:00Z",
        "windowEnd": "2025-03-05T00:00:00Z",
        "threshold": 0.8,
        "thresholdPercent": 80,
        "shadow": False,
        "enforce": True,
    }


def test_one_request_across_two_thresholds_sends_one_message_each(
    table, ledger, limits, request_context, topic
):
    alert_limit(table, limit=2, alert_at=(0.4, 0.5))
    reserve(ledger, limits, request_context, "r0")
    assert sorted(m["threshold"] for m in topic[1]()) == [0.4, 0.5]


def test_a_second_crossing_in_the_same_window_sends_nothing(table, ledger, limits, request_context, topic):
    alert_limit(table)
    for i in range(5):
        reserve(ledger, limits, request_context, f"r{i}")
    assert len(topic[1]()) == 1
    ledger.release(RequestRef(APP, "r4"), "exec-r4")  # back to 4 of 10
    reserve(ledger, limits, request_context, "r5")  # 5 of 10 again
    assert topic[1]() == []
    assert counters(table)[f"cc-requests|2025-03-04T00:00:00Z#costCenter={COST_CENTER}"]["alerted"] == {"0.5"}


def test_a_new_window_alerts_again(table, ledger, limits, request_context, topic, clock):
    alert_limit(table, limit=2, alert_at=(0.5,))
    reserve(ledger, limits, request_context, "r0")
    clock.moments[0] = NOW + timedelta(days=1)
    reserve(ledger, limits, request_context, "r1")
    assert [m["windowStart"] for m in topic[1]()] == ["2025-03-04T00:00:00Z", "2025-03-05T00:00:00Z"]


def token_limit(table, request_context, share, alert_at):
    """A total_tokens limit that the article request's estimate fills to ``share``."""
    estimate = Decimal(request_context("probe")["estimate"]["totalTokens"])
    alert_limit(table, "cc-tokens", unit="total_tokens", limit=estimate / Decimal(share), alert_at=alert_at)
    return estimate


def settle(ledger, context, request_id, total_tokens):
    usage = {"inputTokens": total_tokens - 1, "outputTokens": 1, "totalTokens": total_tokens}
    return ledger.settle(RequestRef(APP, request_id), f"exec-{request_id}", usage, 0, {"ok": True})


def test_a_settle_that_lowers_usage_does_not_alert(table, ledger, limits, request_context, topic):
    estimate = token_limit(table, request_context, "0.6", (0.5, 0.8))
    reserve(ledger, limits, request_context, "r0")
    assert [m["threshold"] for m in topic[1]()] == [0.5]  # the estimate reached 60 %
    closure = settle(ledger, request_context("r0"), "r0", int(estimate / 2))
    assert closure["deltas"][0]["delta"] < 0
    assert topic[1]() == []


def test_a_settle_that_raises_usage_across_a_threshold_alerts(table, ledger, limits, request_context, topic):
    estimate = token_limit(table, request_context, "0.4", (0.5, 0.8))
    reserve(ledger, limits, request_context, "r0")
    assert topic[1]() == []  # 40 %
    settle(ledger, request_context("r0"), "r0", int(estimate * Decimal("1.75")))  # 70 %
    [message] = topic[1]()
    assert (message["threshold"], message["used"], message["unit"]) == (
        0.5,
        int(estimate * Decimal("1.75")),
        "total_tokens",
    )


def test_shadow_limits_alert_and_say_so(table, ledger, limits, request_context, topic):
    alert_limit(table, limit=1, alert_at=(1,), enforce=False)
    reserve(ledger, limits, request_context, "r0")
    reserve(ledger, limits, request_context, "r1")  # past the ceiling: a shadow limit admits
    [message] = topic[1]()
    assert message["shadow"] is True and message["enforce"] is False
    assert message["subject"].startswith("[shadow] Tollgate: 100% of limit cc-requests")


def test_a_denied_reservation_sends_nothing(table, ledger, limits, request_context, topic):
    alert_limit(table, limit=1, alert_at=(1,))
    reserve(ledger, limits, request_context, "r0")
    assert len(topic[1]()) == 1
    denied = ledger.reserve(request_context("r1"), "exec-r1", limits)
    assert denied["decision"] == "denied"
    assert topic[1]() == []


class Serialised:
    """A client whose calls run one at a time (moto's backends are not thread-safe; DynamoDB makes
    each single-item write atomic, which is what the claim relies on). Threads still interleave
    between calls; ``gate`` holds every read-back until all approved threads have read, so that
    they all see 80 % reached and all try to claim it."""

    lock = threading.Lock()

    def __init__(self, client, gate=None, claims=None):
        self.client, self.gate, self.claims = client, gate, claims

    def __getattr__(self, name):
        method = getattr(self.client, name)

        def call(**kwargs):
            with Serialised.lock:
                if (
                    name == "update_item"
                    and self.claims is not None
                    and "#alerted" in kwargs["UpdateExpression"]
                ):
                    self.claims.append(kwargs["Key"])
                result = method(**kwargs)
            if name == "batch_get_item" and self.gate is not None:
                self.gate.wait(timeout=30)
            return result

        return call


def test_twenty_threads_crossing_80_percent_send_exactly_one_message(
    table, topic, limits, request_context, clock
):
    alert_limit(table, limit=25, alert_at=(0.8,))
    warm = Ledger(boto3.client("dynamodb"), TABLE, clock=clock, sleep=lambda s: None)
    for i in range(19):
        reserve(warm, limits, request_context, f"warm{i}")  # 19 of 25: one request short of 80 %
    contexts = [request_context(f"t{i}") for i in range(20)]
    store_limits = limits()  # read once: the threads share moto only through the serialised clients
    start, gate, claims, results = threading.Barrier(20), threading.Barrier(6), [], []

    def run(i):
        mine = Ledger(
            Serialised(boto3.client("dynamodb"), gate, claims),
            TABLE,
            clock=clock,
            sleep=lambda s: None,
            alerts=AlertPublisher(Serialised(boto3.client("sns")), topic[0]),
        )
        start.wait(timeout=30)
        results.append(mine.reserve(contexts[i], f"exec-t{i}", lambda: store_limits)["decision"])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["approved"] * 6 + ["denied"] * 14  # 25 - 19 fit
    assert len(claims) == 6  # every approved request saw 80 % reached and tried to claim it
    [message] = topic[1]()
    assert (message["threshold"], message["ceiling"]) == (0.8, 25)
    assert 20 <= message["used"] <= 25


def test_a_publishing_failure_does_not_fail_the_request(table, limits, request_context, clock, logs):
    alert_limit(table, limit=1, alert_at=(1,))
    missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    ledger = Ledger(
        boto3.client("dynamodb"),
        TABLE,
        clock=clock,
        sleep=lambda s: None,
        alerts=AlertPublisher(boto3.client("sns"), missing),
    )
    assert reserve(ledger, limits, request_context, "r0")["decision"] == "approved"
    warnings = [line for line in logs() if line["level"] == "WARNING"]
    assert [w["message"] for w in warnings] == ["Could not publish a threshold alert; the request goes on"]
    assert warnings[0]["alert"]["limitId"] == "cc-requests"


def test_without_a_publisher_nothing_is_read_back(table, limits, request_context, clock):
    alert_limit(table, limit=1, alert_at=(1,))
    ledger = Ledger(boto3.client("dynamodb"), TABLE, clock=clock, sleep=lambda s: None)
    reserve(ledger, limits, request_context, "r0")
    assert "alerted" not in next(iter(counters(table).values()))


def test_limits_without_alert_at_keep_their_counters_unchanged(table, ledger, limits, request_context, topic):
    put_limit(table, "plain", limit=1)
    reserve(ledger, limits, request_context, "r0")
    [counter] = counters(table).values()
    assert not {"alertAt", "alerted", "enforce", "scope"} & set(counter)
    assert topic[1]() == []


def test_thresholds_due_counts_reached_and_not_yet_alerted():
    counter = {
        "limit": Decimal(10),
        "used": Decimal(8),
        "alertAt": [Decimal("0.5"), Decimal("0.8"), Decimal(1)],
    }
    assert thresholds_due(counter) == [Decimal("0.5"), Decimal("0.8")]
    assert thresholds_due({**counter, "alerted": {"0.5"}}) == [Decimal("0.8")]


def test_a_long_subject_is_cut_to_what_sns_accepts():
    counter = {"pk": "COUNTER#x", "sk": "2025-03-04T00:00:00Z#" + "a" * 200, "limitId": "x" * 120, "limit": 1}
    assert len(alert_message(counter, Decimal(1))["subject"]) == 100


@pytest.mark.parametrize("alert_at", [[0], [Decimal("1.5")], ["x"], "0.5", [None]])
def test_a_limit_item_with_bad_alert_at_is_refused_naming_the_field(alert_at):
    item = {"sk": "l", "window": "day", "unit": "requests", "limit": 1, "alertAt": alert_at}
    with pytest.raises(LimitConfigError, match="alertAt must be a list of fractions"):
        limit_from_item(item)


def test_a_limit_item_alert_at_is_sorted_and_unique():
    item = {
        "sk": "l",
        "window": "day",
        "unit": "requests",
        "limit": 1,
        "alertAt": [Decimal("0.8"), Decimal("0.5"), Decimal("0.8")],
    }
    assert limit_from_item(item).alert_at == (Decimal("0.5"), Decimal("0.8"))


def test_the_alert_topic_setting_must_be_an_sns_arn():
    assert Settings.from_env({}).alert_topic_arn is None
    arn = "arn:aws:sns:us-east-1:123456789012:tollgate-alarms"
    assert Settings.from_env({"TOLLGATE_ALERT_TOPIC_ARN": arn}).alert_topic_arn == arn
    with pytest.raises(SettingsError, match="TOLLGATE_ALERT_TOPIC_ARN"):
        Settings.from_env({"TOLLGATE_ALERT_TOPIC_ARN": "tollgate-alarms"})
