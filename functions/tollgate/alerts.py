"""Threshold alerts: which of a counter's thresholds are reached, and the SNS message that says so.

A limit's ``alert_at`` lists fractions of its ceiling. After a reserve or a settle that raised a
counter, the ledger reads the counter back and, for each threshold now reached that the counter has
not yet alerted on, claims it with a conditional write on the counter item (``alerted``); only the
caller whose claim succeeds publishes, so each (limit, counter, window, threshold) alerts once. The
claim and the reads live in ``tollgate.ledger``; this module decides and formats, and publishes.
See docs/reporting.md, "Threshold alerts".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tollgate.observability import logger
from tollgate.values import json_safe

MESSAGE_TYPE = "tollgate.threshold_alert"
SUBJECT_MAX = 100  # SNS rejects longer subjects
# The log line the dashboard's "alert events" widget queries (modules/dashboard).
SENT_LOG_MESSAGE = "Threshold alert sent"


def threshold_token(threshold: Decimal) -> str:
    """How a threshold is named in the counter's ``alerted`` set (0.80 and 0.8 are one threshold)."""
    return format(threshold.normalize(), "f")


def thresholds_due(counter: Mapping[str, Any]) -> list[Decimal]:
    """The counter's thresholds that its usage has reached and that it has not alerted on yet."""
    ceiling = Decimal(counter.get("limit", 0))
    used = Decimal(counter.get("used", 0))
    alerted = set(counter.get("alerted") or ())
    due = []
    for raw in counter.get("alertAt") or []:
        threshold = Decimal(raw)
        if used >= threshold * ceiling and threshold_token(threshold) not in alerted:
            due.append(threshold)
    return sorted(due)


def alert_message(counter: Mapping[str, Any], threshold: Decimal) -> dict[str, Any]:
    """The alert for one threshold of one counter item: ``subject`` and the JSON ``message``."""
    window_start, _, scope_value = str(counter["sk"]).partition("#")
    shadow = counter.get("enforce") is False
    ceiling = Decimal(counter.get("limit", 0))
    used = Decimal(counter.get("used", 0))
    percent = threshold_token(threshold * 100)
    body = {
        "type": MESSAGE_TYPE,
        "limitId": counter.get("limitId"),
        "scope": dict(counter.get("scope") or {}),
        "scopeValue": scope_value,
        "used": used,
        "ceiling": ceiling,
        "unit": counter.get("unit"),
        "window": counter.get("window"),
        "windowStart": window_start,
        "windowEnd": counter.get("windowEnd"),
        "threshold": threshold,
        "thresholdPercent": Decimal(percent),
        "shadow": shadow,
        "enforce": not shadow,
    }
    where = f" ({scope_value})" if scope_value else ""
    subject = (
        f"{'[shadow] ' if shadow else ''}Tollgate: {percent}% of limit {counter.get('limitId')}{where} "
        f"used this {counter.get('window')}"
    )
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 3] + "..."
    return {"subject": subject, "message": json_safe(body)}


@dataclass
class AlertPublisher:
    """Publishes alerts to one SNS topic. A failure is logged, never raised: an alert must not fail
    the request whose reservation or settlement crossed the threshold."""

    client: Any
    topic_arn: str

    def publish(self, alert: Mapping[str, Any]) -> bool:
        message = alert["message"]
        arguments: dict[str, Any] = {
            "TopicArn": self.topic_arn,
            "Subject": alert["subject"],
            "Message": json.dumps(message, sort_keys=True),
            "MessageAttributes": {
                "type": {"DataType": "String", "StringValue": MESSAGE_TYPE},
                "limitId": {"DataType": "String", "StringValue": str(message["limitId"])},
                "shadow": {"DataType": "String", "StringValue": str(message["shadow"]).lower()},
            },
        }
        if self.topic_arn.endswith(".fifo"):
            keys = ("limitId", "windowStart", "scopeValue", "threshold")
            identity = "|".join(str(message[k]) for k in keys)
            arguments["MessageGroupId"] = str(message["limitId"])[:128]
            arguments["MessageDeduplicationId"] = hashlib.sha256(identity.encode()).hexdigest()
        try:
            self.client.publish(**arguments)
        except (BotoCoreError, ClientError) as error:
            logger.warning(
                "Could not publish a threshold alert; the request goes on",
                extra={"alert": message, "topicArn": self.topic_arn, "error": str(error)},
            )
            return False
        logger.info(
            SENT_LOG_MESSAGE,
            extra={
                "limitId": message["limitId"],
                "scopeValue": message["scopeValue"],
                "threshold": message["threshold"],
                "used": message["used"],
                "ceiling": message["ceiling"],
                "unit": message["unit"],
                "windowEnd": message["windowEnd"],
                "shadow": message["shadow"],
            },
        )
        return True
