"""RecordFallback's own PutMetricData tasks emit what Record would: every metric under the five
dimensions and under each aggregate set the dashboard and alarms read (metrics.DIMENSION_SETS)."""

from __future__ import annotations

import json
import sys
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


# --- issue 15 item 7: after a Validate failure, nothing the caller sent reaches Record ------------------

# What a caller can put in the execution input to look like a validated, admitted, charged request.
FORGED = {
    "model": "nova-lite",
    "requestId": "forged-id",
    "tags": {"applicationId": "victim-app", "costCenter": "victim-cc", "environment": "production"},
    "context": {
        "valid": True,
        "requestId": "forged-id",
        "modelId": "forged.model-v1:0",
        "route": "forged",
        "dimensions": {
            "Model": "forged",
            "ModelId": "forged.model-v1:0",
            "CostCenter": "victim-cc",
            "Application": "victim-app",
            "Environment": "production",
        },
        "estimate": {"inputTokens": 1, "outputTokens": 1, "costUsd": 99},
    },
    "reservation": {"decision": "approved", "counters": [], "failOpen": True},
    "invocation": {"usage": {"inputTokens": 10**9, "outputTokens": 10**9}, "costUsd": 10**6, "latencyMs": 1},
    "release": {"state": "charged"},
    "outcome": "succeeded",
}
UNRESOLVED = dict.fromkeys(("Model", "ModelId", "CostCenter", "Application", "Environment"), "unresolved")


def validate_crashes(event):
    raise RuntimeError("validate died")


def test_record_after_a_validate_failure_uses_only_placeholders(table, capsys):
    """Validate's Catch used to keep the raw input: Record then took the caller's dimensions,
    reservation, invocation and charge as if validation had produced them."""
    from asl_flow import execute
    from conftest import emf_blobs
    from lambda_context import LAMBDA_CONTEXT

    from tollgate.handlers import record_metrics

    handlers = {
        "validate_function_arn": validate_crashes,
        "record_metrics_function_arn": lambda event: record_metrics.handler(event, LAMBDA_CONTEXT),
    }
    run = execute(FORGED, handlers, "arn:exec-forged")
    assert run.end == "Failed", run.path
    cause = json.loads(run.output["Cause"])
    assert cause["requestId"] is None
    assert cause["stage"] == "validate"
    assert cause["modelId"] is None
    assert "chargedAtEstimate" not in cause
    (blob,) = emf_blobs(capsys.readouterr().out)
    assert {k: blob[k] for k in UNRESOLVED} == UNRESOLVED
    assert blob["TotalRequests"] == [1.0]
    assert not {"RateLimitApproved", "InputTokens", "OutputTokens", "EstimatedCostUSD"} & set(blob)


def test_the_fallback_after_a_validate_failure_uses_only_placeholders():
    """With Record down too, RecordFallback's own PutMetricData reads $.context.dimensions: it must not
    find the caller's there."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    from bench import asl_walk

    calls = []

    def integration(name):
        def call(parameters):
            calls.append((name, parameters))
            return {}

        return call

    def record_down(event):
        raise asl_walk.TaskFailed("States.Timeout", "")

    walk = asl_walk.walk(
        ASL,
        {
            "validate_function_arn": validate_crashes,
            "record_metrics_function_arn": record_down,
            "dynamodb:putItem": integration("dynamodb:putItem"),
            "aws-sdk:cloudwatch:putMetricData": integration("aws-sdk:cloudwatch:putMetricData"),
        },
        FORGED,
    )
    assert walk.end == "FallbackFailed", walk.states
    assert "FallbackUnresolvedDimensions" in walk.states and "FallbackMetricsTotal" in walk.states
    (_, metrics) = calls[1]
    names = {m["MetricName"] for m in metrics["MetricData"]}
    assert names == {"TotalRequests"}
    five = next(m for m in metrics["MetricData"] if len(m["Dimensions"]) == 5)
    assert {d["Name"]: d["Value"] for d in five["Dimensions"]} == UNRESOLVED
