"""End to end: the aggregate series (docs/metrics.md) after traffic from several applications.

Each aggregate series (the total, and by Model, CostCenter, Environment, Application alone) must
equal the sum of the five-dimension series it covers, read back with GetMetricData from the
LocalStack the module was applied into; and the deployed dashboard and alarms must read only
aggregate series.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from test_workflow import DIMENSIONS, request, run

pytestmark = pytest.mark.e2e

NAMESPACE = "GenAIRateLimiting"
AGGREGATES = [(), ("Model",), ("CostCenter",), ("Environment",), ("Application",)]


def series_sums(cw, metric: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Sum over the last hours of every listed series of ``metric``, keyed by its exact dimensions,
    each read with GetMetricData asking for exactly those dimensions (which LocalStack matches
    exactly only with the project's hook, as AWS does: test_localstack_host.py)."""
    listed = []
    for page in cw.get_paginator("list_metrics").paginate(Namespace=NAMESPACE, MetricName=metric):
        listed += page["Metrics"]
    end = datetime.now(UTC) + timedelta(minutes=5)
    queries = [
        {
            "Id": f"m{i}",
            "MetricStat": {
                "Metric": {
                    "Namespace": NAMESPACE,
                    "MetricName": metric,
                    "Dimensions": m.get("Dimensions", []),
                },
                "Period": 3600,
                "Stat": "Sum",
            },
        }
        for i, m in enumerate(listed)
    ]
    sums: dict[tuple[tuple[str, str], ...], float] = {}
    for start in range(0, len(queries), 500):
        batch = queries[start : start + 500]
        result = cw.get_metric_data(MetricDataQueries=batch, StartTime=end - timedelta(hours=2), EndTime=end)
        by_id = {r["Id"]: sum(r["Values"]) for r in result["MetricDataResults"]}
        for query in batch:
            key = tuple(sorted((d["Name"], d["Value"]) for d in query["MetricStat"]["Metric"]["Dimensions"]))
            sums[key] = by_id[query["Id"]]
    return sums


@pytest.fixture(scope="module")
def traffic(aws, deployment):
    """Requests from three applications, two routes, two cost centers and two environments."""
    sfn = aws("stepfunctions")
    outcomes = []
    for i, (app, model, cost_center, env) in enumerate(
        [
            ("agg-a", "nova-lite", "sales", "dev"),
            ("agg-a", "nova-micro", "sales", "dev"),
            ("agg-b", "nova-lite", "support", "production"),
            ("agg-b", "nova-lite", "support", "production"),
            ("agg-c", "nova-micro", "support", "dev"),
        ]
    ):
        body = request(model, deployment.run.app(app), text=f"Aggregate request {i}.")
        body["tags"].update(costCenter=cost_center, environment=env)
        outcomes.append(run(sfn, deployment, body).name)
    return outcomes


@pytest.mark.parametrize("metric", ["TotalRequests", "RateLimitApproved", "InputTokens", "EstimatedCostUSD"])
def test_every_aggregate_equals_the_sum_of_the_five_dimension_series(aws, deployment, traffic, metric):
    assert traffic == ["Succeeded"] * 5
    sums = series_sums(aws("cloudwatch"), metric)
    detailed = {key: value for key, value in sums.items() if {k for k, _ in key} == DIMENSIONS}
    apps = {dict(key)["Application"] for key in detailed}
    assert len([a for a in apps if "-agg-" in a]) == 3, "the three applications of this test"
    for dimension_set in AGGREGATES:
        expected: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)
        for key, value in detailed.items():
            expected[tuple((k, v) for k, v in key if k in dimension_set)] += value
        actual = {
            key: value
            for key, value in sums.items()
            if tuple(k for k, _ in key) == tuple(sorted(dimension_set))
        }
        assert actual.keys() == expected.keys(), dimension_set
        for key, value in expected.items():
            assert actual[key] == pytest.approx(value), (dimension_set, key)
    total = sums[()]
    assert total == pytest.approx(sum(detailed.values())) and total > 0


AGGREGATE_SCHEMA = re.compile(r'SCHEMA\("GenAIRateLimiting", (Model|CostCenter|Application|Environment)\)')


def test_the_deployed_dashboard_reads_only_aggregate_series(aws, deployment):
    body = json.loads(
        aws("cloudwatch").get_dashboard(DashboardName=deployment.outputs["dashboard_name"])["DashboardBody"]
    )
    assert "SEARCH(" not in json.dumps(body)
    charted = 0
    for widget in body["widgets"]:
        for metric in widget.get("properties", {}).get("metrics", []):
            if isinstance(metric[0], dict):
                expression = metric[0]["expression"]
                schemas = re.findall(r"SCHEMA\([^)]*\)", expression)
                assert schemas and all(AGGREGATE_SCHEMA.fullmatch(s) for s in schemas), expression
                charted += 1
            elif metric[0] == NAMESPACE:
                # [namespace, name, {options}]: no dimension name/value pairs, the total series
                assert len(metric) == 3 and isinstance(metric[2], dict), metric
                charted += 1
    assert charted >= 20


def test_the_deployed_alarms_read_only_total_series(aws, deployment):
    names = list(deployment.outputs["alarm_names"].values())
    alarms = aws("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]
    assert {a["AlarmName"] for a in alarms} == set(names)
    tollgate = [a for a in alarms if a.get("Namespace") == NAMESPACE]
    # SweptReservations is the sweeper's own count, emitted with no dimensions only
    assert {a["MetricName"] for a in tollgate} == {"RateLimitDenied", "InvocationFailed", "SweptReservations"}
    for alarm in tollgate:
        assert alarm["Dimensions"] == [] and alarm["Statistic"] == "Sum" and not alarm.get("Metrics"), alarm
    # no alarm queries Tollgate's namespace any other way
    assert all(NAMESPACE not in json.dumps(a.get("Metrics", []), default=str) for a in alarms)
