"""The applied dashboard drawn locally (tollgate.report.dashboard, `tollgate dashboard`): every
widget of the body modules/dashboard renders (tests/unit/data/dashboard_body.json, which
tests/terraform/dashboard_body.tftest.hcl keeps equal to the module's) at its place, with the
data each one asks for, computed as CloudWatch would from the raw series; what the local AWS
cannot compute is said, never drawn as an empty chart."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tollgate import cli
from tollgate.report import dashboard as board

BODY = json.loads((Path(__file__).parent / "data" / "dashboard_body.json").read_text(encoding="utf-8"))
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
START, END = board.time_range(3, NOW)
NS = "GenAIRateLimiting"
STATS = {"Sum", "Average", "Minimum", "Maximum", "SampleCount"}
SM = "arn:aws:states:us-east-1:000000000000:stateMachine:tollgate-demo"


class FakeCloudWatch:
    """CloudWatch as LocalStack serves it: GetMetricData takes MetricStat queries with the five
    plain statistics only (anything else is an error), ListMetrics leaves out an empty
    Dimensions. A MetricStat matches the series with exactly its dimensions."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.points: list[tuple[str, str, frozenset[tuple[str, str]], datetime, float]] = []
        self.asked: list[dict[str, Any]] = []

    def put(self, ns: str, name: str, value: float, at: datetime, **dims: str) -> None:
        self.points.append((ns, name, frozenset(dims.items()), at, float(value)))

    def get_dashboard(self, DashboardName: str) -> dict[str, Any]:
        return {"DashboardName": DashboardName, "DashboardBody": json.dumps(self.body)}

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_metrics"
        seen = sorted({(ns, name, dims) for ns, name, dims, _, _ in self.points}, key=str)

        def shown(ns: str, name: str, dims: frozenset[tuple[str, str]]) -> dict[str, Any]:
            metric: dict[str, Any] = {"Namespace": ns, "MetricName": name}
            if dims:
                metric["Dimensions"] = [{"Name": k, "Value": v} for k, v in sorted(dims)]
            return metric

        class Listing:
            def paginate(self, Namespace: str, MetricName: str) -> list[dict[str, Any]]:
                return [{"Metrics": [shown(*s) for s in seen if s[:2] == (Namespace, MetricName)]}]

        return Listing()

    def get_metric_data(self, MetricDataQueries: list[dict[str, Any]], StartTime, EndTime, **_: Any):
        results = []
        for q in MetricDataQueries:
            if "MetricStat" not in q:
                raise ClientError(
                    {"Error": {"Code": "InternalError", "Message": "'MetricStat'"}}, "GetMetricData"
                )
            stat = q["MetricStat"]["Stat"]
            if stat not in STATS:
                raise ClientError(
                    {"Error": {"Code": "InternalError", "Message": repr(stat)}}, "GetMetricData"
                )
            self.asked.append(q)
            m, period = q["MetricStat"]["Metric"], q["MetricStat"]["Period"]
            dims = frozenset((d["Name"], d["Value"]) for d in m.get("Dimensions", []))
            buckets: dict[datetime, list[float]] = defaultdict(list)
            for ns, name, ds, at, value in self.points:
                if (ns, name, ds) == (m["Namespace"], m["MetricName"], dims) and StartTime <= at < EndTime:
                    offset = (at - StartTime).total_seconds() // period * period
                    buckets[StartTime + timedelta(seconds=offset)].append(value)
            combine = {
                "Sum": sum,
                "Average": lambda v: sum(v) / len(v),
                "Minimum": min,
                "Maximum": max,
                "SampleCount": len,
            }[stat]
            stamps = sorted(buckets)
            results.append(
                {
                    "Id": q["Id"],
                    "Label": m["MetricName"],
                    "Timestamps": stamps,
                    "Values": [combine(buckets[t]) for t in stamps],
                }
            )
        return {"MetricDataResults": results}


class FakeLogs:
    def __init__(self) -> None:
        self.groups: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def log(self, group: str, at: datetime, record: dict[str, Any]) -> None:
        self.groups[group].append({"timestamp": int(at.timestamp() * 1000), "message": json.dumps(record)})

    def get_paginator(self, operation: str) -> Any:
        assert operation == "filter_log_events"
        groups = self.groups

        class Listing:
            def paginate(self, logGroupName: str, startTime: int, endTime: int) -> list[dict[str, Any]]:
                events = [e for e in groups[logGroupName] if startTime <= e["timestamp"] < endTime]
                return [{"events": events}]

        return Listing()


def execution(
    cw: FakeCloudWatch, at: datetime, *, model: str, cc: str, app: str, env: str, **values: float
) -> None:
    """One execution as the record step writes it: the five-dimension series, the one-dimension
    aggregates and the total (docs/metrics.md)."""
    five = {
        "Model": model,
        "ModelId": f"id-{model}",
        "CostCenter": cc,
        "Application": app,
        "Environment": env,
    }
    for name, value in values.items():
        cw.put(NS, name, value, at, **five)
        cw.put(NS, name, value, at)
        for key in ("Model", "CostCenter", "Application", "Environment"):
            cw.put(NS, name, value, at, **{key: five[key]})


@pytest.fixture
def traffic() -> tuple[FakeCloudWatch, FakeLogs]:
    cw, logs = FakeCloudWatch(BODY), FakeLogs()
    t1, t2 = NOW - timedelta(minutes=50), NOW - timedelta(minutes=20)
    ok = {"TotalRequests": 1, "RateLimitApproved": 1, "InputTokens": 100, "OutputTokens": 40}
    execution(
        cw,
        t1,
        model="nova-lite",
        cc="sales",
        app="a",
        env="prod",
        **ok,
        EstimatedCostUSD=0.5,
        InvocationLatency=200,
    )
    execution(
        cw,
        t2,
        model="nova-lite",
        cc="sales",
        app="b",
        env="prod",
        **ok,
        EstimatedCostUSD=1.5,
        InvocationLatency=400,
    )
    execution(
        cw,
        t2,
        model="nova-micro",
        cc="support",
        app="a",
        env="dev",
        **ok,
        EstimatedCostUSD=0.25,
        InvocationLatency=100,
    )
    execution(
        cw, t2, model="nova-micro", cc="support", app="a", env="dev", TotalRequests=1, RateLimitDenied=1
    )
    # an execution from before the time range is not shown
    execution(
        cw, NOW - timedelta(hours=5), model="nova-lite", cc="sales", app="a", env="prod", TotalRequests=1
    )
    for model_id, tokens in (("amazon.nova-lite-v1:0", 200), ("sales0000001", 30)):
        cw.put("AWS/Bedrock", "InputTokenCount", tokens, t2, ModelId=model_id)
    for name, value in (("ExecutionsStarted", 4), ("ExecutionsSucceeded", 3), ("ExecutionTime", 900)):
        cw.put("AWS/States", name, value, t2, StateMachineArn=SM)
    cw.put("AWS/Lambda", "Duration", 12, t2, FunctionName="tollgate-demo-invoke")
    group = "/aws/lambda/tollgate-demo-record-metrics"
    denied = {
        "outcome": "denied",
        "limitId": "L1",
        "reason": "requests",
        "route": "nova-micro",
        "modelId": "m",
    }
    logs.log(group, t1, denied)
    logs.log(group, t2, denied)
    logs.log(group, t2, {**denied, "limitId": "L2"})
    logs.log(group, t2, {"outcome": "succeeded", "limitId": "L1"})
    alert = "/aws/lambda/tollgate-demo-rate-limit"
    logs.log(alert, t2, {"message": "Threshold alert sent", "limitId": "L1", "threshold": 0.8, "used": 8})
    logs.log(alert, t2, {"message": "something else", "limitId": "L9"})
    return cw, logs


def draw(cw: FakeCloudWatch, logs: FakeLogs, body: dict[str, Any] = BODY) -> dict[str, board.Panel]:
    clients = {"cloudwatch": cw, "logs": logs}
    return {p.widget.title or p.widget.type: p for p in board.panels(clients.__getitem__, body, START, END)}


def totals(panel: board.Panel) -> dict[str, float]:
    return {s.label: sum(s.values) for s in panel.series if s.visible}


# --- the body -> widgets ----------------------------------------------------------------------


def test_every_widget_of_the_module_body_is_read_at_its_place():
    read = board.widgets(BODY)
    assert Counter(w.type for w in read) == {"text": 1, "metric": 32, "log": 2}
    assert len(read) == len(BODY["widgets"])
    by_index = {w.index: w for w in read}
    for i, raw in enumerate(BODY["widgets"]):
        w = by_index[i]
        assert (w.type, w.x, w.y, w.width, w.height) == (
            raw["type"],
            raw["x"],
            raw["y"],
            raw["width"],
            raw["height"],
        )
        assert w.title == raw["properties"].get("title", "")
    # reading order: top to bottom, then left to right
    assert [(w.y, w.x) for w in read] == sorted((w.y, w.x) for w in read)
    assert (read[1].title, read[1].x, read[1].y, read[1].width) == ("Outcomes", 0, 2, 16)


def test_every_metric_line_becomes_the_query_the_console_would_send():
    outcomes = next(w for w in board.widgets(BODY) if w.title == "Outcomes")
    lines = board.entries(outcomes)
    assert [(e.metric, e.stat, e.period, e.label) for e in lines] == [
        ({"Namespace": NS, "MetricName": m, "Dimensions": []}, "Sum", 300, m)
        for m in ("TotalRequests", "RateLimitApproved", "RateLimitDenied", "InvocationFailed")
    ]
    bedrock = next(w for w in board.widgets(BODY) if w.title == "Bedrock InvocationLatency (Average)")
    assert [(e.metric["Dimensions"], e.stat) for e in board.entries(bedrock)] == [
        ([{"Name": "ModelId", "Value": i}], "Average")
        for i in ("amazon.nova-lite-v1:0", "amazon.nova-micro-v1:0", "sales0000001")
    ]
    spend = next(w for w in board.widgets(BODY) if w.title.startswith("Spend of sales"))
    m1, e1 = board.entries(spend)
    assert (m1.id, m1.visible, m1.stat, m1.period, m1.metric["Dimensions"]) == (
        "m1",
        False,
        "Sum",
        86400,
        [{"Name": "CostCenter", "Value": "sales"}],
    )
    assert (e1.id, e1.expression, e1.metric) == ("e1", "RUNNING_SUM(m1)", None)
    insights = next(w for w in board.widgets(BODY) if w.title == "Input tokens by cost center")
    assert board.INSIGHTS.match(board.entries(insights)[0].expression or "")


def test_no_metric_line_of_the_body_is_dropped(traffic):
    cw, logs = traffic
    draw(cw, logs)
    asked = {
        (q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"],
         json.dumps(q["MetricStat"]["Metric"]["Dimensions"]), q["MetricStat"]["Stat"])
        for q in cw.asked
    }  # fmt: skip
    for w in board.widgets(BODY):
        for e in board.entries(w) if w.type == "metric" else []:
            if e.metric is not None and e.stat in STATS:
                key = (
                    e.metric["Namespace"],
                    e.metric["MetricName"],
                    json.dumps(e.metric["Dimensions"]),
                    e.stat,
                )
                assert key in asked, f"{w.title}: {key} was never read"


# --- the data ---------------------------------------------------------------------------------


def test_metric_widgets_show_the_series_cloudwatch_would(traffic):
    panels = draw(*traffic)
    assert totals(panels["Outcomes"]) == {
        "TotalRequests": 4, "RateLimitApproved": 3, "RateLimitDenied": 1, "InvocationFailed": 0,
    }  # fmt: skip
    # setPeriodToTimeRange: one number over the whole range
    single = panels["Totals over the time range"]
    assert single.view == "singleValue" and all(len(s.values) <= 1 for s in single.series)
    assert totals(single)["InputTokens"] == 300 and totals(single)["EstimatedCostUSD"] == 2.25
    assert totals(panels["Bedrock InputTokenCount (Sum)"]) == {
        "amazon.nova-lite-v1:0": 200, "amazon.nova-micro-v1:0": 0, "sales0000001": 30,
    }  # fmt: skip
    assert totals(panels["Workflow executions"])["ExecutionsStarted"] == 4
    assert all(p.drawn for t, p in panels.items() if not t.startswith("Functions: Duration"))
    # a chart without data says so (the console: "No data available."), one with data does not
    assert panels["Bedrock InvocationThrottles (Sum)"].notes == ["no data in this time range"]
    assert panels["Outcomes"].notes == []


def test_metrics_insights_is_evaluated_from_the_one_dimension_series(traffic):
    panels = draw(*traffic)
    by_cc = panels["Estimated cost (USD) by cost center"]
    # SUM per cost center, ORDER BY SUM() DESC; the five-dimension series and the total are not counted twice
    assert [(s.label, sum(s.values)) for s in by_cc.series] == [("sales", 2.0), ("support", 0.25)]
    assert totals(panels["Input tokens by application"]) == {"a": 200, "b": 100}
    assert totals(panels["Denials by model (limit hit)"]) == {"nova-micro": 1}
    latency = panels["Invocation latency by model (ms, average)"]
    assert [s.label for s in latency.series] == ["nova-lite", "nova-micro"]  # AVG() DESC: 300 > 100
    assert [v for s in latency.series for v in s.values] == [200, 400, 100]


def test_running_sum_accumulates_the_hidden_daily_series_under_the_budget_lines(traffic):
    import plotly.graph_objects as go

    panel = draw(*traffic)["Spend of sales against budget and limit (USD)"]
    shown = [s for s in panel.series if s.visible]
    assert [s.label for s in shown] == ["sales: spend, cumulative over the time range"]
    hidden = [s for s in panel.series if not s.visible]
    assert len(hidden) == 1 and sum(hidden[0].values) == 2.0
    running = 0.0
    assert shown[0].values == [running := running + v for v in hidden[0].values]
    fig = board.figure(panel, go, (START, END))
    assert len(fig.data) == 1
    assert fig.layout.xaxis.range == (START.isoformat(), END.isoformat())  # the whole time range
    assert sorted(s["y0"] for s in fig.layout.shapes) == [40, 50]  # limit and budget


def test_a_statistic_the_local_aws_refuses_is_said_not_drawn(traffic):
    panels = draw(*traffic)
    p99 = panels["Functions: Duration (p99)"]
    assert not p99.drawn and p99.series == []
    assert len(p99.notes) == 4 and all(
        n.startswith("not rendered locally: ") and "p99" in n for n in p99.notes
    )
    mixed = panels["Workflow execution time (ms)"]
    assert mixed.drawn and [s.label for s in mixed.series] == ["Average"]
    assert totals(mixed) == {"Average": 900}
    assert len(mixed.notes) == 1 and "p99" in mixed.notes[0]


def test_log_widgets_run_their_query_on_the_log_lines(traffic):
    panels = draw(*traffic)
    denials = panels["Denials by limit and model"]
    assert denials.drawn
    assert denials.columns == ["limitId", "reason", "route", "modelId", "denials", "lastDenied"]
    assert [(r["limitId"], r["denials"]) for r in denials.rows] == [("L1", "2"), ("L2", "1")]
    assert denials.rows[0]["lastDenied"].startswith("2026-11-10 11:40:00")
    alerts = panels["Alert events (thresholds reached)"]
    assert [(r["limitId"], r["threshold"], r["used"]) for r in alerts.rows] == [("L1", "0.8", "8")]
    assert alerts.columns[:3] == ["@timestamp", "limitId", "scopeValue"]


SEARCH = f"SEARCH('{{{NS}}} TotalRequests', 'Sum')"


def test_what_is_outside_the_evaluated_subset_is_not_drawn_and_says_why(traffic):
    cw, logs = traffic
    body = {
        "widgets": [
            {"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6, "properties": {
                "title": "Band", "metrics": [[NS, "TotalRequests", {"id": "m1", "visible": False}],
                                             [{"expression": "ANOMALY_DETECTION_BAND(m1)", "id": "e1"}]]}},
            {"type": "metric", "x": 12, "y": 0, "width": 12, "height": 6, "properties": {
                "title": "Search", "metrics": [[{"expression": SEARCH}]]}},
            {"type": "alarm", "x": 0, "y": 6, "width": 24, "height": 3, "properties": {"title": "Alarms"}},
            {"type": "log", "x": 0, "y": 9, "width": 24, "height": 6, "properties": {
                "title": "Parse", "query": "SOURCE 'g' | parse @message 'a * b' as x"}},
        ]
    }  # fmt: skip
    panels = draw(cw, logs, body)
    for title in ("Band", "Search", "Alarms", "Parse"):
        assert not panels[title].drawn, title
        assert panels[title].notes and panels[title].notes[0].startswith("not rendered locally: "), title
    assert "ANOMALY_DETECTION_BAND(m1)" in panels["Band"].notes[0]
    page = board.as_html("x", list(panels.values()), START, END)
    assert 'id="widget-0-chart"' not in page and page.count("Not rendered locally.") == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "widgets"),
        ({"widgets": [{"x": 0}]}, "widgets[0].type"),
        ({"widgets": [{"type": "text", "x": -1}]}, "widgets[0].x"),
        ({"widgets": [{"type": "text", "properties": []}]}, "widgets[0].properties"),
        (
            {"widgets": [{"type": "metric", "properties": {"metrics": [["ns"]]}}]},
            "widgets[0].properties.metrics[0]",
        ),
    ],
)
def test_a_body_it_cannot_read_is_an_error_naming_the_field(body, field):
    with pytest.raises(board.DashboardError, match=re.escape(field)):
        board.panels(lambda _: FakeCloudWatch(body), body, START, END)


# --- the page ---------------------------------------------------------------------------------

SECTION = re.compile(
    r'<section class="widget (?P<type>\w+)" id="widget-(?P<index>\d+)" data-title="(?P<title>[^"]*)" '
    r'data-view="[^"]*" data-drawn="(?P<drawn>true|false)" '
    r'style="grid-column: (?P<col>\d+) / span (?P<w>\d+); grid-row: (?P<row>\d+) / span (?P<h>\d+);"'
)


def test_the_page_places_every_widget_on_the_consoles_grid(traffic):
    panels = list(draw(*traffic).values())
    page = board.as_html("tollgate-demo", panels, START, END)
    assert "<script src" not in page and "Plotly" in page  # self-contained
    sections = {int(m["index"]): m for m in SECTION.finditer(page)}
    assert len(sections) == len(BODY["widgets"])
    for i, raw in enumerate(BODY["widgets"]):
        s = sections[i]
        assert (s["type"], int(s["col"]) - 1, int(s["row"]) - 1, int(s["w"]), int(s["h"])) == (
            raw["type"], raw["x"], raw["y"], raw["width"], raw["height"]
        )  # fmt: skip
    charts = [p for p in panels if p.drawn and p.widget.type == "metric" and p.view != "singleValue"]
    assert len(charts) == 30
    assert len(re.findall(r'id="widget-\d+-chart"', page)) == len(charts)
    assert "<h2>Tollgate <code>tollgate-demo</code></h2>" in page
    assert page.count('data-drawn="false"') == 1  # Functions: Duration (p99)
    tiles = page.split('data-title="Totals over the time range"')[1].split("</section>")[0]
    assert re.findall(r'class="number">([^<]*)<', tiles) == ["4", "1", "-", "300", "120", "2.25"]


# --- the command ------------------------------------------------------------------------------


def test_the_command_reads_the_name_from_terraform_and_writes_the_page(
    traffic, monkeypatch, tmp_path, capsys
):
    cw, logs = traffic
    monkeypatch.setattr(cli, "aws_client", lambda args, service: {"cloudwatch": cw, "logs": logs}[service])
    monkeypatch.setattr(cli, "terraform_outputs", lambda directory: {"dashboard_name": "tollgate-demo"})
    monkeypatch.setattr(board, "time_range", lambda hours: (START, END))
    page = tmp_path / "dashboard.html"
    assert cli.main(["dashboard", "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "Outcomes [metric/timeSeries, drawn]: 4 series" in out
    assert "Functions: Duration (p99) [metric/timeSeries, summarised]" in out and f"wrote {page}" in out
    assert len(SECTION.findall(page.read_text(encoding="utf-8"))) == len(BODY["widgets"])
    assert cli.main(["dashboard", "--name", "other", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["dashboard"] == "other" and len(document["widgets"]) == len(BODY["widgets"])


def test_the_command_without_a_dashboard_says_how_to_name_one(monkeypatch, capsys):
    monkeypatch.delenv("TOLLGATE_DASHBOARD_NAME", raising=False)
    monkeypatch.setattr(cli, "terraform_outputs", lambda directory: {"dashboard_name": None})
    assert cli.main(["dashboard"]) == 1
    assert "pass --name or set TOLLGATE_DASHBOARD_NAME" in capsys.readouterr().err
    assert cli.main(["dashboard", "--name", "x", "--hours", "0"]) == 1
    assert "hours must be more than 0" in capsys.readouterr().err
