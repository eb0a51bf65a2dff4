"""The metric contract and its two sinks.

Every execution emits one set of metrics with the five dimensions Model, ModelId, CostCenter,
Application and Environment, in the namespace from POWERTOOLS_METRICS_NAMESPACE, and the same
values again under each aggregate dimension set of AGGREGATE_DIMENSION_SETS (a total with no
dimensions, and by Model, CostCenter, Environment and Application alone). The dashboard and the
alarms read only the aggregates: one series per value of one dimension, so a sum never depends on
how many five-dimension combinations exist (SEARCH and Metrics Insights see at most 500).
Every metric name in the values goes out under every set (docs/metrics.md):

- ``emf`` (default): Powertools Metrics prints one Embedded Metric Format blob to the log, and
  CloudWatch Logs turns it into metrics; no API call on the request path.
- ``cloudwatch_api``: one PutMetricData call, for environments that do not extract EMF (LocalStack).
  If that call fails, the error is logged and the EMF blob printed instead: metrics never fail a
  request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from tollgate.observability import emf_metrics, logger

UNITS = {
    "TotalRequests": "Count",
    "RateLimitApproved": "Count",
    "RateLimitDenied": "Count",
    "InvocationFailed": "Count",
    "InputTokens": "Count",
    "OutputTokens": "Count",
    "CacheReadInputTokens": "Count",
    "CacheWriteInputTokens": "Count",
    "EstimatedCostUSD": "None",
    "InvocationLatency": "Milliseconds",
    "SweptReservations": "Count",
}
DIMENSIONS = ("Model", "ModelId", "CostCenter", "Application", "Environment")
# What the dashboard and alarms read; () is the total over everything.
AGGREGATE_DIMENSION_SETS: tuple[tuple[str, ...], ...] = (
    ("Model",),
    ("CostCenter",),
    ("Environment",),
    ("Application",),
    (),
)
DIMENSION_SETS: tuple[tuple[str, ...], ...] = (DIMENSIONS, *AGGREGATE_DIMENSION_SETS)


def emit(
    values: Mapping[str, float],
    dimensions: Mapping[str, str],
    *,
    namespace: str,
    sink: str,
    cloudwatch: Callable[[], Any],
    now: datetime | None = None,
) -> str:
    """Emit ``values`` (metric name -> value); return the sink that took them (``emf`` or
    ``cloudwatch_api``)."""
    if sink == "cloudwatch_api" and _put_or_fall_back(
        lambda: put_metric_data(cloudwatch(), values, dimensions, namespace=namespace, now=now)
    ):
        return "cloudwatch_api"
    emit_emf(values, dimensions, namespace=namespace)
    return "emf"


def _put_or_fall_back(put: Callable[[], None]) -> bool:
    """Send through the API, at most once (True); False when the caller should write EMF instead:
    the request was refused or never reached CloudWatch, so EMF cannot count it twice."""
    try:
        _put_at_most_once(put)
        return True
    except MaybeApplied as error:
        logger.error(
            "PutMetricData got no answer and may have been applied: not sent again, as EMF "
            "neither (PutMetricData is not idempotent; a second copy would count twice)",
            extra={"error": str(error)},
        )
        return True
    except (BotoCoreError, ClientError) as error:
        logger.error("PutMetricData failed; writing EMF instead", extra={"error": str(error)})
        return False


class MaybeApplied(Exception):
    """The request was sent and no answer came: CloudWatch may have stored it."""


# Errors raised before the request reached CloudWatch: sending it again cannot count twice.
NOT_SENT = (EndpointConnectionError, ConnectTimeoutError)
# Errors after it was sent, without an answer: it may have been stored.
NO_ANSWER = (ReadTimeoutError, ConnectionClosedError)


def _put_at_most_once(put: Callable[[], None]) -> None:
    """PutMetricData has no idempotency token, so the client makes one attempt (clients.py) and
    only a request that never left is sent again; one that got no answer is never resent (a lost
    data point is reported in the logs; a doubled one would silently break exactly-once)."""
    for attempt in (1, 2):
        try:
            put()
            return
        except NO_ANSWER as error:
            raise MaybeApplied(str(error)) from error
        except NOT_SENT:
            if attempt == 2:
                raise


def emit_emf(values: Mapping[str, float], dimensions: Mapping[str, str], *, namespace: str) -> None:
    """One EMF blob whose Dimensions array holds every set of DIMENSION_SETS."""
    metrics = emf_metrics(namespace)
    metrics.clear_metrics()  # the metric set is per process: start from nothing, whatever came before
    for name in DIMENSIONS:
        metrics.add_dimension(name=name, value=dimensions[name])
    for dimension_set in AGGREGATE_DIMENSION_SETS:
        if dimension_set:
            metrics.add_dimensions(**{name: dimensions[name] for name in dimension_set})
    for name, value in values.items():
        metrics.add_metric(name=name, unit=UNITS[name], value=value)
    blob = metrics.serialize_metric_set()
    metrics.clear_metrics()
    # Powertools has no empty dimension set; EMF has: `[]` is the series with no dimensions.
    if () in AGGREGATE_DIMENSION_SETS:
        blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"].append([])
    print(json.dumps(blob, separators=(",", ":")), flush=True)


def put_metric_data(
    client: Any,
    values: Mapping[str, float],
    dimensions: Mapping[str, str],
    *,
    namespace: str,
    now: datetime | None = None,
) -> None:
    """One PutMetricData call: every metric under every set of DIMENSION_SETS (as the EMF blob)."""
    timestamp = now or datetime.now(UTC)
    client.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": d, "Value": dimensions[d]} for d in dimension_set],
                "Timestamp": timestamp,
                "Value": float(value),
                "Unit": UNITS[name],
            }
            for dimension_set in DIMENSION_SETS
            for name, value in values.items()
        ],
    )


def emit_count(name: str, value: float, *, namespace: str, sink: str, cloudwatch: Callable[[], Any]) -> None:
    """One metric without dimensions (the sweeper's count of closed reservations)."""
    if sink == "cloudwatch_api" and _put_or_fall_back(
        lambda: cloudwatch().put_metric_data(
            Namespace=namespace,
            MetricData=[{"MetricName": name, "Value": float(value), "Unit": UNITS[name]}],
        )
    ):
        return
    blob = {
        "_aws": {
            "Timestamp": int(datetime.now(UTC).timestamp() * 1000),
            "CloudWatchMetrics": [
                {"Namespace": namespace, "Dimensions": [[]], "Metrics": [{"Name": name, "Unit": UNITS[name]}]}
            ],
        },
        name: value,
    }
    print(json.dumps(blob), flush=True)
