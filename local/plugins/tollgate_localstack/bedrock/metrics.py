"""The AWS/Bedrock runtime metrics, published into LocalStack's CloudWatch as Bedrock does.

One call of Converse or InvokeModel whose model identifier resolves to a known model publishes,
before the call returns, with dimension ModelId = the identifier the caller used (an ARN's last
segment, so an application profile appears under its unique ID) and once more without
dimensions (Bedrock's "across all models" view):
  success:                  Invocations 1, InvocationLatency <ms>, InputTokenCount, OutputTokenCount
  ThrottlingException/429:  InvocationThrottles 1
  other 4xx (validation, end of life, on-demand not supported, ModelTimeoutException 408, ...):
                            InvocationClientErrors 1
  5xx:                      InvocationServerErrors 1
An identifier that names no model publishes nothing (there is no ModelId to report it under).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from localstack.aws.connect import connect_to

LOG = logging.getLogger(__name__)
NAMESPACE = "AWS/Bedrock"


def _publish(account_id: str, region: str, model_id: str, values: list[tuple[str, float, str]]) -> None:
    now = datetime.now(UTC)
    data = []
    for name, value, unit in values:
        for dimensions in ([{"Name": "ModelId", "Value": model_id}], []):
            data.append(
                {"MetricName": name, "Dimensions": dimensions, "Timestamp": now, "Value": value, "Unit": unit}
            )
    try:
        connect_to(aws_access_key_id=account_id, region_name=region).cloudwatch.put_metric_data(
            Namespace=NAMESPACE, MetricData=data
        )
    except Exception as e:  # noqa: BLE001 - metrics must never fail a model call
        LOG.warning("Could not publish %s metrics for %s: %s", NAMESPACE, model_id, e)


def success(
    account_id: str, region: str, model_id: str, latency_ms: float, input_tokens: int, output_tokens: int
):
    _publish(
        account_id,
        region,
        model_id,
        [
            ("Invocations", 1, "Count"),
            ("InvocationLatency", latency_ms, "Milliseconds"),
            ("InputTokenCount", input_tokens, "Count"),
            ("OutputTokenCount", output_tokens, "Count"),
        ],
    )


def failure(account_id: str, region: str, model_id: str, status: int) -> None:
    if status == 429:
        name = "InvocationThrottles"
    elif status >= 500:
        name = "InvocationServerErrors"
    else:
        name = "InvocationClientErrors"
    _publish(account_id, region, model_id, [(name, 1, "Count")])
