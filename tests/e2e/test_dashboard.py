"""The dashboard Terraform applied, drawn locally: a few executions through the deployed module,
then `tollgate dashboard` reads the body back from the local CloudWatch (GetDashboard), computes
every widget from the metrics and logs those executions wrote, and headless Chromium draws the
page: every chart widget becomes a plotly SVG, the numbers are the executions' own."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import RUN
from test_workflow import request, run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def executions(aws, deployment):
    """Two successes of this file's application on a model route, one through the sales profile,
    and one denial (the warm-up application has a limit of 0 requests)."""
    sfn = aws("stepfunctions")
    app = RUN.app("dashboard")
    sent = [
        run(sfn, deployment, request("nova-lite", app, text="Dashboard request one.")),
        run(sfn, deployment, request("nova-lite", app, text="Dashboard request two.")),
        run(sfn, deployment, request("sales", app, text="Dashboard request three.")),
    ]
    assert [o.name for o in sent] == ["Succeeded"] * 3, [o.as_dict() for o in sent]
    denied = run(sfn, deployment, request("nova-micro", RUN.app("warm-up"), text="Dashboard denial."))
    assert denied.name == "RateLimitExceeded", denied.as_dict()
    return [o.output for o in sent]


def dashboard(localstack_endpoint: str, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": localstack_endpoint,
    }
    done = subprocess.run(
        [sys.executable, "-m", "tollgate.cli", "dashboard", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_the_applied_dashboard_is_drawn_with_the_executions_metrics(
    aws, deployment, executions, localstack_endpoint, tmp_path
):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "headless Chromium is missing: run `make chromium` (Debian package chromium)"
    name = deployment.outputs["dashboard_name"]
    applied = json.loads(aws("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"])
    page = tmp_path / "dashboard.html"
    document = json.loads(
        dashboard(localstack_endpoint, "--name", name, "--html", str(page), "--json").stdout
    )

    # every widget of the applied body, in the body's reading order
    widgets = document["widgets"]
    expected = sorted(applied["widgets"], key=lambda w: (w["y"], w["x"]))
    assert [w["title"] for w in widgets] == [w["properties"].get("title", "") for w in expected]
    by_title = {w["title"]: w for w in widgets}

    # the numbers are the executions': Metrics Insights by application, computed locally
    mine = RUN.app("dashboard")

    def total(title: str, label: str) -> float:
        return sum(s["total"] for s in by_title[title]["series"] if s["label"] == label)

    assert total("Input tokens by application", mine) == sum(o["usage"]["inputTokens"] for o in executions)
    assert total("Output tokens by application", mine) == sum(o["usage"]["outputTokens"] for o in executions)
    assert total("Estimated cost (USD) by application", mine) == pytest.approx(
        sum(o["costUsd"] for o in executions), abs=1e-9
    )
    assert total("Outcomes", "TotalRequests") >= 4 and total("Outcomes", "RateLimitDenied") >= 1
    sales = deployment.profile_id("sales")
    assert total("Bedrock InputTokenCount (Sum)", sales) >= executions[2]["usage"]["inputTokens"]
    # LocalStack publishes no AWS/States metrics: the chart is drawn and says it has no data
    assert by_title["Workflow executions"]["drawn"]
    assert by_title["Workflow executions"]["notes"] == ["no data in this time range"]
    denials = by_title["Denials by limit and model"]
    assert denials["drawn"] and denials["rows"] >= 1

    # what LocalStack cannot compute (percentiles) is said, not drawn
    p99 = by_title["Functions: Duration (p99)"]
    assert not p99["drawn"] and p99["notes"] and all("not rendered locally" in n for n in p99["notes"])
    assert [w["title"] for w in widgets if not w["drawn"]] == ["Functions: Duration (p99)"]

    html = page.read_text(encoding="utf-8")
    assert "<script src" not in html  # self-contained: nothing to fetch
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000"]
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180, check=False
    ).stdout
    sections = re.split(r'<section class="widget ', dom)[1:]
    assert len(sections) == len(applied["widgets"])
    charts = [
        s
        for s in sections
        if s.startswith("metric") and 'data-drawn="true"' in s and 'data-view="timeSeries"' in s
    ]
    assert len(charts) == sum(1 for w in widgets if w["drawn"] and w["view"] == "timeSeries")
    for chart in charts:
        # plotly replaced each empty container with its SVG layers
        assert 'class="main-svg"' in chart, chart[:200]
    # one SVG trace per series that has points (plotly draws no trace for an empty one)
    for chart, widget in zip(
        charts, [w for w in widgets if w["drawn"] and w["view"] == "timeSeries"], strict=True
    ):
        assert f'data-title="{widget["title"]}"' in chart
        with_points = sum(1 for s in widget["series"] if s["points"])
        assert chart.count('class="trace scatter') == with_points, widget["title"]
    tiles = next(s for s in sections if 'data-title="Totals over the time range"' in s)
    requests = total("Totals over the time range", "TotalRequests")
    assert f'class="number">{requests:,.0f}<' in tiles
    shot = tmp_path / "dashboard.png"
    subprocess.run(
        [*flags, "--window-size=1600,4200", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
