"""AWS Data Exports for LocalStack (PROVIDER_OVERRIDE_BCM_DATA_EXPORTS=tollgate): CUR 2.0 exports
(Create/Get/List/Update/Delete, tags, executions) delivered as Parquet into LocalStack's S3, built
from what the Bedrock emulator served (bedrock/usage.py) and priced as the local Cost Explorer
prices it, so that both local bills agree to the cent.

Each export's objects are s3://<bucket>/<prefix>/<export name>/data/BILLING_PERIOD=YYYY-MM/
<export name>-00001.snappy.parquet, overwritten on each delivery (OVERWRITE_REPORT). AWS refreshes
an export up to three times a day, 24-48 hours behind; here a delivery follows each change of the
served usage within TOLLGATE_CUR_REFRESH_SECONDS (default 2 s). The columns are the ones the
export's SELECT names, daily line items per usage type (input and output tokens), with:

- line_item_product_code AmazonBedrock, or for Anthropic's models a Marketplace product named
  "<model> (Amazon Bedrock Edition)" (as Claude is billed), product['product_name'] saying which;
- resource_tags: the application inference profile's tags as user_<key>, and the caller
  principal's tags as iamPrincipal/<key> (with INCLUDE_CALLER_IDENTITY);
- line_item_iam_principal: the caller (with INCLUDE_CALLER_IDENTITY = TRUE).

Needs DuckDB inside LocalStack's environment (local/launcher.py installs it) to write Parquet.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from localstack.aws.api import CommonServiceException, RequestContext, handler
from localstack.services.plugins import Service, aws_provider

from .bedrock.usage import USAGE, Served
from .costexplorer import SERVICE_NAME, prices, service_of

LOG = logging.getLogger(__name__)
REFRESH_S = float(os.environ.get("TOLLGATE_CUR_REFRESH_SECONDS", "2"))
TABLE = "COST_AND_USAGE_REPORT"
ISO = "%Y-%m-%dT%H:%M:%SZ"
# The CUR 2.0 columns this emulation fills, with their DuckDB types.
COLUMNS = {
    "bill_billing_period_start_date": "TIMESTAMP",
    "bill_billing_period_end_date": "TIMESTAMP",
    "identity_line_item_id": "VARCHAR",
    "identity_time_interval": "VARCHAR",
    "line_item_line_item_type": "VARCHAR",
    "line_item_product_code": "VARCHAR",
    "line_item_usage_type": "VARCHAR",
    "line_item_operation": "VARCHAR",
    "line_item_usage_start_date": "TIMESTAMP",
    "line_item_usage_end_date": "TIMESTAMP",
    "line_item_usage_amount": "DOUBLE",
    "line_item_unblended_cost": "DOUBLE",
    "line_item_usage_account_id": "VARCHAR",
    "line_item_iam_principal": "VARCHAR",
    "product": "MAP(VARCHAR, VARCHAR)",
    "resource_tags": "MAP(VARCHAR, VARCHAR)",
}
_SELECT = re.compile(r"^\s*SELECT\s+(.+?)\s+FROM\s+(\w+)\s*$", re.IGNORECASE | re.DOTALL)


def _invalid(message: str) -> CommonServiceException:
    return CommonServiceException("ValidationException", message, status_code=400, sender_fault=True)


def _not_found(arn: str) -> CommonServiceException:
    return CommonServiceException(
        "ResourceNotFoundException", f"Export {arn} was not found.", status_code=404, sender_fault=True
    )


def parse_query(statement: str) -> list[str]:
    """The columns a CUR 2.0 query selects (SELECT a, b FROM COST_AND_USAGE_REPORT)."""
    m = _SELECT.match(statement or "")
    if not m or m.group(2).upper() != TABLE:
        raise _invalid(f"QueryStatement must be SELECT <columns> FROM {TABLE} here.")
    columns = [c.strip() for c in m.group(1).split(",")]
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise _invalid(f"QueryStatement: unknown or unsupported column(s) {', '.join(unknown)}.")
    return columns


class Exports:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.exports: dict[
            str, dict
        ] = {}  # arn -> {"Export", "Status", "Tags", "Account", "Region", "Executions"}
        self.delivered_version = -1


EXPORTS = Exports()


def _check(export: dict, account: str) -> list[str]:
    if not re.match(r"^[0-9A-Za-z!\-_.*\'()]{1,128}$", export.get("Name", "")):
        raise _invalid("Export.Name must be 1-128 letters, digits and !-_.*'().")
    columns = parse_query((export.get("DataQuery") or {}).get("QueryStatement", ""))
    props = ((export.get("DataQuery") or {}).get("TableConfigurations") or {}).get(TABLE, {})
    if "line_item_iam_principal" in columns and props.get("INCLUDE_CALLER_IDENTITY") != "TRUE":
        raise _invalid("line_item_iam_principal needs the table property INCLUDE_CALLER_IDENTITY = TRUE.")
    s3 = (export.get("DestinationConfigurations") or {}).get("S3Destination") or {}
    out = s3.get("S3OutputConfigurations") or {}
    if not s3.get("S3Bucket") or out.get("Format") != "PARQUET":
        raise _invalid("This emulation delivers Parquet only (S3OutputConfigurations.Format = PARQUET).")
    if (export.get("RefreshCadence") or {}).get("Frequency") != "SYNCHRONOUS":
        raise _invalid("RefreshCadence.Frequency must be SYNCHRONOUS.")
    return columns


def _now() -> datetime:
    return datetime.now(UTC)


class DataExportsProvider:
    service = "bcm-data-exports"

    def _get(self, context: RequestContext, arn: str) -> dict:
        entry = EXPORTS.exports.get(arn)
        if entry is None or entry["Account"] != context.account_id:
            raise _not_found(arn)
        return entry

    @handler("CreateExport", expand=False)
    def create_export(self, context: RequestContext, request: dict) -> dict:
        export = dict(request.get("Export") or {})
        _check(export, context.account_id)
        with EXPORTS.lock:
            if any(
                e["Export"]["Name"] == export["Name"] and e["Account"] == context.account_id
                for e in EXPORTS.exports.values()
            ):
                raise CommonServiceException(
                    "ValidationException", f"An export named {export['Name']} exists.", 400, True
                )
            account = context.account_id
            arn = f"arn:aws:bcm-data-exports:us-east-1:{account}:export/{export['Name']}-{uuid.uuid4()}"
            export["ExportArn"] = arn
            EXPORTS.exports[arn] = {
                "Export": export,
                "Status": {"StatusCode": "HEALTHY", "CreatedAt": _now(), "LastUpdatedAt": _now()},
                "Tags": {t["Key"]: t["Value"] for t in request.get("ResourceTags") or []},
                "Account": context.account_id,
                "Region": context.region,
                "Executions": [],
            }
            EXPORTS.delivered_version = -1  # deliver the new export at the next refresh
        return {"ExportArn": arn}

    @handler("GetExport", expand=False)
    def get_export(self, context: RequestContext, request: dict) -> dict:
        with EXPORTS.lock:
            entry = self._get(context, request["ExportArn"])
            return {"Export": entry["Export"], "ExportStatus": entry["Status"]}

    @handler("UpdateExport", expand=False)
    def update_export(self, context: RequestContext, request: dict) -> dict:
        export = dict(request.get("Export") or {})
        _check(export, context.account_id)
        with EXPORTS.lock:
            entry = self._get(context, request["ExportArn"])
            export["ExportArn"] = request["ExportArn"]
            entry["Export"] = export
            entry["Status"]["LastUpdatedAt"] = _now()
            EXPORTS.delivered_version = -1
        return {"ExportArn": request["ExportArn"]}

    @handler("DeleteExport", expand=False)
    def delete_export(self, context: RequestContext, request: dict) -> dict:
        with EXPORTS.lock:
            self._get(context, request["ExportArn"])
            del EXPORTS.exports[request["ExportArn"]]
        return {"ExportArn": request["ExportArn"]}

    @handler("ListExports", expand=False)
    def list_exports(self, context: RequestContext, request: dict) -> dict:
        with EXPORTS.lock:
            return {
                "Exports": [
                    {"ExportArn": arn, "ExportName": e["Export"]["Name"], "ExportStatus": e["Status"]}
                    for arn, e in sorted(EXPORTS.exports.items())
                    if e["Account"] == context.account_id
                ]
            }

    @handler("ListExecutions", expand=False)
    def list_executions(self, context: RequestContext, request: dict) -> dict:
        with EXPORTS.lock:
            entry = self._get(context, request["ExportArn"])
            return {"Executions": [dict(x) for x in entry["Executions"][-50:]]}

    @handler("GetExecution", expand=False)
    def get_execution(self, context: RequestContext, request: dict) -> dict:
        with EXPORTS.lock:
            entry = self._get(context, request["ExportArn"])
            for x in entry["Executions"]:
                if x["ExecutionId"] == request["ExecutionId"]:
                    return {**x, "Export": entry["Export"]}
        raise CommonServiceException(
            "ResourceNotFoundException", f"Execution {request['ExecutionId']} was not found.", 404, True
        )

    @handler("ListTagsForResource", expand=False)
    def list_tags_for_resource(self, context: RequestContext, request: dict) -> dict:
        with EXPORTS.lock:
            entry = self._get(context, request["ResourceArn"])
            return {"ResourceTags": [{"Key": k, "Value": v} for k, v in sorted(entry["Tags"].items())]}

    @handler("TagResource", expand=False)
    def tag_resource(self, context: RequestContext, request: dict) -> dict:
        with EXPORTS.lock:
            entry = self._get(context, request["ResourceArn"])
            entry["Tags"].update({t["Key"]: t["Value"] for t in request.get("ResourceTags") or []})
        return {}

    @handler("UntagResource", expand=False)
    def untag_resource(self, context: RequestContext, request: dict) -> dict:
        with EXPORTS.lock:
            entry = self._get(context, request["ResourceArn"])
            for key in request.get("ResourceTagKeys") or []:
                entry["Tags"].pop(key, None)
        return {}


# --- delivery ---------------------------------------------------------------------------------------
def _day(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def _month(moment: datetime) -> tuple[datetime, datetime]:
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    return start, (start + timedelta(days=32)).replace(day=1)


def _product(model_id: str) -> tuple[str, str]:
    """(line_item_product_code, product_name): the service the local Cost Explorer bills the model
    under (service_of): Amazon Bedrock, or for Anthropic's models a Marketplace product
    "<model> (Amazon Bedrock Edition)" with a product code of its own."""
    name = service_of(model_id)
    if name == SERVICE_NAME:
        return "AmazonBedrock", name
    return "prod-" + hashlib.sha256(model_id.encode()).hexdigest()[:12], name


def line_items(records: list[Served], caller_identity: bool) -> list[dict]:
    """Daily line items: per day, model, token direction, profile tags and caller."""
    groups: dict[tuple, list[int]] = {}
    for r in records:
        key = (_day(r.at), r.account, r.region, r.model_id, r.tags, r.principal, r.principal_tags)
        sums = groups.setdefault(key, [0, 0])
        sums[0] += r.input_tokens
        sums[1] += r.output_tokens
    items = []
    for (day, account, region, model_id, tags, principal, principal_tags), (tin, tout) in sorted(
        groups.items()
    ):
        price_in, price_out = prices().get(model_id, (Decimal(0), Decimal(0)))
        code, product_name = _product(model_id)
        start, end = _month(day)
        resource_tags = {f"user_{k}": v for k, v in tags}
        if caller_identity:
            resource_tags.update({f"iamPrincipal/{k}": v for k, v in principal_tags})
        short = re.sub(r"[^A-Za-z0-9.]", "", product_name.replace(" (Amazon Bedrock Edition)", ""))
        for direction, tokens, price in (("input", tin, price_in), ("output", tout, price_out)):
            if not tokens:
                continue
            identity = hashlib.sha256(repr((day, model_id, tags, principal, direction)).encode()).hexdigest()
            items.append(
                {
                    "bill_billing_period_start_date": start,
                    "bill_billing_period_end_date": end,
                    "identity_line_item_id": identity[:52],
                    "identity_time_interval": f"{day:{ISO}}/{day + timedelta(days=1):{ISO}}",
                    "line_item_line_item_type": "Usage",
                    "line_item_product_code": code,
                    "line_item_usage_type": f"USE1-{short}-{direction}-tokens",
                    "line_item_operation": "InvokeModelInference",
                    "line_item_usage_start_date": day,
                    "line_item_usage_end_date": day + timedelta(days=1),
                    "line_item_usage_amount": float(tokens),
                    "line_item_unblended_cost": float(price * tokens / 1000),
                    "line_item_usage_account_id": account,
                    "line_item_iam_principal": principal if caller_identity else None,
                    "product": {"product_name": product_name, "region": region},
                    "resource_tags": resource_tags,
                }
            )
    return items


def write_parquet(path: str, columns: list[str], items: list[dict]) -> None:
    import duckdb

    db = duckdb.connect()
    try:
        db.execute("CREATE TABLE cur (" + ", ".join(f"{c} {COLUMNS[c]}" for c in columns) + ")")
        for item in items:
            values, marks = [], []
            for c in columns:
                v = item[c]
                if COLUMNS[c].startswith("MAP"):
                    marks.append("MAP(?, ?)")
                    values += [list(v), [str(x) for x in v.values()]]
                else:
                    marks.append("?")
                    values.append(v.replace(tzinfo=None) if isinstance(v, datetime) else v)
            db.execute(f"INSERT INTO cur VALUES ({', '.join(marks)})", values)
        db.execute(f"COPY cur TO '{path}' (FORMAT parquet, COMPRESSION snappy)")
    finally:
        db.close()


def deliver_all() -> None:
    """Write every export's billing periods from the served usage (OVERWRITE_REPORT)."""
    from localstack.aws.connect import connect_to

    with EXPORTS.lock:
        exports = [(arn, dict(e)) for arn, e in EXPORTS.exports.items()]
    for arn, entry in exports:
        export = entry["Export"]
        columns = parse_query(export["DataQuery"]["QueryStatement"])
        props = (export["DataQuery"].get("TableConfigurations") or {}).get(TABLE, {})
        s3dest = export["DestinationConfigurations"]["S3Destination"]
        records = USAGE.of(entry["Account"])
        items = line_items(records, props.get("INCLUDE_CALLER_IDENTITY") == "TRUE")
        by_period: dict[str, list[dict]] = {}
        for item in items:
            by_period.setdefault(f"{item['bill_billing_period_start_date']:%Y-%m}", []).append(item)
        s3 = connect_to(region_name=s3dest.get("S3Region") or entry["Region"]).s3
        started = _now()
        prefix = "/".join(p for p in (s3dest.get("S3Prefix", "").strip("/"), export["Name"], "data") if p)
        with tempfile.TemporaryDirectory(prefix="tollgate-cur-") as tmp:
            for period, period_items in sorted(by_period.items()):
                path = os.path.join(tmp, f"{period}.parquet")
                write_parquet(path, columns, period_items)
                key = f"{prefix}/BILLING_PERIOD={period}/{export['Name']}-00001.snappy.parquet"
                with open(path, "rb") as f:
                    s3.put_object(Bucket=s3dest["S3Bucket"], Key=key, Body=f.read())
        with EXPORTS.lock:
            live = EXPORTS.exports.get(arn)
            if live is not None:
                live["Status"]["LastRefreshedAt"] = _now()
                live["Executions"].append(
                    {
                        "ExecutionId": uuid.uuid4().hex,
                        "ExecutionStatus": {
                            "StatusCode": "DELIVERY_SUCCESS",
                            "CreatedAt": started,
                            "CompletedAt": _now(),
                            "LastUpdatedAt": _now(),
                        },
                    }
                )


def _refresher() -> None:
    while True:
        time.sleep(REFRESH_S)
        version = USAGE.version
        if version == EXPORTS.delivered_version or not EXPORTS.exports:
            continue
        try:
            deliver_all()
            EXPORTS.delivered_version = version
        except Exception:
            LOG.exception("CUR export delivery failed")


_STARTED = threading.Lock()
_started = False


def start_refresher() -> None:
    global _started
    with _STARTED:
        if not _started:
            threading.Thread(target=_refresher, name="tollgate-cur-export", daemon=True).start()
            _started = True


@aws_provider(api="bcm-data-exports", name="tollgate")
def bcm_data_exports_tollgate() -> Service:
    start_refresher()
    return Service.for_provider(DataExportsProvider())
