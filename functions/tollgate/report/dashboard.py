"""The module's CloudWatch dashboard drawn locally: the body Terraform applied (GetDashboard), each
widget at its place in the console's 24-column grid, with the data it shows, on one
self-contained HTML page (plotly's JavaScript inlined, as in report/html.py).

What is drawn, and how its data is read:

- ``metric`` widgets, views ``timeSeries`` (lines, stacked where the widget says so, horizontal
  annotations as dashed lines), ``singleValue`` (numbers), ``bar`` and ``pie``:
  - metrics given as ``[namespace, name, dimension, value, ..., {options}]``: GetMetricData
    (MetricStat) with the widget's or the metric's stat and period;
  - Metrics Insights ``SELECT fn(metric) FROM SCHEMA("ns", dims...) [GROUP BY ...] [ORDER BY fn()
    ASC|DESC] [LIMIT n]``: evaluated here from ListMetrics (the series whose dimension names are
    exactly the schema's) and GetMetricData of each;
  - metric math ``RUNNING_SUM(id)`` and a bare ``id``: evaluated here on the series of ``id``.
  LocalStack's GetMetricData takes MetricStat queries only (no expressions) and the statistics
  Sum, Average, Minimum, Maximum and SampleCount (no percentiles), which is why expressions are
  evaluated here; a metric that GetMetricData refuses (``p99`` on LocalStack) is left out of its
  chart with the service's message beside it.
- ``text`` widgets: their markdown (headings, paragraphs, inline code).
- ``log`` widgets whose Logs Insights query uses only ``SOURCE``, ``fields``, ``filter f = "v"``,
  ``stats count(*)/latest(f)/sum(f) [as name] by f...``, ``sort f asc|desc`` and ``limit n``:
  evaluated here from FilterLogEvents over the JSON log lines (LocalStack's StartQuery ignores
  filter and stats); a table.

Everything else (other widget types, other expressions and queries) is not drawn: the widget
keeps its place, its title and a note "not rendered locally: <reason>". A widget none of whose
lines can be computed is not drawn either, so an empty chart only ever means "no data in this
time range" (which it says), never a value this renderer could not compute.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

DEFAULT_PERIOD = 300
MAX_QUERIES = 500  # GetMetricData's limit per call
ROW_PX = 50  # height of one grid row on the page (the console's is about the same)
NOT_RENDERED = "not rendered locally"
NO_DATA = "no data in this time range"  # the console: "No data available."
STATS = {"SUM": "Sum", "AVG": "Average", "MIN": "Minimum", "MAX": "Maximum", "COUNT": "SampleCount"}


class DashboardError(ValueError):
    """A dashboard body this renderer cannot read; the message names the field."""


# --- the body ---------------------------------------------------------------------------------


@dataclass
class Widget:
    index: int
    type: str
    x: int
    y: int
    width: int
    height: int
    properties: dict[str, Any]

    @property
    def title(self) -> str:
        return str(self.properties.get("title") or "")


def widgets(body: dict[str, Any]) -> list[Widget]:
    """The body's widgets in reading order (top to bottom, left to right)."""
    raw = body.get("widgets") if isinstance(body, dict) else None
    if not isinstance(raw, list):
        raise DashboardError("widgets: the dashboard body must hold a list of widgets")
    out = []
    for i, w in enumerate(raw):
        if not isinstance(w, dict) or not isinstance(w.get("type"), str):
            raise DashboardError(f"widgets[{i}].type: every widget needs a type")
        props = w.get("properties", {})
        if not isinstance(props, dict):
            raise DashboardError(f"widgets[{i}].properties must be an object")
        place = {}
        for key, default in (("x", 0), ("y", 0), ("width", 6), ("height", 6)):
            value = w.get(key, default)
            if not isinstance(value, int) or value < 0:
                raise DashboardError(f"widgets[{i}].{key} must be a whole number >= 0, not {value!r}")
            place[key] = value
        out.append(Widget(index=i, type=w["type"], properties=props, **place))
    return sorted(out, key=lambda w: (w.y, w.x, w.index))


def load_body(cloudwatch: Any, name: str) -> dict[str, Any]:
    """The dashboard's body as CloudWatch holds it (what Terraform applied)."""
    answer = cloudwatch.get_dashboard(DashboardName=name)
    try:
        body = json.loads(answer.get("DashboardBody") or "")
    except json.JSONDecodeError as e:
        raise DashboardError(f"DashboardBody of {name} is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise DashboardError(f"DashboardBody of {name} must be a JSON object")
    return body


# --- what a metric widget asks for ------------------------------------------------------------


@dataclass
class Entry:
    """One line of a metric widget's ``metrics``: a metric, or an expression."""

    id: str
    label: str | None
    visible: bool
    stat: str
    period: int
    metric: dict[str, Any] | None = None  # {Namespace, MetricName, Dimensions}
    expression: str | None = None


def entries(widget: Widget) -> list[Entry]:
    props = widget.properties
    lines = props.get("metrics", [])
    where = f"widgets[{widget.index}].properties.metrics"
    if not isinstance(lines, list):
        raise DashboardError(f"{where} must be a list")
    stat = str(props.get("stat", "Average"))
    period = props.get("period", DEFAULT_PERIOD)
    out: list[Entry] = []
    previous: list[Any] = []
    for i, line in enumerate(lines):
        if not isinstance(line, list) or not line:
            raise DashboardError(f"{where}[{i}] must be a non-empty list")
        options = line[-1] if isinstance(line[-1], dict) else {}
        parts = line[:-1] if options else list(line)
        common = Entry(
            id=str(options.get("id") or f"m{i}"),
            label=options.get("label"),
            visible=options.get("visible", True) is not False,
            stat=str(options.get("stat", stat)),
            period=int(options.get("period", period)),
        )
        if "expression" in options:
            common.expression = str(options["expression"])
            out.append(common)
            continue
        # the console's shorthand: "..." repeats the rest of the line above, "." one field of it
        if parts and parts[-1] == "...":
            parts = parts[:-1] + previous[len(parts) - 1 :]
        parts = [previous[j] if p == "." and j < len(previous) else p for j, p in enumerate(parts)]
        if len(parts) < 2 or len(parts) % 2 or not all(isinstance(p, str) for p in parts):
            raise DashboardError(
                f"{where}[{i}] must be [namespace, metric name, dimension name, value, ..., {{options}}]"
            )
        previous = parts
        dims = [{"Name": parts[j], "Value": parts[j + 1]} for j in range(2, len(parts), 2)]
        metric = {"Namespace": parts[0], "MetricName": parts[1], "Dimensions": dims}
        common.metric = metric
        out.append(common)
    return out


# --- reading the data -------------------------------------------------------------------------


@dataclass
class Series:
    label: str
    timestamps: list[datetime]
    values: list[float]
    id: str = ""
    visible: bool = True


@dataclass
class Panel:
    """A widget with what it shows: series (charts), numbers, rows (tables) or markdown."""

    widget: Widget
    drawn: bool
    series: list[Series] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def view(self) -> str:
        if self.widget.type == "metric":
            return str(self.widget.properties.get("view", "timeSeries"))
        return self.widget.type

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.widget.title,
            "type": self.widget.type,
            "view": self.view,
            "drawn": self.drawn,
            "series": [
                {"label": s.label, "points": len(s.values), "total": sum(s.values)}
                for s in self.series
                if s.visible
            ],
            "rows": len(self.rows),
            "notes": self.notes,
        }


def _get_metric_data(
    cloudwatch: Any, queries: list[dict[str, Any]], start: datetime, end: datetime
) -> dict[str, Series]:
    out: dict[str, Series] = {}
    for i in range(0, len(queries), MAX_QUERIES):
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries[i : i + MAX_QUERIES],
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        while True:
            page = cloudwatch.get_metric_data(**kwargs)
            for result in page.get("MetricDataResults", []):
                s = out.setdefault(
                    result["Id"], Series(label=result.get("Label", ""), timestamps=[], values=[])
                )
                pairs = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
                for stamp, value in pairs:
                    s.timestamps.append(stamp.astimezone(UTC))
                    s.values.append(float(value))
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    for s in out.values():
        ordered = sorted(zip(s.timestamps, s.values, strict=True))
        s.timestamps, s.values = [t for t, _ in ordered], [v for _, v in ordered]
    return out


def read_metrics(
    cloudwatch: Any, stats: list[tuple[str, dict[str, Any], str, int]], start: datetime, end: datetime
) -> tuple[dict[str, Series], dict[str, str]]:
    """(id, metric, stat, period) -> series by id; a refused query is retried alone, and what the
    service said about one that still fails is returned by id."""
    queries: list[dict[str, Any]] = [
        {"Id": i, "MetricStat": {"Metric": m, "Period": p, "Stat": s}, "ReturnData": True}
        for i, m, s, p in stats
    ]
    if not queries:
        return {}, {}
    try:
        return _get_metric_data(cloudwatch, queries, start, end), {}
    except (ClientError, BotoCoreError):
        pass
    found: dict[str, Series] = {}
    refused: dict[str, str] = {}
    for q in queries:
        try:
            found.update(_get_metric_data(cloudwatch, [q], start, end))
        except (ClientError, BotoCoreError) as e:
            refused[str(q["Id"])] = f"GetMetricData refused {q['MetricStat']['Stat']}: {e}"
    return found, refused


INSIGHTS = re.compile(
    r"^\s*SELECT\s+(?P<fn>AVG|SUM|MIN|MAX|COUNT)\((?P<metric>\w+)\)\s+"
    r'FROM\s+SCHEMA\(\s*(?P<ns>"[^"]+"|[\w/.:#-]+)(?P<dims>(?:\s*,\s*\w+)*)\s*\)'
    r"(?:\s+GROUP\s+BY\s+(?P<group>\w+(?:\s*,\s*\w+)*))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>AVG|SUM|MIN|MAX|COUNT)\(\)\s*(?P<direction>ASC|DESC)?)?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE,
)
MATH = re.compile(r"^\s*(?:(?P<fn>RUNNING_SUM)\(\s*(?P<arg>\w+)\s*\)|(?P<ref>\w+))\s*$", re.IGNORECASE)


def _combine(fn: str, values: Iterable[float]) -> float:
    vs = list(values)
    if fn in ("SUM", "COUNT"):
        return sum(vs)
    if fn == "MIN":
        return min(vs)
    if fn == "MAX":
        return max(vs)
    return sum(vs) / len(vs)


def _list_metrics(cloudwatch: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = []
    for page in cloudwatch.get_paginator("list_metrics").paginate(Namespace=namespace, MetricName=name):
        listed += page.get("Metrics", [])
    return listed


def insights(
    cloudwatch: Any, match: re.Match[str], period: int, start: datetime, end: datetime
) -> tuple[list[Series], list[str]]:
    """A Metrics Insights query over SCHEMA(...) evaluated from the series it covers."""
    fn = match["fn"].upper()
    namespace = match["ns"].strip('"')
    schema = {d.strip() for d in match["dims"].split(",") if d.strip()}
    group = [g.strip() for g in (match["group"] or "").split(",") if g.strip()]
    if not set(group) <= schema:
        return [], [f"GROUP BY {', '.join(group)} names a dimension outside SCHEMA(...)"]
    listed = [
        m
        for m in _list_metrics(cloudwatch, namespace, match["metric"])
        if {d["Name"] for d in m.get("Dimensions", [])} == schema
    ]
    stats = [
        (f"s{i}", {**m, "Dimensions": m.get("Dimensions", [])}, STATS[fn], period)
        for i, m in enumerate(listed)
    ]
    found, refused = read_metrics(cloudwatch, stats, start, end)
    groups: dict[tuple[str, ...], dict[datetime, list[float]]] = defaultdict(lambda: defaultdict(list))
    for sid, metric, _, _ in stats:
        dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        key = tuple(dims[g] for g in group)
        s = found.get(sid)
        for t, v in zip(s.timestamps if s else [], s.values if s else [], strict=True):
            groups[key][t].append(v)
    out = []
    for key, points in groups.items():
        stamps = sorted(points)
        out.append(
            Series(
                label=" ".join(key) or f"{fn}({match['metric']})",
                timestamps=stamps,
                values=[_combine(fn, points[t]) for t in stamps],
            )
        )
    order = (match["order"] or "").upper()
    if order:
        out.sort(key=lambda s: _combine(order, s.values) if s.values else -math.inf)
        if (match["direction"] or "DESC").upper() == "DESC":
            out.reverse()
    if match["limit"]:
        out = out[: int(match["limit"])]
    return out, sorted(set(refused.values()))


def _period(widget: Widget, entry: Entry, start: datetime, end: datetime) -> int:
    if widget.properties.get("setPeriodToTimeRange"):
        return max(60, math.ceil((end - start).total_seconds() / 60) * 60)
    return entry.period


def metric_panel(cloudwatch: Any, widget: Widget, start: datetime, end: datetime) -> Panel:
    """A metric widget with its series. A line that cannot be computed here (a statistic the
    service refuses, an expression outside the evaluated subset) is left out of the chart with
    the reason in a note; a widget none of whose lines can be computed is not drawn at all, so
    an empty chart always means "no data", never "not computed"."""
    panel = Panel(widget=widget, drawn=True)
    lines = entries(widget)
    stats = [(e.id, e.metric, e.stat, _period(widget, e, start, end)) for e in lines if e.metric is not None]
    found, refused = read_metrics(cloudwatch, stats, start, end)
    by_id: dict[str, list[Series]] = {}
    for e in lines:
        if e.metric is None:
            continue
        if e.id in refused:
            panel.notes.append(f"{NOT_RENDERED}: {_label(e)}: {refused[e.id]}")
            continue
        s = found.get(e.id) or Series(label="", timestamps=[], values=[])
        by_id[e.id] = [Series(_label(e), s.timestamps, s.values, e.id, e.visible)]
    for e in lines:
        if e.expression is None:
            continue
        if m := INSIGHTS.match(e.expression):
            series, failures = insights(cloudwatch, m, _period(widget, e, start, end), start, end)
            panel.notes += [f"{NOT_RENDERED}: {f}" for f in failures]
            if failures and not series:
                continue
            if e.label:
                for s in series:
                    s.label = f"{e.label} {s.label}"
        elif (m := MATH.match(e.expression)) and (m["arg"] or m["ref"]) in by_id:
            series = []
            for s in by_id[m["arg"] or m["ref"]]:
                values = s.values
                if m["fn"]:
                    running = 0.0
                    values = [running := running + v for v in values]
                series.append(Series(e.label or s.label, s.timestamps, values))
        elif m:
            panel.notes.append(
                f"{NOT_RENDERED}: {e.expression}: it reads {m['arg'] or m['ref']}, not computed"
            )
            continue
        else:
            panel.notes.append(
                f"{NOT_RENDERED}: {e.expression}: only Metrics Insights fn(metric) over SCHEMA(...), "
                "RUNNING_SUM(id) and a bare id are computed from the raw series here"
            )
            continue
        for s in series:
            s.id, s.visible = e.id, e.visible
        by_id[e.id] = series
    panel.series = [s for e in lines for s in by_id.get(e.id, [])]
    panel.drawn = any(e.visible for e in lines if e.id in by_id)
    if panel.drawn and not any(s.values for s in panel.series if s.visible):
        panel.notes.append(NO_DATA)
    return panel


def _label(e: Entry) -> str:
    if e.label:
        return e.label
    if e.metric is None:
        return e.id
    dims = " ".join(d["Value"] for d in e.metric["Dimensions"])
    return f"{e.metric['MetricName']} {dims}".strip()


# --- log widgets ------------------------------------------------------------------------------

LOG_STAT = re.compile(
    r"^(?P<fn>count|latest|sum|min|max)\((?P<arg>[^)]*)\)(?:\s+as\s+(?P<name>[\w@.]+))?$", re.I
)


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quotes."""
    parts, current, quote = [], "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == sep:
            parts.append(current.strip())
            current = ""
            continue
        current += ch
    parts.append(current.strip())
    return parts


@dataclass
class LogQuery:
    groups: list[str]
    filters: list[tuple[str, str]]
    stats: list[tuple[str, str, str]]  # (function, argument, column name)
    by: list[str]
    fields: list[str]
    sort: tuple[str, bool] | None  # (column, descending)
    limit: int


def parse_log_query(query: str) -> LogQuery:
    """The subset of Logs Insights the module's log widgets use; DashboardError for anything else."""
    commands = _split(query, "|")
    source = re.fullmatch(r"SOURCE\s+(.+)", commands[0], re.I)
    if not source:
        raise DashboardError("query must start with SOURCE 'log group'")
    groups = [g.strip().strip("'\"") for g in _split(source[1], ",")]
    q = LogQuery(groups, [], [], [], [], None, 10000)
    for command in commands[1:]:
        word, _, rest = command.partition(" ")
        rest = rest.strip()
        match word.lower():
            case "fields":
                q.fields = _split(rest, ",")
            case "filter":
                f = re.fullmatch(r"([\w@.]+)\s*=\s*[\"']([^\"']*)[\"']", rest)
                if not f:
                    raise DashboardError(f'filter {rest!r}: only field = "value" is evaluated here')
                q.filters.append((f[1], f[2]))
            case "stats":
                aggregates, by = ([*re.split(r"\s+by\s+", rest, maxsplit=1, flags=re.I), ""])[:2]
                for a in _split(aggregates, ","):
                    s = LOG_STAT.fullmatch(a)
                    if not s:
                        raise DashboardError(f"stats {a!r}: only count, latest, sum, min and max")
                    q.stats.append((s["fn"].lower(), s["arg"].strip(), s["name"] or a))
                q.by = [b for b in _split(by, ",") if b]
            case "sort":
                s = re.fullmatch(r"([\w@.]+)(?:\s+(asc|desc))?", rest, re.I)
                if not s:
                    raise DashboardError(f"sort {rest!r}: one field, asc or desc")
                q.sort = (s[1], (s[2] or "desc").lower() == "desc")
            case "limit":
                q.limit = int(rest)
            case _:
                raise DashboardError(f"{word}: not evaluated here")
    return q


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _records(logs: Any, group: str, start: datetime, end: datetime) -> Iterable[dict[str, Any]]:
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, startTime=int(start.timestamp() * 1000), endTime=int(end.timestamp() * 1000)
    )
    for page in pages:
        for event in page.get("events", []):
            text = event.get("message", "").strip()
            try:
                record = json.loads(text) if text.startswith("{") else {}
            except json.JSONDecodeError:
                record = {}
            yield {**record, "@timestamp": _stamp(event.get("timestamp", 0)), "@message": text}


def _value(v: Any) -> str:
    return "" if v is None else v if isinstance(v, str) else json.dumps(v)


def run_log_query(
    logs: Any, q: LogQuery, start: datetime, end: datetime
) -> tuple[list[str], list[dict[str, str]]]:
    matched = [
        r
        for g in q.groups
        for r in _records(logs, g, start, end)
        if all(_value(r.get(k)) == v for k, v in q.filters)
    ]
    if q.stats:
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for r in matched:
            groups[tuple(_value(r.get(b)) for b in q.by)].append(r)
        columns = [*q.by, *(name for _, _, name in q.stats)]
        rows = []
        for key, records in groups.items():
            row = dict(zip(q.by, key, strict=True))
            for fn, arg, name in q.stats:
                row[name] = _log_aggregate(fn, arg, records)
            rows.append(row)
    else:
        columns = q.fields or ["@timestamp", "@message"]
        rows = [{c: _value(r.get(c)) for c in columns} for r in matched]
    if q.sort:
        col, desc = q.sort

        def order(row: dict[str, str]) -> tuple[int, float, str]:
            v = row.get(col, "")
            try:
                return (0, float(v), "")
            except ValueError:
                return (1, 0.0, v)

        rows.sort(key=order, reverse=desc)
    return columns, rows[: q.limit]


def _log_aggregate(fn: str, arg: str, records: list[dict[str, Any]]) -> str:
    if fn == "count":
        n = len(records) if arg in ("*", "") else sum(1 for r in records if r.get(arg) is not None)
        return str(n)
    if fn == "latest":
        newest = max(records, key=lambda r: str(r["@timestamp"]))
        return _value(newest.get(arg))
    numbers = [float(r[arg]) for r in records if isinstance(r.get(arg), int | float)]
    if not numbers:
        return ""
    if fn == "sum":
        return repr(sum(numbers))
    return repr(min(numbers) if fn == "min" else max(numbers))


def log_panel(logs: Any, widget: Widget, start: datetime, end: datetime) -> Panel:
    query = str(widget.properties.get("query", ""))
    try:
        q = parse_log_query(query)
    except DashboardError as e:
        return Panel(
            widget=widget,
            drawn=False,
            notes=[f"{NOT_RENDERED}: Logs Insights query outside the evaluated subset ({e}): {query}"],
        )
    try:
        columns, rows = run_log_query(logs, q, start, end)
    except (ClientError, BotoCoreError) as e:
        return Panel(widget=widget, drawn=False, notes=[f"{NOT_RENDERED}: FilterLogEvents failed: {e}"])
    return Panel(widget=widget, drawn=True, columns=columns, rows=rows)


# --- the whole dashboard ----------------------------------------------------------------------


def panels(client: Callable[[str], Any], body: dict[str, Any], start: datetime, end: datetime) -> list[Panel]:
    """Every widget of ``body`` with its data over [start, end)."""
    out = []
    for w in widgets(body):
        if w.type == "metric":
            out.append(metric_panel(client("cloudwatch"), w, start, end))
        elif w.type == "text":
            out.append(Panel(widget=w, drawn=True))
        elif w.type == "log":
            out.append(log_panel(client("logs"), w, start, end))
        else:
            out.append(
                Panel(widget=w, drawn=False, notes=[f"{NOT_RENDERED}: {w.type} widgets are not drawn here"])
            )
    return out


def time_range(hours: float, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last ``hours`` (the console's default is 3), on whole minutes."""
    if hours <= 0:
        raise DashboardError(f"hours must be more than 0, not {hours}")
    end = (now or datetime.now(UTC)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return end - timedelta(hours=hours), end


# --- drawing ----------------------------------------------------------------------------------


def figure(panel: Panel, go: Any, span: tuple[datetime, datetime] | None = None) -> Any:
    """The plotly figure of a metric panel (timeSeries, bar or pie); a time series spans the
    dashboard's time range, as in the console, not just the points it has."""
    props = panel.widget.properties
    shown = [s for s in panel.series if s.visible]
    if panel.view == "pie":
        fig = go.Figure(go.Pie(labels=[s.label for s in shown], values=[sum(s.values) for s in shown]))
    elif panel.view == "bar":
        fig = go.Figure(go.Bar(x=[s.label for s in shown], y=[sum(s.values) for s in shown]))
    else:
        fig = go.Figure()
        stacked = bool(props.get("stacked"))
        for s in shown:
            fig.add_trace(
                go.Scatter(
                    x=[t.isoformat() for t in s.timestamps],
                    y=s.values,
                    name=s.label,
                    mode="lines+markers",
                    stackgroup="one" if stacked else None,
                )
            )
        if span:
            fig.update_xaxes(range=[span[0].isoformat(), span[1].isoformat()])
        for a in props.get("annotations", {}).get("horizontal", []):
            if isinstance(a, dict) and isinstance(a.get("value"), int | float):
                fig.add_hline(
                    y=a["value"],
                    line_dash="dash",
                    annotation_text=f"{a.get('label', '')} {a['value']}".strip(),
                    annotation_position="top left",
                )
    fig.update_layout(
        margin={"l": 50, "r": 10, "t": 10, "b": 30},
        legend={"orientation": "h", "y": -0.15},
        showlegend=True,
        autosize=True,
    )
    return fig


def _number(v: float) -> str:
    return f"{v:,.0f}" if v == int(v) and abs(v) < 1e15 else f"{v:,.6g}"


def markdown(text: str) -> str:
    """The markdown of text widgets: headings, paragraphs, inline code, **bold**, [links](...)."""
    out = []
    for block in re.split(r"\n\s*\n|\n(?=#)", text.strip()):
        for line in block.split("\n"):
            heading = re.match(r"^(#{1,6})\s+(.*)$", line)
            inner = html.escape(heading[2] if heading else line)
            inner = re.sub(r"`([^`]+)`", r"<code>\1</code>", inner)
            inner = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", inner)
            inner = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2">\1</a>', inner)
            if heading:
                level = min(6, len(heading[1]) + 1)
                out.append(f"<h{level}>{inner}</h{level}>")
            elif inner.strip():
                out.append(f"<p>{inner}</p>")
    return "\n".join(out)


def _content(panel: Panel, go: Any, config: dict[str, Any], span: tuple[datetime, datetime]) -> str:
    w = panel.widget
    if w.type == "text":
        return f'<div class="markdown">{markdown(str(w.properties.get("markdown", "")))}</div>'
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in panel.notes)
    notes_html = f'<ul class="notes">{notes}</ul>' if notes else ""
    if not panel.drawn:
        return f'<div class="summary"><p>Not rendered locally.</p>{notes_html}</div>'
    if w.type == "log":
        head = "".join(f"<th>{html.escape(c)}</th>" for c in panel.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(r.get(c, ''))}</td>" for c in panel.columns) + "</tr>"
            for r in panel.rows
        )
        empty = "" if panel.rows else '<p class="empty">No log lines matched in this time range.</p>'
        table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        return f'<div class="table">{table}{empty}</div>'
    if panel.view == "singleValue":
        tiles = "".join(
            f'<div class="value"><span class="label">{html.escape(s.label)}</span>'
            f'<span class="number">{_number(sum(s.values)) if s.values else "-"}</span></div>'
            for s in panel.series
            if s.visible
        )
        return f'<div class="values">{tiles}</div>{notes_html}'
    chart = figure(panel, go, span).to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"widget-{w.index}-chart",
        config=config,
        default_height="100%",
        default_width="100%",
    )
    return f'<div class="chart">{chart}</div>{notes_html}'


def as_html(name: str, panel_list: list[Panel], start: datetime, end: datetime) -> str:
    import plotly.graph_objects as go  # type: ignore[import-untyped]
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    config = {"displaylogo": False, "responsive": True}
    cells = []
    for p in panel_list:
        w = p.widget
        style = (
            f"grid-column: {w.x + 1} / span {max(1, w.width)}; grid-row: {w.y + 1} / span {max(1, w.height)};"
        )
        title = f"<h3>{html.escape(w.title)}</h3>" if w.title else ""
        content = _content(p, go, config, (start, end))
        cells.append(
            f'<section class="widget {html.escape(w.type)}" id="widget-{w.index}" '
            f'data-title="{html.escape(w.title)}" data-view="{html.escape(p.view)}" '
            f'data-drawn="{str(p.drawn).lower()}" style="{style}">{title}{content}</section>'
        )
    drawn = sum(p.drawn for p in panel_list)
    span = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(f"Dashboard {name}")}</title>
<style>
body {{ font-family: "Amazon Ember", Helvetica, Arial, sans-serif; margin: 1em;
        background: #f2f3f3; color: #16191f; }}
header p {{ margin: 0.2em 0 1em; color: #545b64; }}
.grid {{ display: grid; grid-template-columns: repeat(24, minmax(0, 1fr));
        grid-auto-rows: {ROW_PX}px; gap: 8px; }}
.widget {{ background: #fff; border: 1px solid #d5dbdb; border-radius: 2px; padding: 6px 10px;
          display: flex; flex-direction: column; overflow: hidden; min-width: 0; }}
.widget h3 {{ font-size: 14px; margin: 0 0 4px; }}
.chart {{ flex: 1; min-height: 0; }}
.chart > div {{ height: 100%; }}
.values {{ display: flex; flex-wrap: wrap; gap: 12px 24px; align-items: flex-start; }}
.value {{ display: flex; flex-direction: column; }}
.value .label {{ font-size: 12px; color: #545b64; }}
.value .number {{ font-size: 28px; }}
.table {{ overflow: auto; flex: 1; }}
table {{ border-collapse: collapse; font-size: 12px; }}
th, td {{ border-bottom: 1px solid #eaeded; padding: 2px 8px; text-align: left; white-space: nowrap; }}
.markdown h2 {{ margin: 0 0 4px; font-size: 20px; }} .markdown p {{ margin: 0; }}
.notes, .summary, .empty {{ font-size: 12px; color: #545b64; margin: 4px 0 0; }}
</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head>
<body>
<header>
<h1>Dashboard {html.escape(name)}</h1>
<p>{html.escape(span)}: {drawn} of {len(panel_list)} widgets drawn from the body CloudWatch holds,
at their places in its grid; the others are summarised.</p>
</header>
<main class="grid">
{chr(10).join(cells)}
</main>
</body>
</html>
"""


def as_text(panel_list: list[Panel]) -> str:
    lines = []
    for p in panel_list:
        d = p.as_dict()
        what = f"{d['type']}/{d['view']}" if d["type"] == "metric" else d["type"]
        if p.widget.type == "text":
            detail = "markdown"
        elif p.widget.type == "log":
            detail = f"{d['rows']} rows"
        else:
            shown = d["series"]
            detail = f"{len(shown)} series, {sum(s['points'] for s in shown)} points"
        state = "drawn" if p.drawn else "summarised"
        lines.append(f"{p.widget.title or '(no title)'} [{what}, {state}]: {detail}")
        lines += [f"    {n}" for n in p.notes]
    return "\n".join(lines)
