"""tools/bench/report.py: docs/benchmarks.md's tables come from dist/bench.json, not from a hand."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from bench import report  # noqa: E402

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "bench.json").read_text(encoding="utf-8"))


def rows(table: str) -> dict[str, list[str]]:
    lines = [line for line in table.splitlines() if line.startswith("| ")][1:]
    cells = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]
    return {row[0]: row[1:] for row in cells}


def test_p1_rows_come_from_the_json_and_what_was_not_run_says_so():
    p1 = rows(report.render(FIXTURE, "p1"))
    assert p1["tollgate (requests)"] == ["20", "20", "20", "0", "0"]
    assert p1["read_then_decide (requests)"] == ["64", "20", "64", "44", "0"]
    assert p1["tollgate (total tokens)"] == ["20", "8,780", "4,780", "0", "16"]
    assert p1["read_then_decide (total tokens)"] == ["not measured"] * 5


def test_p2_takes_the_larger_write_units_counts_integrations_and_adds_new_outcomes():
    p2 = rows(report.render(FIXTURE, "p2"))
    assert p2["succeeded"] == ["11", "5", "0", "4", "0", "8.00", "0.00", "0", "3", "1", "4,444"]
    assert p2["denied"][5] == "7.00"  # a cancelled transaction: DynamoDB's rule, not what it reported
    assert p2["denied"][8:10] == ["not measured", "not measured"]
    assert p2["streamed"][:2] == ["4", "2"]  # an outcome the table does not list yet still shows
    assert "variants" not in p2
    assert p2["failed"] == ["not measured"] * 11


def test_p5_has_the_simulation_and_the_real_ledger_by_shard_count():
    p5 = rows(report.render(FIXTURE, "p5"))
    assert p5["4"] == ["1,000.00", "1,002.00", "0", "0.012", "0.102", "0", "0.050"]
    assert p5["1"][-2:] == ["not measured", "not measured"]
    assert p5["64"] == ["not measured"] * 7


def test_a_figure_without_a_table_of_its_own_is_listed_value_by_value():
    p6 = rows(report.render(FIXTURE, "p6"))
    assert p6 == {"p6.client.median_ms": ["12.50"], "p6.express_model_seconds": ["35"]}
    assert rows(report.render(FIXTURE, "p7")) == {"p7": ["not measured"]}
    assert rows(report.render({}, "e2e"))["hooks on"] == ["not measured"] * 3


def test_only_what_is_between_the_markers_is_rewritten(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        "intro 64 of 20\n<!-- BEGIN_BENCH meta -->\nold\n<!-- END_BENCH meta -->\nmiddle\n"
        "<!-- BEGIN_BENCH p1 -->\n<!-- END_BENCH p1 -->\noutro\n",
        encoding="utf-8",
    )
    source = tmp_path / "bench.json"
    source.write_text(json.dumps(FIXTURE), encoding="utf-8")
    assert report.main(["--input", str(source), "--doc", str(doc), "--check"]) == 1
    assert report.main(["--input", str(source), "--doc", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("intro 64 of 20\n<!-- BEGIN_BENCH meta -->\n| run ")
    assert "2026-12-01T10:00:00+00:00" in text and "old" not in text
    assert "\nmiddle\n<!-- BEGIN_BENCH p1 -->\n| design (unit)" in text and text.endswith(
        "<!-- END_BENCH p1 -->\noutro\n"
    )
    assert report.main(["--input", str(source), "--doc", str(doc), "--check"]) == 0
    with pytest.raises(SystemExit, match="markers"):
        report.updated("no markers", FIXTURE)
    with pytest.raises(SystemExit, match="make bench"):
        report.main(["--input", str(tmp_path / "absent.json"), "--doc", str(doc)])
