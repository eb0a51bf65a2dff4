"""RecordFallback's own PutMetricData tasks emit what Record would: every metric under the five
dimensions and under each aggregate set the dashboard and alarms read (metrics.DIMENSION_SETS)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from tollgate.metrics import DIMENSION_SETS

ASL = json.loads((Path(__file__).resolve().parents[2] / "asl" / "tollgate.asl.json").read_text())
FALLBACK_TASKS = {
    name: state
    for name, state in ASL["States"].items()
    if state.get("Resource", "").endswith(":cloudwatch:putMetricData")
}


def test_there_are_fallback_metric_tasks():
    assert len(FALLBACK_TASKS) >= 5, sorted(FALLBACK_TASKS)


def test_every_fallback_metric_goes_out_under_every_dimension_set():
    for name, state in FALLBACK_TASKS.items():
        sets = defaultdict(set)
        for datum in state["Parameters"]["MetricData"]:
            dimensions = tuple(d["Name"] for d in datum.get("Dimensions", []))
            sets[datum["MetricName"]].add(dimensions)
            for d in datum.get("Dimensions", []):
                assert d["Value.$"] == f"$.fallbackDimensions.{d['Name']}", (name, d)
        assert "TotalRequests" in sets, name
        for metric, found in sets.items():
            assert found == set(DIMENSION_SETS), (name, metric, found)
