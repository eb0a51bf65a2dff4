"""The report as one self-contained HTML page: plotly's JavaScript is inlined (no CDN), with
the charts a finance reader wants: spend per cost center over time against its budget and USD
limits, the top applications, tokens by model; and the report's tables."""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from tollgate.report.build import Report
from tollgate.report.render import BEDROCK_COLUMNS, cell, columns
from tollgate.report.sources import days

TOP_APPLICATIONS = 10


def _table(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell(r.get(k)))}</td>" for k, _ in cols) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def spend_figure(report: Report, go: Any) -> Any:
    """Cumulative spend per cost center by day, with its monthly budget and USD limits as lines."""
    per_cc: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for d in report.daily:
        per_cc[d["costCenter"]][date.fromisoformat(d["date"])] = d["costUsd"]
    axis = days(report.period.since, report.period.until)
    fig = go.Figure()
    for cc in sorted(per_cc):
        running, ys = Decimal(0), []
        for day in axis:
            running += per_cc[cc].get(day, Decimal(0))
            ys.append(float(running))
        fig.add_trace(
            go.Scatter(x=[d.isoformat() for d in axis], y=ys, mode="lines+markers", name=f"{cc} spend")
        )
    ends = [axis[0].isoformat(), axis[-1].isoformat()]
    for b in report.budgets:
        if b["tagKey"] == "costCenter":
            fig.add_trace(
                go.Scatter(
                    x=ends,
                    y=[float(b["amountUsd"])] * 2,
                    mode="lines",
                    line={"dash": "dash"},
                    name=f"{b['tagValue']} budget (monthly)",
                )
            )
    # A monthly limit compares with cumulative spend in a month; shorter windows do not.
    for lim in report.limits:
        if lim["tagKey"] == "costCenter" and lim["window"] == "month":
            mode = "" if lim["enforce"] else ", shadow"
            fig.add_trace(
                go.Scatter(
                    x=ends,
                    y=[float(lim["limitUsd"])] * 2,
                    mode="lines",
                    line={"dash": "dot"},
                    name=f"{lim['tagValue']} limit (per {lim['window']}{mode})",
                )
            )
    fig.update_layout(
        title="Spend per cost center (cumulative USD) against budget and limits",
        xaxis_title="day (UTC)",
        yaxis_title="USD",
    )
    return fig


def applications_figure(report: Report, go: Any) -> Any:
    top = sorted(report.applications.items(), key=lambda kv: kv[1], reverse=True)[:TOP_APPLICATIONS]
    fig = go.Figure(
        go.Bar(x=[float(v) for _, v in top][::-1], y=[a for a, _ in top][::-1], orientation="h", name="USD")
    )
    fig.update_layout(title=f"Top {TOP_APPLICATIONS} applications by spend (USD)", xaxis_title="USD")
    return fig


def tokens_figure(report: Report, go: Any) -> Any:
    names = sorted(report.model_tokens)
    fig = go.Figure(
        [
            go.Bar(
                x=names, y=[float(report.model_tokens[n]["inputTokens"]) for n in names], name="input tokens"
            ),
            go.Bar(
                x=names,
                y=[float(report.model_tokens[n]["outputTokens"]) for n in names],
                name="output tokens",
            ),
        ]
    )
    fig.update_layout(barmode="stack", title="Tokens by model route", yaxis_title="tokens")
    return fig


def as_html(report: Report) -> str:
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs

    figures = [spend_figure(report, go), applications_figure(report, go), tokens_figure(report, go)]
    config = {"displaylogo": False}
    charts = "\n".join(
        '<section class="chart">'
        + f.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{i}", config=config)
        + "</section>"
        for i, f in enumerate(figures)
    )
    title = f"Tollgate report {report.period.since} to {report.period.until}"
    bill_name = "the CUR 2.0 export" if report.bill_source == "cur" else "Cost Explorer"
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    totals = {**report.totals, **{k: "total" for k in report.by[:1]}}
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th {{ background: #f3f3f3; }}
</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head>
<body>
<h1>{html.escape(title)} (UTC, end exclusive)</h1>
<p>Spend by {html.escape(", ".join(report.by))}: Tollgate's metrics
(namespace {html.escape(report.namespace)}) beside {bill_name}, grouped by the cost allocation tags.</p>
{_table([*report.rows, totals], columns(report))}
{charts}
<h2>Tokens per model ID: Tollgate against AWS/Bedrock</h2>
{_table(report.bedrock, BEDROCK_COLUMNS)}
<ul>{notes}</ul>
</body>
</html>
"""
