"""Attribution end to end: the module applied with cost allocation tags and budgets, traffic over
three cost centers and two applications, then `tollgate report` against the executions' own
outputs, against the local Cost Explorer (what the Bedrock emulator billed per profile tag) and
against AWS/Bedrock's token counts; the HTML report drawn in headless Chromium; destroy removes
the budgets and deactivates the tags."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import deployment as tf
import pytest
from conftest import RUN

from tollgate import cli

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TAG_KEYS = ["applicationId", "costCenter", "environment"]
USD = 1e-6


@pytest.fixture(scope="module")
def reporting(localstack_endpoint, aws, tmp_path_factory):
    variables = tf.reporting_tfvars(RUN, localstack_endpoint)
    var_file = tmp_path_factory.mktemp("terraform") / "reporting.tfvars.json"
    applied = tf.apply(RUN, variables, tf.REPORTING_WORKSPACE, var_file)
    yield applied
    tf.destroy(applied)
    left = tf.leftovers(aws, tf.REPORTING_NAME)
    budgets = aws("budgets").describe_budgets(AccountId="000000000000").get("Budgets", [])
    left += [b["BudgetName"] for b in budgets if b["BudgetName"].startswith(tf.REPORTING_NAME)]
    tags = aws("ce").list_cost_allocation_tags(TagKeys=TAG_KEYS)["CostAllocationTags"]
    left += [f"active tag {t['TagKey']}" for t in tags if t["Status"] == "Active"]
    assert not left, f"terraform destroy left these behind: {left}"


def body(model: str, app: str, cost_center: str) -> dict:
    return {
        "model": model,
        "prompt": {
            "messages": [{"role": "user", "content": f"Name three uses of Amazon S3 for {app}."}],
            "parameters": {"max_tokens": 120},
        },
        "tags": {"applicationId": app, "costCenter": cost_center, "environment": "production"},
    }


@pytest.fixture(scope="module")
def traffic(reporting, aws):
    """Each cost center: 2 requests of application A and 1 of B through its profile; north also
    1 request of B straight to nova-lite (no profile: the bill carries no tags for it)."""
    sfn = aws("stepfunctions")
    centers = tf.reporting_cost_centers(RUN)
    app_a, app_b = RUN.app("report-a"), RUN.app("report-b")
    sent = []
    for route, cc in centers.items():
        for app in (app_a, app_a, app_b):
            sent.append(
                (
                    route,
                    cc,
                    True,
                    cli.run_request(sfn, reporting.state_machine_arn, body(route, app, cc), express=True),
                )
            )
    sent.append(
        (
            "north",
            centers["north"],
            False,
            cli.run_request(
                sfn, reporting.state_machine_arn, body("nova-lite", app_b, centers["north"]), express=True
            ),
        )
    )
    for _, _, _, outcome in sent:
        assert outcome.name == "Succeeded", outcome.as_dict()
    return [(route, cc, through_profile, outcome.output) for route, cc, through_profile, outcome in sent]


def report(reporting, endpoint: str, *extra: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    done = subprocess.run(
        [
            sys.executable, "-m", "tollgate.cli", "report",
            "--namespace", reporting.outputs["metrics_namespace"],
            "--table", reporting.table,
            *extra,
        ],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def test_apply_activates_the_tags_and_creates_the_budgets(reporting, aws):
    tags = aws("ce").list_cost_allocation_tags(TagKeys=TAG_KEYS)["CostAllocationTags"]
    assert {t["TagKey"]: t["Status"] for t in tags} == dict.fromkeys(TAG_KEYS, "Active")
    assert reporting.outputs["cost_allocation_tag_keys"] == TAG_KEYS
    centers = tf.reporting_cost_centers(RUN)
    budgets = {
        b["BudgetName"]: b
        for b in aws("budgets").describe_budgets(AccountId="000000000000")["Budgets"]
        if b["BudgetName"].startswith(tf.REPORTING_NAME)
    }
    assert set(budgets) == {f"{tf.REPORTING_NAME}-{route}" for route in centers}
    north = budgets[f"{tf.REPORTING_NAME}-north"]
    # the tag alone: Claude bills under its Marketplace name, which Service = Amazon Bedrock misses
    assert north["CostFilters"] == {"TagKeyValue": [f"user:costCenter${centers['north']}"]}
    assert float(north["BudgetLimit"]["Amount"]) == 5
    notes = aws("budgets").describe_notifications_for_budget(
        AccountId="000000000000", BudgetName=north["BudgetName"]
    )
    assert sorted((n["NotificationType"], n["Threshold"]) for n in notes["Notifications"]) == [
        ("ACTUAL", 50), ("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 100),
    ]  # fmt: skip
    # a second plan finds nothing to change: what the local Budgets and Cost Explorer return is what was sent
    assert tf.plan_is_empty(reporting)


def test_report_by_cost_center_equals_the_executions_and_the_bill(reporting, traffic, localstack_endpoint):
    document = json.loads(report(reporting, localstack_endpoint, "--by", "costCenter", "--json").stdout)
    rows = {r["costCenter"]: r for r in document["rows"]}
    assert document["costExplorer"] is True
    for cc in tf.reporting_cost_centers(RUN).values():
        outputs = [o for _, c, _, o in traffic if c == cc]
        row = rows[cc]
        assert row["requests"] == len(outputs)
        assert row["inputTokens"] == sum(o["usage"]["inputTokens"] for o in outputs)
        assert row["outputTokens"] == sum(o["usage"]["outputTokens"] for o in outputs)
        assert row["costUsd"] == pytest.approx(sum(o["costUsd"] for o in outputs), abs=USD)
        # the bill sees the profile traffic only, at the catalogue's prices
        billed = sum(o["costUsd"] for _, c, through_profile, o in traffic if c == cc and through_profile)
        assert row["costExplorerUsd"] == pytest.approx(billed, abs=USD)
        assert row["driftUsd"] == pytest.approx(billed - row["costUsd"], abs=USD)
    direct = next(o for _, _, through_profile, o in traffic if not through_profile)
    assert rows[tf.reporting_cost_centers(RUN)["north"]]["driftUsd"] == pytest.approx(
        -direct["costUsd"], abs=USD
    )

    # AWS/Bedrock counted exactly the tokens Tollgate counted, per profile
    bedrock = {b["modelId"]: b for b in document["bedrock"]}
    for route in tf.reporting_cost_centers(RUN):
        profile = reporting.profile_id(route)
        outputs = [o for r, _, through_profile, o in traffic if r == route and through_profile]
        assert bedrock[profile]["inputTokens"] == sum(o["usage"]["inputTokens"] for o in outputs)
        assert bedrock[profile]["bedrockInputTokens"] == bedrock[profile]["inputTokens"]
        assert bedrock[profile]["bedrockOutputTokens"] == bedrock[profile]["outputTokens"]
        assert bedrock[profile]["driftTokens"] == 0


def cur_report(reporting, endpoint: str, *extra: str) -> dict:
    """`tollgate report --source cur` once the local Data Exports has delivered every served call
    (it re-delivers within seconds of each call; AWS within 24 h)."""
    export = reporting.outputs["cost_export"]
    where = (
        "--cur-bucket",
        export["bucket"],
        "--cur-prefix",
        export["prefix"],
        "--cur-export",
        export["export_name"],
    )
    # the bill's total, which no grouping changes
    ce = json.loads(report(reporting, endpoint, "--json").stdout)["totals"]["costExplorerUsd"]
    deadline = time.monotonic() + 60
    while True:
        done = subprocess.run(
            [
                sys.executable, "-m", "tollgate.cli", "report", "--source", "cur", *where,
                "--namespace", reporting.outputs["metrics_namespace"], "--table", reporting.table,
                *extra, "--json",
            ],
            capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint},
        )  # fmt: skip
        if done.returncode == 0:
            document = json.loads(done.stdout)
            if document["totals"]["costExplorerUsd"] == pytest.approx(ce, abs=USD):
                return document
        assert time.monotonic() < deadline, (
            f"the CUR export never matched the bill: {done.stderr or done.stdout}"
        )
        time.sleep(2)


def test_the_cur_export_is_the_same_bill_as_cost_explorer_group_by_group(
    reporting, traffic, localstack_endpoint
):
    ce = json.loads(report(reporting, localstack_endpoint, "--by", "costCenter", "--json").stdout)
    cur = cur_report(reporting, localstack_endpoint, "--by", "costCenter")
    assert cur["billSource"] == "cur" and ce["billSource"] == "cost-explorer"
    bill = {r["costCenter"]: r["costExplorerUsd"] for r in ce["rows"]}
    assert {r["costCenter"]: r["costExplorerUsd"] for r in cur["rows"]} == pytest.approx(bill, abs=USD)
    # Tollgate's side is the same whichever bill sits beside it
    assert [r["costUsd"] for r in cur["rows"]] == [r["costUsd"] for r in ce["rows"]]
    assert sum(bill.values()) > 0


def test_the_cur_export_names_the_invoke_role_as_the_caller(reporting, traffic, localstack_endpoint, aws):
    document = cur_report(reporting, localstack_endpoint, "--by", "iamPrincipal")
    rows = {r["iamPrincipal"]: r for r in document["rows"]}
    invoke_role = f"assumed-role/{tf.REPORTING_NAME}-invoke/"
    callers = [p for p in rows if invoke_role in p]
    assert len(callers) == 1, rows.keys()
    # every call Tollgate made, profile or not, was its invoke role's
    assert rows[callers[0]]["costExplorerUsd"] == pytest.approx(
        sum(o["costUsd"] for *_, o in traffic), abs=USD
    )
    assert rows["(Tollgate)"]["requests"] == len(traffic)
    # the export's objects are Parquet with the invoke role's principal tags
    import duckdb

    export = reporting.outputs["cost_export"]
    s3 = aws("s3")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=export["bucket"], Prefix=export["prefix"])["Contents"]
        if o["Key"].endswith(".parquet")
    ]
    assert keys and all(f"/{export['export_name']}/data/BILLING_PERIOD=" in k for k in keys)
    local = Path(os.environ.get("TMPDIR", "/tmp")) / f"cur-{RUN.id}.parquet"
    s3.download_file(export["bucket"], keys[0], str(local))
    tags = duckdb.sql(
        f"SELECT DISTINCT resource_tags['iamPrincipal/TollgateModule'] FROM read_parquet('{local}') "
        "WHERE line_item_iam_principal LIKE '%" + invoke_role + "%'"
    ).fetchall()
    assert tags == [(tf.REPORTING_NAME,)]


def test_report_groups_by_application_and_model_together(reporting, traffic, localstack_endpoint):
    document = json.loads(
        report(reporting, localstack_endpoint, "--by", "applicationId,model", "--json").stdout
    )
    mine = {
        (r["applicationId"], r["model"]): r["requests"]
        for r in document["rows"]
        if r["applicationId"].startswith(f"e2e-{RUN.id}")
    }
    a, b = RUN.app("report-a"), RUN.app("report-b")
    assert mine == {
        (a, "north"): 2, (a, "south"): 2, (a, "west"): 2,
        (b, "north"): 1, (b, "south"): 1, (b, "west"): 1, (b, "nova-lite"): 1,
    }  # fmt: skip
    assert document["costExplorer"] is False  # a model route is no cost allocation tag


def test_the_html_report_draws_its_charts_in_headless_chromium(
    reporting, traffic, localstack_endpoint, tmp_path
):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "headless Chromium is missing: run `make chromium` (Debian package chromium)"
    page = tmp_path / "report.html"
    text = report(reporting, localstack_endpoint, "--by", "costCenter", "--html", str(page)).stdout
    assert f"wrote {page}" in text and "Cost Explorer USD" in text
    html = page.read_text(encoding="utf-8")
    assert "<script src" not in html  # self-contained: nothing to fetch
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000"]
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=False
    ).stdout
    charts = re.split(r'<div id="chart-\d"', dom)[1:]
    assert len(charts) == 3, "the page must hold three chart containers"
    for chart in charts:
        # plotly replaced each empty container with its SVG and drew traces into it
        assert 'class="main-svg"' in chart and (
            'class="trace scatter' in chart or 'class="trace bars"' in chart
        )
    for cc in tf.reporting_cost_centers(RUN).values():
        assert f"{cc} spend" in charts[0] and f"{cc} budget (monthly)" in charts[0]
    shot = tmp_path / "report.png"
    subprocess.run(
        [*flags, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
