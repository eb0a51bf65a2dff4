"""Render the tables of docs/benchmarks.md from dist/bench.json (`make bench-docs`; run by `make bench`).

    PYTHONPATH=tools python -m bench.report [--input dist/bench.json] [--doc docs/benchmarks.md] [--check]

Each table sits between ``<!-- BEGIN_BENCH name -->`` and ``<!-- END_BENCH name -->``; only what is
between the markers is rewritten. A figure that a run did not measure reads "not measured". To add
a row or a column, add it to TABLES: a column is a header and a dotted path into the JSON, where
``{row}`` stands for the row's key.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
INPUT = ROOT / "dist" / "bench.json"
DOC = ROOT / "docs" / "benchmarks.md"
MISSING = "not measured"

Value = Callable[[dict[str, Any], str], Any]


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path (``p1.tokens.tollgate.admitted``), or None when any part is absent."""
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def fmt(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True).replace("|", "\\|")
    return str(value).replace("|", "\\|")


def path(template: str) -> Value:
    return lambda data, row: lookup(data, template.format(row=row))


def largest(*templates: str) -> Value:
    """The largest value found: reported write units, or DynamoDB's rule where it reports none."""

    def value(data: dict[str, Any], row: str) -> Any:
        found = [v for t in templates if isinstance(v := lookup(data, t.format(row=row)), int | float)]
        return max(found) if found else None

    return value


def count(template: str) -> Value:
    def value(data: dict[str, Any], row: str) -> Any:
        found = lookup(data, template.format(row=row))
        return len(found) if isinstance(found, list | dict) else None

    return value


@dataclass
class Table:
    name: str
    first_header: str
    columns: list[tuple[str, Value]]
    rows: list[tuple[str, str]]  # (label, key substituted for {row})
    discover: str | None = None  # a path whose keys add rows not listed (new outcomes, shard counts)
    skip: set[str] = field(default_factory=set)

    def all_rows(self, data: dict[str, Any]) -> list[tuple[str, str]]:
        rows = list(self.rows)
        found = lookup(data, self.discover) if self.discover else None
        if isinstance(found, dict):
            known = {key for _, key in rows} | self.skip
            rows += [(key, key) for key in found if key not in known]
        return rows

    def render(self, data: dict[str, Any]) -> str:
        header = [self.first_header, *(h for h, _ in self.columns)]
        body = [[label, *(fmt(v(data, key)) for _, v in self.columns)] for label, key in self.all_rows(data)]
        return markdown([header, *body])


def markdown(cells: list[list[str]]) -> str:
    """A Markdown table without padding (docs/ has a size budget): the first column left-aligned,
    the figures right-aligned by the separator row."""
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, "|" + "|".join(["---", *["---:"] * (len(cells[0]) - 1)]) + "|")
    return "\n".join(lines)


P2_OUTCOMES = ["succeeded", "denied", "invalid", "failed", "replay", "unknown", "record_fallback"]
SHARDS = ["1", "4", "16", "64"]

TABLES = [
    Table(
        "meta",
        "run",
        [
            ("date", path("meta.date")),
            ("Python", path("meta.python")),
            ("CPUs", path("meta.cpus")),
            ("prices looked up", path("meta.prices_date")),
        ],
        [("this run", "")],
    ),
    Table(
        "p1",
        "design (unit)",
        [
            ("admitted", path("p1.{row}.admitted")),
            ("ceiling", path("p1.{row}.ceiling")),
            ("settled usage", path("p1.{row}.used")),
            ("overshoot", path("p1.{row}.overshoot")),
            ("false denials", path("p1.{row}.false_denials")),
        ],
        [
            ("tollgate (requests)", "tollgate"),
            ("read_then_decide (requests)", "read_then_decide"),
            ("tollgate (total tokens)", "tokens.tollgate"),
            ("read_then_decide (total tokens)", "tokens.read_then_decide"),
        ],
    ),
    Table(
        "p2",
        "outcome",
        [
            ("state transitions", path("p2.{row}.transitions")),
            ("Lambda invocations", path("p2.{row}.lambda_invocations")),
            ("SFN service calls", count("p2.{row}.service_integrations")),
            ("DynamoDB writes", path("p2.{row}.dynamodb_writes")),
            ("DynamoDB reads", path("p2.{row}.dynamodb_reads")),
            ("write units", largest("p2.{row}.write_units", "p2.{row}.modeled_write_units")),
            ("read units", path("p2.{row}.read_units")),
            ("CloudWatch calls", path("p2.{row}.cloudwatch_calls")),
            ("reads, cache off", path("p2.variants.emf_uncached.{row}.dynamodb_reads")),
            (
                "CloudWatch, PutMetricData sink",
                path("p2.variants.put_metric_data_cached.{row}.cloudwatch_calls"),
            ),
            ("log bytes", path("p2.{row}.log_bytes")),
        ],
        [(o, o) for o in P2_OUTCOMES],
        discover="p2",
        skip={"variants"},
    ),
    Table(
        "p3",
        "design",
        [
            ("Step Functions", path("p3.detail.{row}.step_functions")),
            ("Lambda", path("p3.detail.{row}.lambda")),
            ("DynamoDB", path("p3.detail.{row}.dynamodb")),
            ("CloudWatch", path("p3.detail.{row}.cloudwatch")),
            ("Logs", path("p3.detail.{row}.logs")),
            ("total", path("p3.detail.{row}.total")),
            ("+ per s of model latency", path("p3.detail.{row}.per_second_of_model_latency")),
        ],
        [
            ("Tollgate: EXPRESS, EMF, config cache on (default)", "express_emf"),
            ("Tollgate: STANDARD, EMF, cache on", "standard_emf"),
            ("Tollgate: EXPRESS, PutMetricData, cache on", "express_put_metric_data"),
            ("Tollgate: EXPRESS, EMF, config cache off", "express_emf_config_cache_off"),
            ("article: EXPRESS, CloudWatch metrics read per request", "article_design"),
        ],
        discover="p3.detail",
    ),
    Table(
        "p4",
        "endpoint",
        [
            ("raw UpdateItem /s", path("p4.by_endpoint.{row}.raw_update_item_per_s")),
            ("reserve+mark+settle /s", path("p4.by_endpoint.{row}.decisions_per_s")),
            ("ratio (goal >= 0.5)", path("p4.by_endpoint.{row}.ratio")),
            ("calls/s ratio", path("p4.by_endpoint.{row}.calls_ratio")),
            ("items written/s ratio", path("p4.by_endpoint.{row}.items_written_ratio")),
        ],
        [("via LocalStack", "via LocalStack"), ("DynamoDB Local direct", "DynamoDB Local direct")],
        discover="p4.by_endpoint",
    ),
    Table(
        "p5",
        "shards",
        [
            ("capacity /s", path("p5.capacity_per_s.{row}")),
            ("simulated admitted /s", path("p5.simulated_admitted_per_s.{row}")),
            ("simulated overshoot", path("p5.overshoot.{row}")),
            ("simulated false denials", path("p5.false_denial_rate_whole_run.{row}")),
            ("simulated, last 10%", path("p5.false_denial_rate.{row}")),
            ("ledger overshoot", path("p5.ledger.overshoot.{row}")),
            ("ledger false denials", path("p5.ledger.false_denial_rate.{row}")),
        ],
        [(n, n) for n in SHARDS],
        discover="p5.capacity_per_s",
    ),
    Table(
        "e2e",
        "LocalStack",
        [
            ("median ms, log level ALL", path("e2e.{row}.median_ms_log_all")),
            ("median ms, log level OFF", path("e2e.{row}.median_ms_log_off")),
            ("share of ALL", path("e2e.{row}.log_all_cost_share")),
        ],
        [("hooks off", "hooks_off"), ("hooks on", "hooks_on")],
    ),
]


def leaves(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict) and data:
        return [item for k, v in data.items() for item in leaves(v, f"{prefix}.{k}" if prefix else str(k))]
    return [(prefix, data)]


def generic(data: dict[str, Any], key: str) -> str:
    """Any figure without a table of its own (``p6`` and whatever comes next): one row per value."""
    found = data.get(key)
    if found is None:
        return markdown([["figure", "value"], [key, MISSING]])
    return markdown([["figure", "value"], *([p, fmt(v)] for p, v in leaves(found, key))])


def render(data: dict[str, Any], name: str) -> str:
    for t in TABLES:
        if t.name == name:
            table = t.render(data)
            if name == "e2e":
                table += f"\n\nRatio off/on (log level ALL): {fmt(lookup(data, 'e2e.speedup'))}."
            return table
    return generic(data, name)


MARKER = re.compile(r"(<!-- BEGIN_BENCH (\S+) -->\n)(.*?)(<!-- END_BENCH \2 -->)", re.DOTALL)


def updated(doc: str, data: dict[str, Any]) -> str:
    if not MARKER.search(doc):
        raise SystemExit("no <!-- BEGIN_BENCH name --> ... <!-- END_BENCH name --> markers found")
    return MARKER.sub(lambda m: f"{m[1]}{render(data, m[2])}\n{m[4]}", doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.report", description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=INPUT)
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--check", action="store_true", help="exit 1 when the doc differs from the JSON")
    args = parser.parse_args(argv)
    if not args.input.exists():
        raise SystemExit(f"{args.input} does not exist: run `make bench` first")
    data = json.loads(args.input.read_text(encoding="utf-8"))
    doc = args.doc.read_text(encoding="utf-8")
    new = updated(doc, data)
    if args.check:
        if new != doc:
            print(f"{args.doc} is not rendered from {args.input}: run `make bench-docs`")
            return 1
        return 0
    args.doc.write_text(new, encoding="utf-8")
    print(f"rendered {args.doc} from {args.input}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
