"""The report: Tollgate's figures per group, the bill's (Cost Explorer) and AWS/Bedrock's
token counts beside them, and the drift."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tollgate.report import sources

LOG = logging.getLogger("tollgate.report")

# --by key -> Tollgate's metric dimension. Every key but model is also a cost allocation tag.
BY_KEYS = {
    "costCenter": "CostCenter",
    "applicationId": "Application",
    "environment": "Environment",
    "model": "Model",
}
TAG_KEYS = ("costCenter", "applicationId", "environment")
# Only the CUR 2.0 export knows who called Bedrock; Tollgate's metrics do not (every call it
# makes is its invoke role's).
PRINCIPAL_KEY = "iamPrincipal"
BillReader = Callable[[list[str], date, date], dict[tuple[str, ...], dict[date, Decimal]]]
USD_PLACES = Decimal("1e-10")


@dataclass(frozen=True)
class Period:
    since: date
    until: date  # exclusive

    @classmethod
    def parse(cls, since: str | None, until: str | None, today: date | None = None) -> Period:
        """Default: this month so far (until = tomorrow, UTC)."""
        today = today or datetime.now(UTC).date()
        try:
            start = date.fromisoformat(since) if since else today.replace(day=1)
            end = date.fromisoformat(until) if until else today + timedelta(days=1)
        except ValueError as e:
            raise ValueError(f"--since/--until must be dates like 2026-11-01: {e}") from None
        if end <= start:
            raise ValueError(f"--until ({end}) must be after --since ({start}); --until is exclusive")
        if (end - start).days > 366:
            raise ValueError(
                "the period may be at most 366 days (Cost Explorer and CloudWatch keep daily data that long)"
            )
        return cls(start, end)


@dataclass
class Report:
    period: Period
    by: list[str]
    namespace: str
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    bedrock: list[dict[str, Any]]
    daily: list[dict[str, Any]]
    budgets: list[dict[str, Any]] = field(default_factory=list)
    limits: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cost_explorer: bool = False
    bill_source: str = "cost-explorer"  # where costExplorerUsd comes from: cost-explorer or cur
    applications: dict[str, Decimal] = field(default_factory=dict)  # spend per applicationId
    model_tokens: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # route -> in/out tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": {"since": self.period.since.isoformat(), "until": self.period.until.isoformat()},
            "by": self.by,
            "namespace": self.namespace,
            "costExplorer": self.cost_explorer,
            "billSource": self.bill_source,
            "rows": self.rows,
            "totals": self.totals,
            "bedrock": self.bedrock,
            "daily": self.daily,
            "budgets": self.budgets,
            "limits": self.limits,
            "notes": self.notes,
            "applications": self.applications,
            "modelTokens": self.model_tokens,
        }


def _usd(value: Decimal) -> Decimal:
    return value.quantize(USD_PLACES).normalize() if value else Decimal(0)


def _drift(ours: Decimal, theirs: Decimal | None) -> tuple[Decimal | None, Decimal | None]:
    """(theirs - ours, as % of theirs)."""
    if theirs is None:
        return None, None
    diff = _usd(theirs - ours)
    percent = (diff / theirs * 100).quantize(Decimal("0.01")) if theirs else None
    return diff, percent


def build_report(
    client: Callable[[str], Any],
    *,
    by: list[str],
    period: Period,
    namespace: str,
    table: str | None = None,
    cost_explorer: bool = True,
    services: list[str] | None = None,
    bill: BillReader | None = None,
) -> Report:
    """``client(service)`` returns a boto3 client (cloudwatch, ce, budgets, sts, dynamodb).
    ``bill``, when given, reads the bill instead of Cost Explorer (the CUR 2.0 export)."""
    allowed = [*BY_KEYS, PRINCIPAL_KEY] if bill else list(BY_KEYS)
    unknown = [k for k in by if k not in allowed]
    if not by or unknown or len(set(by)) != len(by):
        raise ValueError(
            f"--by takes distinct keys among {', '.join(allowed)}; got {', '.join(by) or 'none'}"
            + ("; iamPrincipal needs --source cur" if PRINCIPAL_KEY in unknown else "")
        )
    notes: list[str] = []
    cw = client("cloudwatch")

    series = sources.tollgate_daily(
        cw, namespace, sources.tollgate_series(cw, namespace), period.since, period.until
    )
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    daily: dict[tuple[str, date], Decimal] = {}
    per_model_id: dict[str, dict[str, Any]] = {}
    applications: dict[str, Decimal] = {}
    model_tokens: dict[str, dict[str, Decimal]] = {}
    if PRINCIPAL_KEY in by:
        notes.append(
            "Tollgate's metrics carry no caller identity: its figures stand under the principal "
            "'(Tollgate)', the bill's under each IAM principal that called Bedrock."
        )
    for dims, sums in series:
        key = tuple("(Tollgate)" if k == PRINCIPAL_KEY else dims[BY_KEYS[k]] for k in by)
        row = rows.setdefault(key, _empty_row(by, key))
        totals = {name: sum(days.values(), Decimal(0)) for name, days in sums.items()}
        row["requests"] += totals["TotalRequests"]
        row["inputTokens"] += totals["InputTokens"]
        row["outputTokens"] += totals["OutputTokens"]
        row["costUsd"] += totals["EstimatedCostUSD"]
        for day, value in sums["EstimatedCostUSD"].items():
            daily[(dims["CostCenter"], day)] = daily.get((dims["CostCenter"], day), Decimal(0)) + value
        m = per_model_id.setdefault(
            dims["ModelId"],
            {
                "modelId": dims["ModelId"],
                "models": set(),
                "inputTokens": Decimal(0),
                "outputTokens": Decimal(0),
            },
        )
        applications[dims["Application"]] = (
            applications.get(dims["Application"], Decimal(0)) + totals["EstimatedCostUSD"]
        )
        tokens = model_tokens.setdefault(
            dims["Model"], {"inputTokens": Decimal(0), "outputTokens": Decimal(0)}
        )
        tokens["inputTokens"] += totals["InputTokens"]
        tokens["outputTokens"] += totals["OutputTokens"]
        m["models"].add(dims["Model"])
        m["inputTokens"] += totals["InputTokens"]
        m["outputTokens"] += totals["OutputTokens"]

    # --- the bill, grouped by the cost allocation tags --------------------------------------
    ce_groups: dict[tuple[str, ...], dict[date, Decimal]] | None = None
    if bill is not None and "model" in by:
        notes.append("The CUR export cannot group by Tollgate's model route: its column is left empty.")
    elif bill is not None:
        ce_groups = bill(list(by), period.since, period.until)
    elif cost_explorer and "model" in by:
        notes.append("Cost Explorer cannot group by Tollgate's model route: its column is left empty.")
    elif cost_explorer and len(by) > 2:
        notes.append("Cost Explorer groups by at most two tags: its column is left empty.")
    elif cost_explorer:
        try:
            ce = client("ce")
            # Default: Amazon Bedrock and the Marketplace names Claude bills under.
            services = services or sources.bedrock_services(ce, period.since, period.until)
            ce_groups = sources.cost_explorer_daily(ce, by, period.since, period.until, services)
        except (BotoCoreError, ClientError) as e:
            notes.append(f"Cost Explorer was not read: {e}")
    if ce_groups is not None:
        for key, days in ce_groups.items():
            row = rows.setdefault(key, _empty_row(by, key))
            row["costExplorerUsd"] = sum(days.values(), Decimal(0))
        for row in rows.values():
            row.setdefault("costExplorerUsd", Decimal(0))
        if any(k == ("",) * len(by) for k in ce_groups) and PRINCIPAL_KEY not in by:
            notes.append(
                "Cost Explorer's empty group is spend without the tag (or before the tag was activated): "
                "calls not made through an application inference profile carry no tags."
            )

    out_rows = []
    for key in sorted(rows):
        row = rows[key]
        row["totalTokens"] = row["inputTokens"] + row["outputTokens"]
        row["costUsd"] = _usd(row["costUsd"])
        if ce_groups is not None:
            row["costExplorerUsd"] = _usd(row["costExplorerUsd"])
            row["driftUsd"], row["driftPercent"] = _drift(row["costUsd"], row["costExplorerUsd"])
        out_rows.append(row)
    totals = {
        name: sum((r[name] for r in out_rows), Decimal(0))
        for name in ("requests", "inputTokens", "outputTokens", "totalTokens", "costUsd")
    }
    totals["costUsd"] = _usd(totals["costUsd"])
    if ce_groups is not None:
        totals["costExplorerUsd"] = _usd(sum((r["costExplorerUsd"] for r in out_rows), Decimal(0)))
        totals["driftUsd"], totals["driftPercent"] = _drift(totals["costUsd"], totals["costExplorerUsd"])

    # --- AWS/Bedrock's own token counts per model ID (foundation model or profile) -----------
    bedrock_rows = []
    try:
        theirs = sources.bedrock_totals(cw, per_model_id, period.since, period.until)
    except (BotoCoreError, ClientError) as e:
        notes.append(f"AWS/Bedrock metrics were not read: {e}")
        theirs = {}
    for model_id in sorted(per_model_id):
        m = per_model_id[model_id]
        b = theirs.get(model_id, {})
        bedrock_in, bedrock_out = b.get("InputTokenCount", Decimal(0)), b.get("OutputTokenCount", Decimal(0))
        bedrock_rows.append(
            {
                "modelId": model_id,
                "models": sorted(m["models"]),
                "inputTokens": m["inputTokens"],
                "outputTokens": m["outputTokens"],
                "bedrockInvocations": b.get("Invocations", Decimal(0)),
                "bedrockInputTokens": bedrock_in,
                "bedrockOutputTokens": bedrock_out,
                "driftTokens": bedrock_in + bedrock_out - m["inputTokens"] - m["outputTokens"],
            }
        )

    budgets, limits = _budgets_and_limits(client, table, notes)
    return Report(
        period=period,
        by=list(by),
        namespace=namespace,
        rows=out_rows,
        totals=totals,
        bedrock=bedrock_rows,
        daily=[
            {"date": day.isoformat(), "costCenter": cc, "costUsd": _usd(v)}
            for (cc, day), v in sorted(daily.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ],
        budgets=budgets,
        limits=limits,
        notes=notes,
        cost_explorer=ce_groups is not None,
        bill_source="cur" if bill is not None else "cost-explorer",
        applications={a: _usd(v) for a, v in sorted(applications.items())},
        model_tokens=dict(sorted(model_tokens.items())),
    )


def _empty_row(by: list[str], key: tuple[str, ...]) -> dict[str, Any]:
    row: dict[str, Any] = dict(zip(by, key, strict=True))
    row.update(requests=Decimal(0), inputTokens=Decimal(0), outputTokens=Decimal(0), costUsd=Decimal(0))
    return row


def _budgets_and_limits(
    client: Callable[[str], Any], table: str | None, notes: list[str]
) -> tuple[list, list]:
    budgets: list = []
    limits: list = []
    try:
        account = client("sts").get_caller_identity()["Account"]
        budgets = sources.budgets_by_tag(client("budgets"), account)
    except (BotoCoreError, ClientError) as e:
        notes.append(f"AWS Budgets were not read: {e}")
    if table:
        try:
            limits = sources.usd_limits(client("dynamodb"), table)
        except (BotoCoreError, ClientError) as e:
            notes.append(f"The limits table was not read: {e}")
    return budgets, limits
