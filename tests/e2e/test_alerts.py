"""End to end: threshold alerts from the ledger reach an SQS queue subscribed to the module's topic,
each threshold crossed exactly once, under 20 parallel executions of the real state machine."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_workflow import request, run

pytestmark = pytest.mark.e2e


@pytest.fixture
def subscribed_queue(aws, deployment):
    """An SQS queue subscribed to the deployment's topic; removed afterwards."""
    sns, sqs = aws("sns"), aws("sqs")
    topic_arn = deployment.outputs["sns_topic_arn"]
    assert topic_arn, "the e2e deployment has alarms (and so the topic) on"
    url = sqs.create_queue(QueueName=f"{deployment.run.app('alerts')}-queue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "Policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "sns.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": arn,
                            "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                        }
                    ],
                }
            )
        },
    )
    subscription = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True)
    yield sqs, url
    sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    sqs.delete_queue(QueueUrl=url)


def drain(sqs, url: str, app: str, expected: int, settle_seconds: float = 5.0) -> list[dict]:
    """The alerts for ``app`` that arrive: waits for ``expected`` of them, then a while longer so that
    a duplicate would be seen too."""
    found: list[dict] = []
    deadline, quiet_until = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            envelope = json.loads(m["Body"])
            body = json.loads(envelope["Message"])
            if app in body.get("scopeValue", ""):
                found.append({"subject": envelope.get("Subject"), "receivedAt": time.monotonic(), **body})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if len(found) >= expected and quiet_until is None:
            quiet_until = time.monotonic() + settle_seconds
        if quiet_until is not None and time.monotonic() >= quiet_until:
            break
    return found


def test_each_threshold_crossed_alerts_exactly_once_under_20_parallel_executions(
    aws, deployment, subscribed_queue
):
    sfn = aws("stepfunctions")
    sqs, url = subscribed_queue
    app = deployment.run.app("alerts")

    def one(i: int):
        return run(sfn, deployment, request("nova-micro", app, text=f"Alert request {i}."))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    finished = time.monotonic()
    outcomes = Counter(r.name for r in results)
    failures = [r.cause for r in results if r.name not in ("Succeeded", "RateLimitExceeded")]
    assert outcomes == {"Succeeded": 10, "RateLimitExceeded": 10}, failures[:3]

    alerts = drain(sqs, url, app, expected=4)
    last = max((a.pop("receivedAt") for a in alerts), default=finished)
    print(
        f"\n20 executions in {finished - started:.1f} s; {len(alerts)} alerts, the last received "
        f"{max(0.0, last - finished):.1f} s after the last execution ended"
    )
    enforced = f"applicationId={app}/day/requests"
    shadow = f"e2e-{deployment.run.id}-alerts-shadow"
    # 50, 80 and 100 % of the enforced limit of 10; 100 % of the shadow limit of 4: once each.
    assert sorted((a["limitId"], a["threshold"]) for a in alerts) == [
        (enforced, 0.5),
        (enforced, 0.8),
        (enforced, 1),
        (shadow, 1),
    ]
    for alert in alerts:
        assert alert["scopeValue"] == f"applicationId={app}"
        assert alert["unit"] == "requests" and alert["window"] == "day"
        assert alert["used"] >= alert["threshold"] * alert["ceiling"]
        assert alert["windowEnd"].endswith("T00:00:00Z")
    by_limit = {a["limitId"]: a for a in alerts}
    assert by_limit[shadow]["shadow"] is True and by_limit[shadow]["subject"].startswith("[shadow] ")
    assert by_limit[enforced]["shadow"] is False and by_limit[enforced]["ceiling"] == 10
