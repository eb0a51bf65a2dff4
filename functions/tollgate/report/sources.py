"""Readers of the report's sources: Tollgate's metrics, AWS/Bedrock's metrics, Cost Explorer,
AWS Budgets and the limits table. Each returns plain values; the arithmetic is in build.py."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from tollgate.config_store import deserialize
from tollgate.limits import limit_from_item

# Tollgate's per-execution series carry exactly these dimensions; aggregate series (fewer
# dimensions) are left out so that nothing is counted twice.
DIMENSIONS = ("Model", "ModelId", "CostCenter", "Application", "Environment")
TOLLGATE_METRICS = ("TotalRequests", "InputTokens", "OutputTokens", "EstimatedCostUSD")
BEDROCK_METRICS = ("Invocations", "InputTokenCount", "OutputTokenCount")
DAY_SECONDS = 86400
MAX_QUERIES = 500  # GetMetricData's limit per call


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def daily_sums(cloudwatch: Any, metrics: list[dict], since: date, until: date) -> list[dict[date, Decimal]]:
    """For each metric ({Namespace, MetricName, Dimensions}), its Sum per UTC day in [since, until)."""
    out: list[dict[date, Decimal]] = [{} for _ in metrics]
    for chunk_start, chunk in (
        (i, c)
        for i, c in zip(range(0, len(metrics), MAX_QUERIES), _chunks(metrics, MAX_QUERIES), strict=True)
    ):
        queries = [
            {
                "Id": f"m{chunk_start + i}",
                "MetricStat": {"Metric": metric, "Period": DAY_SECONDS, "Stat": "Sum"},
                "ReturnData": True,
            }
            for i, metric in enumerate(chunk)
        ]
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": _midnight(since),
            "EndTime": _midnight(until),
            "ScanBy": "TimestampAscending",
        }
        while True:
            page = cloudwatch.get_metric_data(**kwargs)
            for result in page.get("MetricDataResults", []):
                if not result.get("Id"):
                    continue
                sums = out[int(result["Id"][1:])]
                for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    day = stamp.astimezone(UTC).date()
                    sums[day] = sums.get(day, Decimal(0)) + Decimal(repr(float(value)))
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return out


def tollgate_series(cloudwatch: Any, namespace: str) -> list[dict[str, str]]:
    """Every five-dimension series of Tollgate's metrics (CloudWatch lists series with data in
    the last two weeks)."""
    seen: dict[tuple, dict[str, str]] = {}
    paginator = cloudwatch.get_paginator("list_metrics")
    for name in TOLLGATE_METRICS:
        for page in paginator.paginate(Namespace=namespace, MetricName=name):
            for metric in page.get("Metrics", []):
                dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                if set(dims) == set(DIMENSIONS):
                    seen[tuple(dims[d] for d in DIMENSIONS)] = dims
    return [seen[k] for k in sorted(seen)]


def tollgate_daily(
    cloudwatch: Any, namespace: str, series: list[dict[str, str]], since: date, until: date
) -> list[tuple[dict[str, str], dict[str, dict[date, Decimal]]]]:
    """Each series with its daily sums per metric name."""
    metrics = [
        {
            "Namespace": namespace,
            "MetricName": name,
            "Dimensions": [{"Name": d, "Value": dims[d]} for d in DIMENSIONS],
        }
        for dims in series
        for name in TOLLGATE_METRICS
    ]
    sums = daily_sums(cloudwatch, metrics, since, until)
    out = []
    for i, dims in enumerate(series):
        per_name = {name: sums[i * len(TOLLGATE_METRICS) + j] for j, name in enumerate(TOLLGATE_METRICS)}
        out.append((dims, per_name))
    return out


def bedrock_totals(
    cloudwatch: Any, model_ids: Iterable[str], since: date, until: date
) -> dict[str, dict[str, Decimal]]:
    """AWS/Bedrock's own counts per ModelId over the period."""
    model_ids = sorted(set(model_ids))
    metrics = [
        {"Namespace": "AWS/Bedrock", "MetricName": name, "Dimensions": [{"Name": "ModelId", "Value": m}]}
        for m in model_ids
        for name in BEDROCK_METRICS
    ]
    sums = daily_sums(cloudwatch, metrics, since, until)
    return {
        m: {
            name: sum(sums[i * len(BEDROCK_METRICS) + j].values(), Decimal(0))
            for j, name in enumerate(BEDROCK_METRICS)
        }
        for i, m in enumerate(model_ids)
    }


BEDROCK_SERVICE = "Amazon Bedrock"
# Third-party models (Anthropic's Claude) bill as AWS Marketplace products named like
# "Claude 3 Haiku (Amazon Bedrock Edition)", one service name per model.
MARKETPLACE_SUFFIX = "(Amazon Bedrock Edition)"


def bedrock_services(ce: Any, since: date, until: date) -> list[str]:
    """Cost Explorer's service names for Bedrock spend in [since, until): Amazon Bedrock and every
    Marketplace product of a model sold through it (the set grows with the models, so it is read,
    not listed)."""
    names = {BEDROCK_SERVICE}
    kwargs: dict[str, Any] = {
        "TimePeriod": {"Start": since.isoformat(), "End": until.isoformat()},
        "Dimension": "SERVICE",
        "SearchString": "Bedrock",
    }
    while True:
        page = ce.get_dimension_values(**kwargs)
        for value in page.get("DimensionValues", []):
            name = value.get("Value", "")
            if name.endswith(MARKETPLACE_SUFFIX):
                names.add(name)
        if not page.get("NextPageToken"):
            return sorted(names)
        kwargs["NextPageToken"] = page["NextPageToken"]


def cost_explorer_daily(
    ce: Any, tag_keys: list[str], since: date, until: date, services: list[str]
) -> dict[tuple[str, ...], dict[date, Decimal]]:
    """UnblendedCost per UTC day, grouped by the cost allocation tags (values; '' = untagged)."""
    kwargs: dict[str, Any] = {
        "TimePeriod": {"Start": since.isoformat(), "End": until.isoformat()},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "Filter": {"Dimensions": {"Key": "SERVICE", "Values": services}},
        "GroupBy": [{"Type": "TAG", "Key": k} for k in tag_keys],
    }
    out: dict[tuple[str, ...], dict[date, Decimal]] = {}
    while True:
        page = ce.get_cost_and_usage(**kwargs)
        for bucket in page.get("ResultsByTime", []):
            day = date.fromisoformat(bucket["TimePeriod"]["Start"][:10])
            for group in bucket.get("Groups", []):
                key = tuple(k.split("$", 1)[1] if "$" in k else "" for k in group.get("Keys", []))
                amount = Decimal(
                    ((group.get("Metrics") or {}).get("UnblendedCost") or {}).get("Amount") or "0"
                )
                days = out.setdefault(key, {})
                days[day] = days.get(day, Decimal(0)) + amount
        if not page.get("NextPageToken"):
            return out
        kwargs["NextPageToken"] = page["NextPageToken"]


def budgets_by_tag(budgets: Any, account_id: str) -> list[dict[str, Any]]:
    """Monthly cost budgets filtered to one cost allocation tag value: name, tag key, value, USD."""
    out = []
    for page in budgets.get_paginator("describe_budgets").paginate(AccountId=account_id):
        for b in page.get("Budgets", []):
            tags = (b.get("CostFilters") or {}).get("TagKeyValue") or []
            amount = (b.get("BudgetLimit") or {}).get("Amount")
            if (
                b.get("BudgetType") != "COST"
                or b.get("TimeUnit") != "MONTHLY"
                or len(tags) != 1
                or not amount
            ):
                continue
            key, _, value = tags[0].removeprefix("user:").partition("$")
            out.append(
                {
                    "name": b.get("BudgetName", ""),
                    "tagKey": key,
                    "tagValue": value,
                    "amountUsd": Decimal(amount),
                }
            )
    return sorted(out, key=lambda b: b["name"])


def usd_limits(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """The table's USD limits whose scope is one tag value (what a chart can draw as a line)."""
    out = []
    paginator = dynamodb.get_paginator("query")
    pages = paginator.paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "LIMIT"}},
    )
    for page in pages:
        for item in page.get("Items", []):
            limit = limit_from_item(deserialize(item))
            if limit.unit != "usd" or len(limit.scope) != 1:
                continue
            ((key, value),) = limit.scope.items()
            if value == "*":
                continue
            out.append(
                {
                    "limitId": limit.id,
                    "tagKey": key,
                    "tagValue": value,
                    "window": limit.window,
                    "limitUsd": limit.ceiling,
                    "enforce": limit.enforce,
                }
            )
    return sorted(out, key=lambda x: x["limitId"])


def days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days)]
