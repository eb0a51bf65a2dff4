"""The report as a text table (rich when installed and writing to a terminal), JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

from tollgate.report.build import Report
from tollgate.values import json_safe

NUMBER_COLUMNS = [
    ("requests", "requests"),
    ("inputTokens", "input tokens"),
    ("outputTokens", "output tokens"),
    ("costUsd", "Tollgate USD"),
    ("costExplorerUsd", "Cost Explorer USD"),
    ("driftUsd", "drift USD"),
    ("driftPercent", "drift %"),
]
BEDROCK_COLUMNS = [
    ("modelId", "model ID"),
    ("models", "routes"),
    ("inputTokens", "Tollgate in"),
    ("outputTokens", "Tollgate out"),
    ("bedrockInputTokens", "AWS/Bedrock in"),
    ("bedrockOutputTokens", "AWS/Bedrock out"),
    ("driftTokens", "drift tokens"),
]


def columns(report: Report) -> list[tuple[str, str]]:
    cols = [(k, k) for k in report.by] + NUMBER_COLUMNS
    if report.bill_source == "cur":  # the bill's column, read from the CUR 2.0 export
        cols = [(k, "CUR USD") if k == "costExplorerUsd" else (k, label) for k, label in cols]
    if not report.cost_explorer:
        cols = [c for c in cols if c[0] not in ("costExplorerUsd", "driftUsd", "driftPercent")]
    return cols


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    return str(value) if value != "" else "(none)"


def as_json(report: Report) -> str:
    return json.dumps(json_safe(report.as_dict()), indent=2)


def as_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    cols = columns(report)
    writer.writerow([k for k, _ in cols])
    for row in report.rows:
        writer.writerow(["" if row.get(k) is None else cell(row.get(k)) for k, _ in cols])
    return out.getvalue()


def plain_table(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> str:
    body = [[cell(r.get(k)) for k, _ in cols] for r in rows]
    widths = [max([len(h), *(len(b[i]) for b in body)]) for i, (_, h) in enumerate(cols)]
    lines = ["  ".join(h.ljust(w) for (_, h), w in zip(cols, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(lines)


def as_text(report: Report, *, rich: bool = False) -> str:
    """Both tables and the notes; with rich=True (a terminal with rich installed) as rich tables."""
    title = (
        f"Bedrock spend by {', '.join(report.by)}, {report.period.since} to {report.period.until} (exclusive)"
    )
    totals = {**report.totals, **{k: "total" for k in report.by[:1]}}
    sections = [
        (title, [*report.rows, totals], columns(report)),
        ("Tokens per model ID: Tollgate against AWS/Bedrock", report.bedrock, BEDROCK_COLUMNS),
    ]
    if rich:
        try:
            return _rich(sections, report.notes)
        except ImportError:
            pass
    parts = [f"{t}\n{plain_table(rows, cols)}" for t, rows, cols in sections]
    parts += [f"note: {n}" for n in report.notes]
    return "\n\n".join(parts)


def _rich(sections: list, notes: list[str]) -> str:
    from rich.console import Console
    from rich.table import Table

    console = Console(record=True, width=160)
    for title, rows, cols in sections:
        table = Table(title=title)
        for key, heading in cols:
            table.add_column(heading, justify="left" if key in ("modelId", "models") or not rows else "right")
        for r in rows:
            table.add_row(*(cell(r.get(k)) for k, _ in cols))
        console.print(table)
    for n in notes:
        console.print(f"note: {n}")
    return console.export_text()
