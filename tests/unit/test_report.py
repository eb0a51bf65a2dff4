"""`tollgate report`: Tollgate's metrics (moto CloudWatch) beside Cost Explorer (Stubber) and
AWS/Bedrock, the drift, and the renderings."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from tollgate.report import Period, build_report, render

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "GenAIRateLimiting"
TABLE = "tollgate-test"  # conftest's table
PERIOD = Period(date(2026, 11, 1), date(2026, 12, 1))
DAY = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def put_execution(
    cw, *, cc: str, app: str, model: str, model_id: str, tokens: tuple[int, int], usd: float, day=DAY
):
    dims = [
        {"Name": "Model", "Value": model},
        {"Name": "ModelId", "Value": model_id},
        {"Name": "CostCenter", "Value": cc},
        {"Name": "Application", "Value": app},
        {"Name": "Environment", "Value": "production"},
    ]
    values = {
        "TotalRequests": 1,
        "InputTokens": tokens[0],
        "OutputTokens": tokens[1],
        "EstimatedCostUSD": usd,
    }
    cw.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {"MetricName": n, "Dimensions": dims, "Value": v, "Timestamp": day} for n, v in values.items()
        ],
    )


def put_bedrock(cw, model_id: str, tokens: tuple[int, int], day=DAY):
    cw.put_metric_data(
        Namespace="AWS/Bedrock",
        MetricData=[
            {
                "MetricName": n,
                "Dimensions": [{"Name": "ModelId", "Value": model_id}],
                "Value": v,
                "Timestamp": day,
            }
            for n, v in (("Invocations", 1), ("InputTokenCount", tokens[0]), ("OutputTokenCount", tokens[1]))
        ],
    )


def ce_response(groups: dict[str, str]) -> dict:
    return {
        "GroupDefinitions": [{"Type": "TAG", "Key": "costCenter"}],
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-11-10", "End": "2026-11-11"},
                "Total": {},
                "Groups": [
                    {"Keys": [f"costCenter${k}"], "Metrics": {"UnblendedCost": {"Amount": v, "Unit": "USD"}}}
                    for k, v in groups.items()
                ],
                "Estimated": True,
            }
        ],
        "DimensionValueAttributes": [],
    }


CE_REQUEST = {
    "TimePeriod": {"Start": "2026-11-01", "End": "2026-12-01"},
    "Granularity": "DAILY",
    "Metrics": ["UnblendedCost"],
    "Filter": {"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Bedrock"]}},
    "GroupBy": [{"Type": "TAG", "Key": "costCenter"}],
}


# Which service names the period's Bedrock spend bills under (build_report asks first).
CE_SERVICES_REQUEST = {
    "TimePeriod": {"Start": "2026-11-01", "End": "2026-12-01"},
    "Dimension": "SERVICE",
    "SearchString": "Bedrock",
}
CE_SIZES = {"ReturnSize": 0, "TotalSize": 0}


@pytest.fixture
def traffic(aws):
    cw = boto3.client("cloudwatch")
    put_execution(cw, cc="sales", app="docs", model="sales", model_id="prof1", tokens=(10, 20), usd=0.000125)
    put_execution(cw, cc="sales", app="docs", model="sales", model_id="prof1", tokens=(5, 5), usd=0.0000375)
    put_execution(
        cw,
        cc="support",
        app="chat",
        model="nova-lite",
        model_id="amazon.nova-lite-v1:0",
        tokens=(7, 3),
        usd=0.00000114,
    )
    put_bedrock(cw, "prof1", (15, 25))
    put_bedrock(cw, "amazon.nova-lite-v1:0", (7, 4))  # one token Tollgate never saw
    # an aggregate series (CostCenter only) must not be counted a second time
    cw.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": "EstimatedCostUSD",
                "Dimensions": [{"Name": "CostCenter", "Value": "sales"}],
                "Value": 1.0,
                "Timestamp": DAY,
            }
        ],
    )
    return cw


def clients_with(ce_stub_responses: list[dict] | None, table_client=None):
    ce = boto3.client("ce", region_name="us-east-1")
    stub = Stubber(ce)
    for response in ce_stub_responses or []:
        stub.add_response("get_dimension_values", {"DimensionValues": [], **CE_SIZES}, CE_SERVICES_REQUEST)
        stub.add_response("get_cost_and_usage", response, CE_REQUEST)
    stub.activate()
    made = {"ce": ce}

    def client(service):
        if service not in made:
            made[service] = boto3.client(service, region_name="us-east-1")
        return made[service]

    return client, stub


def test_period_defaults_to_this_month_so_far_and_rejects_nonsense():
    assert Period.parse(None, None, today=date(2026, 11, 30)) == Period(date(2026, 11, 1), date(2026, 12, 1))
    assert Period.parse("2026-10-05", "2026-10-06") == Period(date(2026, 10, 5), date(2026, 10, 6))
    with pytest.raises(ValueError, match="exclusive"):
        Period.parse("2026-10-05", "2026-10-05")
    with pytest.raises(ValueError, match="dates like"):
        Period.parse("last week", None)


def test_spend_by_cost_center_sits_beside_the_bill_with_the_drift(traffic):
    client, stub = clients_with([ce_response({"sales": "0.0001625", "support": "0.00000114", "": "0.5"})])
    report = build_report(client, by=["costCenter"], period=PERIOD, namespace=NAMESPACE)
    stub.assert_no_pending_responses()
    rows = {r["costCenter"]: r for r in report.rows}
    assert rows["sales"]["requests"] == 2
    assert (rows["sales"]["inputTokens"], rows["sales"]["outputTokens"], rows["sales"]["totalTokens"]) == (
        15,
        25,
        40,
    )
    assert rows["sales"]["costUsd"] == Decimal("0.0001625")
    assert rows["sales"]["costExplorerUsd"] == Decimal("0.0001625") and rows["sales"]["driftUsd"] == 0
    assert rows["support"]["costUsd"] == Decimal("0.00000114")
    # the bill's untagged spend appears as its own row, with nothing from Tollgate
    assert rows[""]["costUsd"] == 0 and rows[""]["costExplorerUsd"] == Decimal("0.5")
    assert rows[""]["driftPercent"] == Decimal("100.00")
    assert report.totals["costUsd"] == Decimal("0.00016364")
    assert report.totals["requests"] == 3
    assert any("empty group" in n for n in report.notes)


def test_aws_bedrock_token_counts_are_compared_per_model_id(traffic):
    client, _ = clients_with([ce_response({})])
    report = build_report(client, by=["costCenter"], period=PERIOD, namespace=NAMESPACE)
    bedrock = {b["modelId"]: b for b in report.bedrock}
    assert bedrock["prof1"]["models"] == ["sales"]
    assert (bedrock["prof1"]["bedrockInputTokens"], bedrock["prof1"]["bedrockOutputTokens"]) == (15, 25)
    assert bedrock["prof1"]["driftTokens"] == 0
    assert bedrock["amazon.nova-lite-v1:0"]["driftTokens"] == 1


def test_grouping_combines_keys_and_model_is_not_sent_to_cost_explorer(traffic):
    client, _ = clients_with(None)  # any Cost Explorer call would fail the stub
    report = build_report(client, by=["costCenter", "model"], period=PERIOD, namespace=NAMESPACE)
    assert [(r["costCenter"], r["model"], r["requests"]) for r in report.rows] == [
        ("sales", "sales", 2),
        ("support", "nova-lite", 1),
    ]
    assert not report.cost_explorer and "costExplorerUsd" not in report.rows[0]
    assert any("model route" in n for n in report.notes)
    assert report.applications == {"chat": Decimal("0.00000114"), "docs": Decimal("0.0001625")}


def test_a_cost_explorer_error_leaves_the_rest_of_the_report(traffic):
    client, stub = clients_with(None)
    stub.add_response("get_dimension_values", {"DimensionValues": [], **CE_SIZES}, CE_SERVICES_REQUEST)
    stub.add_client_error("get_cost_and_usage", "AccessDeniedException", "not allowed")
    report = build_report(client, by=["applicationId"], period=PERIOD, namespace=NAMESPACE)
    assert {r["applicationId"] for r in report.rows} == {"docs", "chat"}
    assert not report.cost_explorer
    assert any("Cost Explorer was not read" in n and "not allowed" in n for n in report.notes)


def test_bad_by_keys_are_refused(traffic):
    client, _ = clients_with(None)
    with pytest.raises(ValueError, match="--by takes distinct keys among costCenter"):
        build_report(client, by=["team"], period=PERIOD, namespace=NAMESPACE)


def test_budgets_and_usd_limits_come_along_for_the_chart(traffic, table):
    boto3.client("budgets").create_budget(
        AccountId="123456789012",
        Budget={
            "BudgetName": "tollgate-sales",
            "BudgetLimit": {"Amount": "250", "Unit": "USD"},
            "CostFilters": {"TagKeyValue": ["user:costCenter$sales"], "Service": ["Amazon Bedrock"]},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
        },
    )
    boto3.client("dynamodb").put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "LIMIT"},
            "sk": {"S": "costCenter=sales/month/usd"},
            "scope": {"M": {"costCenter": {"S": "sales"}}},
            "window": {"S": "month"},
            "unit": {"S": "usd"},
            "limit": {"N": "100"},
            "enforce": {"BOOL": True},
        },
    )
    client, _ = clients_with([ce_response({})])
    report = build_report(client, by=["costCenter"], period=PERIOD, namespace=NAMESPACE, table=TABLE)
    assert report.budgets == [
        {"name": "tollgate-sales", "tagKey": "costCenter", "tagValue": "sales", "amountUsd": Decimal("250")}
    ]
    assert [(lim["tagValue"], lim["window"], lim["limitUsd"]) for lim in report.limits] == [
        ("sales", "month", 100)
    ]
    assert report.daily == [
        {"date": "2026-11-10", "costCenter": "sales", "costUsd": Decimal("0.0001625")},
        {"date": "2026-11-10", "costCenter": "support", "costUsd": Decimal("0.00000114")},
    ]


def test_json_csv_and_text_carry_the_same_rows(traffic):
    client, _ = clients_with([ce_response({"sales": "0.0001625"})])
    report = build_report(client, by=["costCenter"], period=PERIOD, namespace=NAMESPACE)
    document = json.loads(render.as_json(report))
    assert document["period"] == {"since": "2026-11-01", "until": "2026-12-01"}
    assert {r["costCenter"]: r["costUsd"] for r in document["rows"]} == {
        "sales": 0.0001625,
        "support": 0.00000114,
    }
    table = list(csv.DictReader(io.StringIO(render.as_csv(report))))
    assert [(r["costCenter"], r["requests"], r["costExplorerUsd"]) for r in table] == [
        ("sales", "2", "0.0001625"),
        ("support", "1", "0"),
    ]
    text = render.as_text(report)
    assert "Cost Explorer USD" in text and "total" in text and "prof1" in text


def test_the_html_page_is_self_contained_with_three_charts(traffic):
    from tollgate.report.html import as_html

    client, _ = clients_with([ce_response({"sales": "0.0001625"})])
    page = as_html(build_report(client, by=["costCenter"], period=PERIOD, namespace=NAMESPACE))
    assert "<script src" not in page and "<link" not in page  # no CDN: plotly.js is inlined
    assert page.count("Plotly.newPlot") == 3
    assert all(f'id="chart-{i}"' in page for i in range(3))


def test_the_report_imports_without_plotly_as_in_the_lambda_zip():
    code = (
        "import sys; sys.modules['plotly'] = None\n"
        "import tollgate.report, tollgate.report.render, tollgate.cli\n"
        "print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "ok", done.stderr
    assert "plotly" not in (ROOT / "requirements" / "lambda.txt").read_text(encoding="utf-8")


def test_the_bill_counts_claude_under_its_marketplace_service_names(traffic):
    """Claude bills as AWS Marketplace products ('... (Amazon Bedrock Edition)'): the report asks
    Cost Explorer which of those the period has and counts them with Amazon Bedrock."""
    client, stub = clients_with(None)
    names = ["Amazon Bedrock", "Claude 3 Haiku (Amazon Bedrock Edition)", "Amazon Bedrock AgentCore"]
    stub.add_response(
        "get_dimension_values",
        {"DimensionValues": [{"Value": n, "Attributes": {}} for n in names], "ReturnSize": 3, "TotalSize": 3},
        CE_SERVICES_REQUEST,
    )
    services = ["Amazon Bedrock", "Claude 3 Haiku (Amazon Bedrock Edition)"]
    request = {**CE_REQUEST, "Filter": {"Dimensions": {"Key": "SERVICE", "Values": services}}}
    stub.add_response("get_cost_and_usage", ce_response({"sales": "0.0001625"}), request)
    report = build_report(client, by=["costCenter"], period=PERIOD, namespace=NAMESPACE)
    stub.assert_no_pending_responses()
    assert {r["costCenter"]: r["costExplorerUsd"] for r in report.rows}["sales"] == Decimal("0.0001625")
