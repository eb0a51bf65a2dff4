"""AWS documents these response fields as optional: a response without them reads as empty, never a crash.

botocore's Stubber checks every stubbed response against the service's own shape, so a response
here can leave out only what AWS allows to be absent (ListMetrics' ``Dimensions`` for a series
with none, GetCostAndUsage's ``Groups``/``Keys``/``Metrics``, a budget without ``BudgetLimit``)."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import boto3
from botocore.stub import ANY, Stubber

from tollgate.report import sources

ROOT = Path(__file__).resolve().parents[2]


def _client(service: str):
    return boto3.client(
        service, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )


def test_series_without_dimensions_are_skipped_not_fatal():
    cw = _client("cloudwatch")
    with Stubber(cw) as stub:
        for name in sources.TOLLGATE_METRICS:
            stub.add_response(
                "list_metrics",
                {"Metrics": [{"Namespace": "N", "MetricName": name}]},  # the total series: no Dimensions
                {"Namespace": "N", "MetricName": name},
            )
        assert sources.tollgate_series(cw, "N") == []


def test_metric_data_results_without_values_or_id_read_as_no_data():
    cw = _client("cloudwatch")
    metric = {"Namespace": "N", "MetricName": "TotalRequests", "Dimensions": []}
    with Stubber(cw) as stub:
        stub.add_response("get_metric_data", {"MetricDataResults": [{"Id": "m0"}, {}]}, None)
        assert sources.daily_sums(cw, [metric], date(2026, 12, 1), date(2026, 12, 2)) == [{}]


def test_cost_explorer_groups_without_keys_or_metrics_read_as_zero():
    ce = _client("ce")
    with Stubber(ce) as stub:
        stub.add_response(
            "get_cost_and_usage",
            {
                "ResultsByTime": [
                    {"TimePeriod": {"Start": "2026-12-01", "End": "2026-12-02"}, "Groups": [{}]},
                    {"TimePeriod": {"Start": "2026-12-02", "End": "2026-12-03"}},  # no Groups
                ]
            },
            None,
        )
        out = sources.cost_explorer_daily(
            ce, ["costCenter"], date(2026, 12, 1), date(2026, 12, 3), ["Amazon Bedrock"]
        )
    assert out == {(): {date(2026, 12, 1): Decimal(0)}}


def test_a_budget_without_a_fixed_limit_is_left_out():
    budgets = _client("budgets")
    with Stubber(budgets) as stub:
        stub.add_response(
            "describe_budgets",
            {
                "Budgets": [
                    {  # an auto-adjusting budget reports no BudgetLimit
                        "BudgetName": "auto",
                        "TimeUnit": "MONTHLY",
                        "BudgetType": "COST",
                        "CostFilters": {"TagKeyValue": ["user:costCenter$sales"]},
                    },
                    {
                        "BudgetName": "sales",
                        "TimeUnit": "MONTHLY",
                        "BudgetType": "COST",
                        "BudgetLimit": {"Amount": "100", "Unit": "USD"},
                        "CostFilters": {"TagKeyValue": ["user:costCenter$sales"]},
                    },
                ]
            },
            {"AccountId": "123456789012"},
        )
        out = sources.budgets_by_tag(budgets, "123456789012")
    assert [b["name"] for b in out] == ["sales"]
    assert out[0]["amountUsd"] == Decimal("100")


def _demo_module():
    spec = importlib.util.spec_from_file_location("demo", ROOT / "local" / "demo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_summary_reads_only_the_cost_center_series():
    """The total series (no Dimensions key at all) and the five-dimension series are both listed
    under a CostCenter filter on AWS's subset semantics; only {CostCenter} is summed, once."""
    demo = _demo_module()
    cw = _client("cloudwatch")
    since = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    five = [
        {"Name": n, "Value": v}
        for n, v in (
            ("Model", "nova-micro"),
            ("ModelId", "amazon.nova-micro-v1:0"),
            ("CostCenter", "sales"),
            ("Application", "a"),
            ("Environment", "dev"),
        )
    ]
    with Stubber(cw) as stub:
        for name in demo.SUMMARY_METRICS:
            stub.add_response(
                "list_metrics",
                {
                    "Metrics": [
                        {"Namespace": "N", "MetricName": name},
                        {"Namespace": "N", "MetricName": name, "Dimensions": five},
                        {
                            "Namespace": "N",
                            "MetricName": name,
                            "Dimensions": [{"Name": "CostCenter", "Value": "sales"}],
                        },
                    ]
                },
                {"Namespace": "N", "MetricName": name, "Dimensions": [{"Name": "CostCenter"}]},
            )
            stub.add_response(
                "get_metric_statistics",
                {"Datapoints": [{"Sum": 2.0}, {"Sum": 1.0}]},
                {
                    "Namespace": "N",
                    "MetricName": name,
                    "Dimensions": [{"Name": "CostCenter", "Value": "sales"}],
                    "StartTime": ANY,
                    "EndTime": ANY,
                    "Period": 60,
                    "Statistics": ["Sum"],
                },
            )
        totals = demo.metric_totals(cw, "N", since)
    assert {k: dict(v) for k, v in totals.items()} == {"sales": dict.fromkeys(demo.SUMMARY_METRICS, 3.0)}
