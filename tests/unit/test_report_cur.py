"""`tollgate report --source cur`: the bill read from a CUR 2.0 export (Parquet, in moto S3) with
DuckDB, or through Athena (Stubber), grouped by tag or by IAM principal, beside Tollgate's
metrics with the same drift columns as Cost Explorer's."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import boto3
import duckdb
import pytest
from botocore.stub import Stubber
from test_report import NAMESPACE, PERIOD, traffic  # noqa: F401 (a fixture)

from tollgate import cli
from tollgate.report import Period, build_report, cur, render

BUCKET = "tollgate-cur"
WHERE = cur.CurLocation(bucket=BUCKET, prefix="cur2", export_name="tollgate-cur2")
ROLE = "arn:aws:sts::123456789012:assumed-role/tollgate-invoke/tollgate-invoke"


def line(day, cost, *, cc="", app="", principal=ROLE, product="AmazonBedrock", name="Amazon Bedrock"):
    tags = {}
    if cc:
        tags["user_costCenter"] = cc
    if app:
        tags["user_applicationId"] = app
    return {
        "line_item_usage_start_date": day,
        "line_item_product_code": product,
        "product": {"product_name": name},
        "resource_tags": tags,
        "line_item_iam_principal": principal,
        "line_item_unblended_cost": cost,
    }


def write_parquet(path: Path, lines: list[dict]) -> None:
    db = duckdb.connect()
    db.execute(
        "CREATE TABLE cur (line_item_usage_start_date TIMESTAMP, line_item_product_code VARCHAR, "
        "product MAP(VARCHAR, VARCHAR), resource_tags MAP(VARCHAR, VARCHAR), "
        "line_item_iam_principal VARCHAR, line_item_unblended_cost DOUBLE)"
    )
    for r in lines:
        db.execute(
            "INSERT INTO cur VALUES (?, ?, MAP(?, ?), MAP(?, ?), ?, ?)",
            [
                r["line_item_usage_start_date"],
                r["line_item_product_code"],
                list(r["product"]),
                list(r["product"].values()),
                list(r["resource_tags"]),
                list(r["resource_tags"].values()),
                r["line_item_iam_principal"],
                r["line_item_unblended_cost"],
            ],
        )
    db.execute(f"COPY cur TO '{path}' (FORMAT parquet)")
    db.close()


NOV10 = datetime(2026, 11, 10, 0, 0, tzinfo=UTC).replace(tzinfo=None)
NOV11 = datetime(2026, 11, 11, 0, 0)


@pytest.fixture
def export(aws, tmp_path):
    """Two files in November's partition, one in October's (outside the period), and a file
    beside the data that is not Parquet."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    november = [
        line(NOV10, 0.0001, cc="sales", app="docs"),
        line(NOV10, 0.0000625, cc="sales", app="docs"),
        line(NOV10, 0.00000114, cc="support", app="chat"),
        # Claude under its Marketplace product: still Bedrock spend
        line(
            NOV11,
            0.25,
            cc="support",
            app="chat",
            product="abc123market",
            name="Claude (Amazon Bedrock Edition)",
        ),
        # someone calling Bedrock directly, without a tagged profile
        line(NOV11, 0.5, principal="arn:aws:iam::123456789012:user/alice"),
        # another service entirely: never counted
        line(NOV11, 9.0, cc="sales", product="AmazonS3", name="Amazon Simple Storage Service"),
    ]
    write_parquet(tmp_path / "a.parquet", november[:3])
    write_parquet(tmp_path / "b.parquet", november[3:])
    write_parquet(tmp_path / "old.parquet", [line(datetime(2026, 10, 3), 7.0, cc="sales")])
    base = "cur2/tollgate-cur2/data"
    s3.upload_file(
        str(tmp_path / "a.parquet"),
        BUCKET,
        f"{base}/BILLING_PERIOD=2026-11/tollgate-cur2-00001.snappy.parquet",
    )
    s3.upload_file(
        str(tmp_path / "b.parquet"),
        BUCKET,
        f"{base}/BILLING_PERIOD=2026-11/tollgate-cur2-00002.snappy.parquet",
    )
    s3.upload_file(
        str(tmp_path / "old.parquet"),
        BUCKET,
        f"{base}/BILLING_PERIOD=2026-10/tollgate-cur2-00001.snappy.parquet",
    )
    s3.put_object(
        Bucket=BUCKET, Key="cur2/tollgate-cur2/metadata/BILLING_PERIOD=2026-11/manifest.json", Body=b"{}"
    )
    return s3


def test_duckdb_sums_the_periods_parquet_by_tag_and_day(export):
    got = cur.duckdb_daily(export, WHERE, ["costCenter"], PERIOD.since, PERIOD.until)
    assert got == {
        ("sales",): {date(2026, 11, 10): Decimal("0.0001625")},
        ("support",): {date(2026, 11, 10): Decimal("0.00000114"), date(2026, 11, 11): Decimal("0.25")},
        ("",): {date(2026, 11, 11): Decimal("0.5")},
    }


def test_the_period_picks_its_partitions_and_days(export):
    october = cur.duckdb_daily(export, WHERE, ["costCenter"], date(2026, 10, 1), date(2026, 11, 1))
    assert october == {("sales",): {date(2026, 10, 3): Decimal("7.0")}}
    one_day = cur.duckdb_daily(export, WHERE, ["costCenter"], date(2026, 11, 11), date(2026, 11, 12))
    assert one_day == {
        ("support",): {date(2026, 11, 11): Decimal("0.25")},
        ("",): {date(2026, 11, 11): Decimal("0.5")},
    }


def test_grouping_by_iam_principal_and_by_two_tags(export):
    by_principal = cur.duckdb_daily(export, WHERE, ["iamPrincipal"], PERIOD.since, PERIOD.until)
    assert {k: sum(v.values()) for k, v in by_principal.items()} == {
        (ROLE,): Decimal("0.0001625") + Decimal("0.00000114") + Decimal("0.25"),
        ("arn:aws:iam::123456789012:user/alice",): Decimal("0.5"),
    }
    two = cur.duckdb_daily(export, WHERE, ["costCenter", "applicationId"], PERIOD.since, PERIOD.until)
    assert set(two) == {("sales", "docs"), ("support", "chat"), ("", "")}


def test_no_export_yet_is_a_clear_error(aws):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    with pytest.raises(
        cur.CurError, match=re.escape("no CUR 2.0 Parquet under s3://tollgate-cur/cur2/tollgate-cur2/data/")
    ):
        cur.duckdb_daily(s3, WHERE, ["costCenter"], PERIOD.since, PERIOD.until)


def test_tag_keys_cannot_inject_sql():
    with pytest.raises(cur.CurError, match="--by"):
        cur.query(["x') OR 1=1 --"], PERIOD.since, PERIOD.until, table="t", dialect="duckdb")
    with pytest.raises(cur.CurError, match="--athena-table"):
        cur.AthenaTable(database="billing", table="cur; DROP")


def test_the_report_puts_the_cur_bill_beside_tollgate_with_the_drift(traffic, export):  # noqa: F811
    def client(service):
        return export if service == "s3" else boto3.client(service, region_name="us-east-1")

    def bill(keys, since, until):
        return cur.duckdb_daily(export, WHERE, keys, since, until)

    report = build_report(client, by=["costCenter"], period=PERIOD, namespace=NAMESPACE, bill=bill)
    rows = {r["costCenter"]: r for r in report.rows}
    assert report.bill_source == "cur" and report.cost_explorer
    assert rows["sales"]["costUsd"] == Decimal("0.0001625") and rows["sales"]["costExplorerUsd"] == Decimal(
        "0.0001625"
    )
    assert rows["sales"]["driftPercent"] == 0
    assert rows["support"]["costExplorerUsd"] == Decimal("0.25000114")  # Claude's Marketplace line counts
    assert rows[""]["costExplorerUsd"] == Decimal("0.5") and rows[""]["costUsd"] == 0
    assert json.loads(render.as_json(report))["billSource"] == "cur"
    assert "CUR USD" in render.as_text(report, rich=False)


def test_by_iam_principal_needs_the_cur_and_puts_tollgate_under_one_row(traffic, export):  # noqa: F811
    with pytest.raises(ValueError, match="iamPrincipal needs --source cur"):
        build_report(
            lambda s: boto3.client(s, region_name="us-east-1"),
            by=["iamPrincipal"],
            period=PERIOD,
            namespace=NAMESPACE,
        )
    report = build_report(
        lambda s: boto3.client(s, region_name="us-east-1"),
        by=["iamPrincipal"],
        period=PERIOD,
        namespace=NAMESPACE,
        bill=lambda keys, since, until: cur.duckdb_daily(export, WHERE, keys, since, until),
    )
    rows = {r["iamPrincipal"]: r for r in report.rows}
    assert rows["(Tollgate)"]["requests"] == 3 and rows["(Tollgate)"]["costExplorerUsd"] == 0
    assert rows[ROLE]["costExplorerUsd"] == Decimal("0.25016364")
    assert any("no caller identity" in n for n in report.notes)


ATHENA_SQL_PARTS = (
    "element_at(resource_tags, 'user_costCenter')",
    '"billing"."cur2"',
    "AmazonBedrock",
    "(Amazon Bedrock Edition)",
)


def test_athena_runs_the_same_query_polls_and_reads_every_page():
    athena = boto3.client("athena", region_name="us-east-1")
    stub = Stubber(athena)
    sql = cur.query(["costCenter"], PERIOD.since, PERIOD.until, table='"billing"."cur2"', dialect="athena")
    assert all(p in sql for p in ATHENA_SQL_PARTS)
    stub.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q1"},
        {"QueryString": sql, "WorkGroup": "finance", "ResultConfiguration": {"OutputLocation": "s3://out/"}},
    )
    stub.add_response(
        "get_query_execution",
        {"QueryExecution": {"Status": {"State": "RUNNING"}}},
        {"QueryExecutionId": "q1"},
    )
    stub.add_response(
        "get_query_execution",
        {"QueryExecution": {"Status": {"State": "SUCCEEDED"}}},
        {"QueryExecutionId": "q1"},
    )

    def rows(*values):
        return [{"Data": [{"VarCharValue": v} for v in r]} for r in values]

    stub.add_response(
        "get_query_results",
        {
            "ResultSet": {"Rows": rows(("day", "g0", "cost"), ("2026-11-10", "sales", "0.0001"))},
            "NextToken": "t",
        },
        {"QueryExecutionId": "q1"},
    )
    stub.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": rows(("2026-11-10", "sales", "0.0000625"), ("2026-11-11", "", "0.5"))}},
        {"QueryExecutionId": "q1", "NextToken": "t"},
    )
    stub.activate()
    slept = []
    table = cur.AthenaTable(
        database="billing", table="cur2", workgroup="finance", output_location="s3://out/"
    )
    got = cur.athena_daily(athena, table, ["costCenter"], PERIOD.since, PERIOD.until, sleep=slept.append)
    stub.assert_no_pending_responses()
    assert slept == [0.5]
    assert got == {
        ("sales",): {date(2026, 11, 10): Decimal("0.0001625")},
        ("",): {date(2026, 11, 11): Decimal("0.5")},
    }


def test_a_failed_athena_query_names_its_reason():
    athena = boto3.client("athena", region_name="us-east-1")
    stub = Stubber(athena)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q2"})
    stub.add_response(
        "get_query_execution",
        {"QueryExecution": {"Status": {"State": "FAILED", "StateChangeReason": "TABLE_NOT_FOUND: cur2"}}},
    )
    stub.activate()
    with pytest.raises(cur.CurError, match="q2 FAILED: TABLE_NOT_FOUND"):
        cur.athena_daily(
            athena, cur.AthenaTable("billing", "cur2"), ["costCenter"], PERIOD.since, PERIOD.until
        )


def test_the_cli_needs_a_location_and_says_so(traffic, capsys, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    code = cli.main(["report", "--source", "cur", "--terraform-dir", str(tmp_path), "--json"])
    assert code != 0
    assert "--cur-bucket and --cur-export" in capsys.readouterr().err


def test_the_cli_reads_the_export_named_by_flags(traffic, export, capsys):  # noqa: F811
    code = cli.main(
        [
            "report",
            "--source",
            "cur",
            "--cur-bucket",
            BUCKET,
            "--cur-prefix",
            "cur2",
            "--cur-export",
            "tollgate-cur2",
            "--since",
            "2026-11-01",
            "--until",
            "2026-12-01",
            "--region",
            "us-east-1",
            "--json",
            "--table",
            "tollgate-test",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["billSource"] == "cur"
    assert {r["costCenter"]: r["costExplorerUsd"] for r in out["rows"]}["support"] == pytest.approx(
        0.25000114
    )


def test_period_partitions_cross_a_year():
    assert cur._periods(date(2026, 12, 20), date(2027, 2, 2)) == {"2026-12", "2027-01", "2027-02"}
    assert Period(date(2026, 11, 1), date(2026, 12, 1))  # the report's own period type
