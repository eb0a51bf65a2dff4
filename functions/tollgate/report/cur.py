"""The bill from a CUR 2.0 export (AWS Data Exports, Parquet): read with DuckDB from the
export's S3 objects (local, or any account where downloading a month of Parquet is fine), or
with Athena over a table defined on the export (AWS, at any size).

Both readers answer what ``sources.cost_explorer_daily`` answers: unblended cost per UTC day,
grouped by cost allocation tag values (or by the IAM principal that called Bedrock), so the
report's drift columns work the same whichever bill is read. See docs/reporting.md.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

# Claude (and other Marketplace-sold models) bill under a Marketplace product named
# "<model> (Amazon Bedrock Edition)", not under AmazonBedrock: the name Cost Explorer shows too.
from tollgate.report.sources import MARKETPLACE_SUFFIX

# CUR 2.0 keeps user-defined tags in the resource_tags map as user_<key>; the caller's IAM
# principal is line_item_iam_principal (a data export with caller identity).
PRINCIPAL = "iamPrincipal"
BEDROCK_PRODUCT_CODE = "AmazonBedrock"
_NAME = re.compile(r"^[A-Za-z0-9_.:/=+@-]{1,128}$")
_IDENT = re.compile(r"^[A-Za-z0-9_]{1,255}$")


class CurError(ValueError):
    """The export cannot be read as asked (a clear message, never a stack trace)."""


@dataclass(frozen=True)
class CurLocation:
    """Where a Data Exports export delivers: s3://bucket/prefix/export/data/BILLING_PERIOD=YYYY-MM/."""

    bucket: str
    prefix: str
    export_name: str

    @property
    def data_prefix(self) -> str:
        return "/".join(p for p in (self.prefix.strip("/"), self.export_name, "data") if p) + "/"


def _group_expression(key: str, dialect: str) -> str:
    if key == PRINCIPAL:
        return "coalesce(line_item_iam_principal, '')"
    if not _NAME.match(key):
        raise CurError(f"--by {key!r}: a tag key has letters, digits and _.:/=+@- only")
    tag = f"user_{key}"
    lookup = f"element_at(resource_tags, '{tag}')" if dialect == "athena" else f"resource_tags['{tag}']"
    return f"coalesce({lookup}, '')"


def query(keys: list[str], since: date, until: date, *, table: str, dialect: str) -> str:
    """The SQL both readers run: cost per day and group, Bedrock and its Marketplace editions."""
    if dialect not in ("duckdb", "athena"):
        raise CurError(f"unknown SQL dialect {dialect!r}")
    groups = [_group_expression(k, dialect) for k in keys]
    product = "element_at(product, 'product_name')" if dialect == "athena" else "product['product_name']"
    columns = ", ".join(f"{g} AS g{i}" for i, g in enumerate(groups))
    by = ", ".join(str(i + 2) for i in range(len(groups)))
    # keys and table are checked (_NAME, AthenaTable) or ours (the downloaded files' paths)
    return (
        f"SELECT CAST(line_item_usage_start_date AS DATE) AS day, {columns}, "  # noqa: S608
        "SUM(line_item_unblended_cost) AS cost "
        f"FROM {table} "
        f"WHERE line_item_usage_start_date >= TIMESTAMP '{since.isoformat()} 00:00:00' "
        f"AND line_item_usage_start_date < TIMESTAMP '{until.isoformat()} 00:00:00' "
        f"AND (line_item_product_code = '{BEDROCK_PRODUCT_CODE}' "
        f"OR coalesce({product}, '') LIKE '%{MARKETPLACE_SUFFIX}') "
        f"GROUP BY 1, {by} ORDER BY 1, {by}"
    )


def _collect(rows: list[tuple[Any, ...]]) -> dict[tuple[str, ...], dict[date, Decimal]]:
    out: dict[tuple[str, ...], dict[date, Decimal]] = {}
    for day, *keys, cost in rows:
        if isinstance(day, datetime):
            day = day.date()
        elif isinstance(day, str):
            day = date.fromisoformat(day[:10])
        days = out.setdefault(tuple(str(k or "") for k in keys), {})
        days[day] = days.get(day, Decimal(0)) + Decimal(repr(float(cost or 0)))
    return out


def _periods(since: date, until: date) -> set[str]:
    """The BILLING_PERIOD=YYYY-MM partitions the period touches."""
    out, cursor = set(), since.replace(day=1)
    while cursor < until:
        out.add(cursor.strftime("%Y-%m"))
        cursor = (cursor.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def parquet_keys(s3: Any, where: CurLocation, since: date, until: date) -> list[str]:
    """The export's Parquet objects of the billing periods the report covers."""
    wanted = _periods(since, until)
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=where.bucket, Prefix=where.data_prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            m = re.search(r"/BILLING_PERIOD=(\d{4}-\d{2})/", key)
            if key.endswith(".parquet") and m and m.group(1) in wanted:
                keys.append(key)
    return sorted(keys)


def duckdb_daily(
    s3: Any, where: CurLocation, keys: list[str], since: date, until: date
) -> dict[tuple[str, ...], dict[date, Decimal]]:
    """Download the period's Parquet objects and sum them with DuckDB (pip install duckdb)."""
    try:
        import duckdb
    except ImportError:
        raise CurError("--source cur reads Parquet with DuckDB: pip install duckdb") from None
    objects = parquet_keys(s3, where, since, until)
    if not objects:
        raise CurError(
            f"no CUR 2.0 Parquet under s3://{where.bucket}/{where.data_prefix} for "
            f"{', '.join(sorted(_periods(since, until)))}: AWS delivers the first export up to 24 h "
            "after it is created"
        )
    with tempfile.TemporaryDirectory(prefix="tollgate-cur-") as tmp:
        files = []
        for i, key in enumerate(objects):
            path = Path(tmp) / f"{i:05d}.parquet"
            s3.download_file(where.bucket, key, str(path))
            files.append(str(path))
        listed = ", ".join(f"'{f}'" for f in files)
        sql = query(
            keys, since, until, table=f"read_parquet([{listed}], union_by_name = true)", dialect="duckdb"
        )
        with duckdb.connect() as db:
            rows = db.execute(sql).fetchall()
    return _collect(rows)


@dataclass(frozen=True)
class AthenaTable:
    database: str
    table: str
    workgroup: str = "primary"
    output_location: str | None = None  # s3://... when the workgroup does not set one

    def __post_init__(self) -> None:
        for name, value in (("--athena-database", self.database), ("--athena-table", self.table)):
            if not _IDENT.match(value):
                raise CurError(f"{name} {value!r}: letters, digits and _ only")

    @property
    def qualified(self) -> str:
        return f'"{self.database}"."{self.table}"'


def athena_daily(
    athena: Any,
    where: AthenaTable,
    keys: list[str],
    since: date,
    until: date,
    *,
    sleep: Callable[[float], None] = time.sleep,
    timeout_s: float = 300,
) -> dict[tuple[str, ...], dict[date, Decimal]]:
    """Run the query in Athena over a table defined on the export (Glue crawler or DDL)."""
    kwargs: dict[str, Any] = {
        "QueryString": query(keys, since, until, table=where.qualified, dialect="athena"),
        "WorkGroup": where.workgroup,
    }
    if where.output_location:
        kwargs["ResultConfiguration"] = {"OutputLocation": where.output_location}
    qid = athena.start_query_execution(**kwargs)["QueryExecutionId"]
    waited, delay = 0.0, 0.5
    while True:
        status = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        state = status.get("State")
        if state == "SUCCEEDED":
            break
        if state in ("FAILED", "CANCELLED"):
            raise CurError(
                f"Athena query {qid} {state}: {status.get('StateChangeReason', 'no reason given')}"
            )
        if waited >= timeout_s:
            raise CurError(f"Athena query {qid} still {state} after {timeout_s:.0f} s")
        sleep(delay)
        waited += delay
        delay = min(delay * 2, 5)
    rows: list[tuple[Any, ...]] = []
    first = True
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid):
        for row in page.get("ResultSet", {}).get("Rows", []):
            values = tuple(c.get("VarCharValue") for c in row.get("Data", []))
            if first:  # the header row
                first = False
                continue
            rows.append(values)
    return _collect(rows)
