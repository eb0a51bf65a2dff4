"""A Cost Explorer for LocalStack (PROVIDER_OVERRIDE_CE=tollgate): cost allocation tag
activation (UpdateCostAllocationTagsStatus, ListCostAllocationTags) and GetCostAndUsage over
what the Bedrock emulator actually served (bedrock/usage.py), priced with Tollgate's model
catalogue (TOLLGATE_PRICE_CATALOGUE, functions/tollgate/data/models.json).

As on AWS, a call is billed under the tags of the application inference profile it went
through, and only activated user-defined tags group: grouping by a key that is not active (or a
call without that tag) puts the cost under `<key>$`. As on AWS, Anthropic's models bill as AWS
Marketplace products, service "<model> (Amazon Bedrock Edition)" (service_of), every other model
as "Amazon Bedrock": a filter on Service = Amazon Bedrock alone misses Claude. GetDimensionValues
lists the services of a period. There are no credits, taxes or other services, and the figures
are final at once (AWS takes hours). See docs/reporting.md.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from localstack.aws.api import CommonServiceException, RequestContext, handler
from localstack.services.plugins import Service, aws_provider

from .bedrock.provider import STORE
from .bedrock.usage import USAGE, Served

LOG = logging.getLogger(__name__)
SERVICE_NAME = "Amazon Bedrock"
COST_METRICS = ("UnblendedCost", "BlendedCost", "AmortizedCost", "NetUnblendedCost", "NetAmortizedCost")
METRICS = (*COST_METRICS, "UsageQuantity")


def _invalid(message: str) -> CommonServiceException:
    return CommonServiceException("ValidationException", message, status_code=400, sender_fault=True)


# --- prices ---------------------------------------------------------------------------------------
_PRICES: dict[str, tuple[Decimal, Decimal]] | None = None
_SERVICES: dict[str, str] = {}
MARKETPLACE_SUFFIX = " (Amazon Bedrock Edition)"


def prices() -> dict[str, tuple[Decimal, Decimal]]:
    """Model ID -> (input, output) USD per 1,000 tokens, from Tollgate's catalogue."""
    global _PRICES
    if _PRICES is None:
        path = os.environ.get("TOLLGATE_PRICE_CATALOGUE", "")
        try:
            with open(path, encoding="utf-8") as f:
                models = json.load(f)["models"]
        except (OSError, ValueError, KeyError) as e:
            LOG.warning("No price catalogue at %r (%s): every call costs 0", path, e)
            models = {}
        _PRICES = {
            model_id: (Decimal(str(m["inputUsdPer1k"])), Decimal(str(m["outputUsdPer1k"])))
            for model_id, m in models.items()
        }
        # Marketplace product names: the catalogue's model name without a "(...)" note.
        _SERVICES.update(
            {
                model_id: str(m.get("name") or model_id).split(" (")[0] + MARKETPLACE_SUFFIX
                for model_id, m in models.items()
                if m.get("family") == "anthropic"
            }
        )
    return _PRICES


def service_of(model_id: str) -> str:
    """The Cost Explorer service a call to the model bills under."""
    prices()
    if model_id in _SERVICES:
        return _SERVICES[model_id]
    if model_id.startswith("anthropic."):
        return model_id + MARKETPLACE_SUFFIX
    return SERVICE_NAME


def cost_usd(record: Served) -> Decimal:
    price_in, price_out = prices().get(record.model_id, (Decimal(0), Decimal(0)))
    return (price_in * record.input_tokens + price_out * record.output_tokens) / 1000


def _amount(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


# --- cost allocation tags -------------------------------------------------------------------------
class TagStatus:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tags: dict[str, dict[str, dict]] = {}  # account -> key -> {Status, LastUpdatedDate}

    def of(self, account: str) -> dict[str, dict]:
        return self.tags.setdefault(account, {})

    def active(self, account: str) -> set[str]:
        with self.lock:
            return {k for k, t in self.of(account).items() if t["Status"] == "Active"}


TAG_STATUS = TagStatus()


def _seen_tag_keys(account: str) -> set[str]:
    """Tag keys on this account's application inference profiles, and on the calls served."""
    keys = {k for arn, tags in STORE.tags.items() if f":{account}:" in arn for k in tags}
    keys |= {k for r in USAGE.of(account) for k, _ in r.tags}
    return keys


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- GetCostAndUsage --------------------------------------------------------------------------------
def _parse_moment(text: str, field: str) -> datetime:
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise _invalid(f"{field}: '{text}' is not a date (yyyy-MM-dd) or a time (yyyy-MM-ddThh:mm:ssZ).")


def _buckets(start: datetime, end: datetime, granularity: str) -> list[tuple[datetime, datetime]]:
    out, cursor = [], start
    while cursor < end:
        if granularity == "HOURLY":
            nxt = cursor + timedelta(hours=1)
        elif granularity == "DAILY":
            nxt = datetime.combine(cursor.date() + timedelta(days=1), datetime.min.time(), UTC)
        else:  # MONTHLY
            first = cursor.date().replace(day=1)
            nxt = datetime.combine((first + timedelta(days=32)).replace(day=1), datetime.min.time(), UTC)
        nxt = min(nxt, end)
        out.append((cursor, nxt))
        cursor = nxt
    return out


def _tag_value(record: Served, key: str, active: set[str]) -> str:
    """The value a call is grouped and filtered under: only an active key counts."""
    if key not in active:
        return ""
    return dict(record.tags).get(key, "")


def _dimension(record: Served, key: str) -> str:
    if key == "SERVICE":
        return service_of(record.model_id)
    if key == "REGION":
        return record.region
    if key == "LINKED_ACCOUNT":
        return record.account
    raise _invalid(
        f"Dimension {key} is not supported by the local Cost Explorer (SERVICE, REGION, LINKED_ACCOUNT)."
    )


def _matches(record: Served, expression: dict, active: set[str]) -> bool:
    if not expression:
        return True
    if "And" in expression:
        return all(_matches(record, e, active) for e in expression["And"])
    if "Or" in expression:
        return any(_matches(record, e, active) for e in expression["Or"])
    if "Not" in expression:
        return not _matches(record, expression["Not"], active)
    if "Dimensions" in expression:
        d = expression["Dimensions"]
        return _dimension(record, d["Key"]) in d.get("Values", [])
    if "Tags" in expression:
        t = expression["Tags"]
        value = _tag_value(record, t["Key"], active)
        options = t.get("MatchOptions") or ["EQUALS"]
        if "ABSENT" in options:
            return value == ""
        return value in t.get("Values", [])
    raise _invalid("The local Cost Explorer filters on Dimensions, Tags, And, Or and Not only.")


def _group_key(record: Served, group: dict, active: set[str]) -> str:
    if group["Type"] == "TAG":
        return f"{group['Key']}${_tag_value(record, group['Key'], active)}"
    if group["Type"] == "DIMENSION":
        return _dimension(record, group["Key"])
    raise _invalid(
        f"GroupBy type {group['Type']} is not supported by the local Cost Explorer (TAG, DIMENSION)."
    )


def _metric_values(records: list[Served], metrics: list[str]) -> dict:
    cost = sum((cost_usd(r) for r in records), Decimal(0))
    tokens = sum(r.input_tokens + r.output_tokens for r in records)
    out = {}
    for m in metrics:
        if m == "UsageQuantity":
            out[m] = {"Amount": str(tokens), "Unit": "N/A"}
        else:
            out[m] = {"Amount": _amount(cost), "Unit": "USD"}
    return out


class CostExplorerProvider:
    service = "ce"

    @handler("UpdateCostAllocationTagsStatus", expand=False)
    def update_cost_allocation_tags_status(self, context: RequestContext, request: dict) -> dict:
        entries = request.get("CostAllocationTagsStatus") or []
        if not 1 <= len(entries) <= 20:
            raise _invalid("CostAllocationTagsStatus must hold 1 to 20 entries.")
        errors, now = [], _iso(datetime.now(UTC))
        with TAG_STATUS.lock:
            tags = TAG_STATUS.of(context.account_id)
            for entry in entries:
                key, status = entry.get("TagKey", ""), entry.get("Status")
                if status not in ("Active", "Inactive"):
                    raise _invalid(f"Status of {key!r} must be Active or Inactive.")
                if not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
                    errors.append({"Code": "TagKeysNotFound", "Message": "Invalid tag key.", "TagKey": key})
                    continue
                tags[key] = {"Status": status, "LastUpdatedDate": now}
        return {"Errors": errors}

    @handler("ListCostAllocationTags", expand=False)
    def list_cost_allocation_tags(self, context: RequestContext, request: dict) -> dict:
        account = context.account_id
        if request.get("Type") == "AWSGenerated":
            return {"CostAllocationTags": []}
        with TAG_STATUS.lock:
            known = dict(TAG_STATUS.of(account))
        for key in _seen_tag_keys(account) - set(known):
            known[key] = {"Status": "Inactive"}
        wanted = request.get("TagKeys")
        items = []
        for key in sorted(known):
            if wanted and key not in wanted:
                continue
            if request.get("Status") and known[key]["Status"] != request["Status"]:
                continue
            item = {"TagKey": key, "Type": "UserDefined", "Status": known[key]["Status"]}
            if "LastUpdatedDate" in known[key]:
                item["LastUpdatedDate"] = known[key]["LastUpdatedDate"]
            items.append(item)
        return {"CostAllocationTags": items}

    @handler("GetDimensionValues", expand=False)
    def get_dimension_values(self, context: RequestContext, request: dict) -> dict:
        period = request.get("TimePeriod") or {}
        start = _parse_moment(period.get("Start", ""), "TimePeriod.Start")
        end = _parse_moment(period.get("End", ""), "TimePeriod.End")
        if end <= start:
            raise _invalid("TimePeriod.End must be after TimePeriod.Start.")
        key = request.get("Dimension") or ""
        search = (request.get("SearchString") or "").lower()
        active = TAG_STATUS.active(context.account_id)
        records = [r for r in USAGE.of(context.account_id) if start <= r.at < end]
        records = [r for r in records if _matches(r, request.get("Filter") or {}, active)]
        values = [v for v in sorted({_dimension(r, key) for r in records}) if search in v.lower()]
        return {
            "DimensionValues": [{"Value": v, "Attributes": {}} for v in values],
            "ReturnSize": len(values),
            "TotalSize": len(values),
        }

    @handler("GetCostAndUsage", expand=False)
    def get_cost_and_usage(self, context: RequestContext, request: dict) -> dict:
        period = request.get("TimePeriod") or {}
        start = _parse_moment(period.get("Start", ""), "TimePeriod.Start")
        end = _parse_moment(period.get("End", ""), "TimePeriod.End")
        if end <= start:
            raise _invalid("TimePeriod.End must be after TimePeriod.Start.")
        granularity = request.get("Granularity") or "MONTHLY"
        if granularity not in ("HOURLY", "DAILY", "MONTHLY"):
            raise _invalid("Granularity must be HOURLY, DAILY or MONTHLY.")
        metrics = request.get("Metrics") or []
        unknown = [m for m in metrics if m not in METRICS]
        if not metrics or unknown:
            raise _invalid(f"Metrics must name one or more of {', '.join(METRICS)}; unknown: {unknown}.")
        group_by = request.get("GroupBy") or []
        if len(group_by) > 2:
            raise _invalid("GroupBy takes at most two groups.")
        account = context.account_id
        active = TAG_STATUS.active(account)
        records = [r for r in USAGE.of(account) if _matches(r, request.get("Filter") or {}, active)]
        results = []
        date_only = granularity != "HOURLY"
        for lo, hi in _buckets(start, end, granularity):
            inside = [r for r in records if lo <= r.at < hi]
            bucket = {
                "TimePeriod": {
                    "Start": lo.date().isoformat() if date_only else _iso(lo),
                    "End": hi.date().isoformat() if date_only else _iso(hi),
                },
                "Estimated": hi > datetime.now(UTC) or lo.date() >= date.today(),
            }
            if group_by:
                groups: dict[tuple[str, ...], list[Served]] = {}
                for r in inside:
                    groups.setdefault(tuple(_group_key(r, g, active) for g in group_by), []).append(r)
                bucket["Total"] = {}
                bucket["Groups"] = [
                    {"Keys": list(keys), "Metrics": _metric_values(rs, metrics)}
                    for keys, rs in sorted(groups.items())
                ]
            else:
                bucket["Total"] = _metric_values(inside, metrics)
                bucket["Groups"] = []
            results.append(bucket)
        response = {"ResultsByTime": results, "DimensionValueAttributes": []}
        if group_by:
            response["GroupDefinitions"] = [{"Type": g["Type"], "Key": g["Key"]} for g in group_by]
        return response


@aws_provider(api="ce", name="tollgate")
def ce_tollgate() -> Service:
    return Service.for_provider(CostExplorerProvider())
