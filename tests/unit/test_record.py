"""Record: metrics (EMF blob and PutMetricData), the output or the Fail cause, and the log line."""

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber
from conftest import NAMESPACE, article_request, article_routes, emf_blobs, use_env
from lambda_context import LAMBDA_CONTEXT

from tollgate import clients
from tollgate.handlers import record_metrics
from tollgate.validation import ValidationOptions, validate_request

DIMENSIONS = ["Model", "ModelId", "CostCenter", "Application", "Environment"]
# The aggregate series the dashboard and alarms read (docs/metrics.md), in the blob's order.
AGGREGATES = [["Model"], ["CostCenter"], ["Environment"], ["Application"], []]
OPTIONS = ValidationOptions(("production",), 100_000, False)


@pytest.fixture
def context(catalogue):
    request = {**article_request(), "requestId": "req-1"}
    return validate_request(request, routes=article_routes(), catalogue=catalogue, options=OPTIONS).context


def invocation(context):
    return {
        "requestId": "req-1",
        "modelId": context["modelId"],
        "modelMetric": context["modelMetric"],
        "model": context["route"],
        "tags": context["tags"],
        "response": {"text": "S3 stores objects.", "stopReason": "end_turn"},
        "usage": {"inputTokens": 31, "outputTokens": 120, "totalTokens": 151},
        "costUsd": 0.0005048,
        "latencyMs": 812,
    }


def succeeded(context):
    return {
        "context": context,
        "reservation": approved(context),
        "invocation": invocation(context),
        "outcome": "succeeded",
    }


def approved(context):
    counters = [{"pk": "COUNTER#x", "sk": "s", "limitId": "x", "unit": "requests", "amount": 1}]
    return {
        "decision": "approved",
        "requestId": "req-1",
        "counters": counters,
        "failOpen": False,
        "shadowDenials": [],
    }


DENIAL_LIMIT = {
    "id": "costCenter=support/day/total_tokens",
    "scope": {"costCenter": "support"},
    "window": "day",
    "unit": "total_tokens",
    "limit": 5000,
    "used": 4100,
    "requested": 2039,
    "windowStart": "2025-03-04T00:00:00Z",
    "windowEnd": "2025-03-05T00:00:00Z",
}


def lambda_error(error_type, message):
    cause = {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": "lambda-1",
        "stackTrace": ["  File x"],
    }
    return {"Error": error_type, "Cause": json.dumps(cause)}


def single_blob(capsys):
    blobs = emf_blobs(capsys.readouterr().out)
    assert len(blobs) == 1
    return blobs[0]


def metric_values(blob):
    definition = blob["_aws"]["CloudWatchMetrics"][0]
    assert definition["Namespace"] == NAMESPACE
    assert definition["Dimensions"] == [DIMENSIONS, *AGGREGATES]
    values = {}
    for metric in definition["Metrics"]:
        recorded = blob[metric["Name"]]
        # Powertools writes each value as a list; one execution records each metric once.
        assert isinstance(recorded, list) and len(recorded) == 1, recorded
        values[metric["Name"]] = (recorded[0], metric["Unit"])
    return values


def record_line(logs):
    (line,) = [line for line in logs() if line["message"] == "Tollgate request"]
    return line


def test_a_success_emits_every_metric_with_five_dimensions(context, capsys, logs):
    state = succeeded(context)
    result = record_metrics.handler(state, LAMBDA_CONTEXT)
    assert result == {"outcome": "succeeded", "output": invocation(context)}
    blob = single_blob(capsys)
    assert metric_values(blob) == {
        "TotalRequests": (1.0, "Count"),
        "RateLimitApproved": (1.0, "Count"),
        "InputTokens": (31.0, "Count"),
        "OutputTokens": (120.0, "Count"),
        "CacheReadInputTokens": (0.0, "Count"),
        "CacheWriteInputTokens": (0.0, "Count"),
        "EstimatedCostUSD": (0.0005048, "None"),
        "InvocationLatency": (812.0, "Milliseconds"),
    }
    assert {name: blob[name] for name in DIMENSIONS} == context["dimensions"]
    assert "service" not in blob
    line = record_line(logs)
    assert line["outcome"] == "succeeded"
    assert line["requestId"] == "req-1"
    assert line["route"] == "claude-3-5-haiku"
    assert line["usage"]["outputTokens"] == 120
    assert line["dimensions"] == context["dimensions"]
    text = json.dumps(logs())
    assert "S3 stores objects." not in text
    assert "Explain the benefits" not in text


def test_a_denial_ends_in_rate_limit_exceeded_with_a_readable_cause(context, capsys, logs):
    reservation = {
        "decision": "denied",
        "requestId": "req-1",
        "counters": [],
        "failOpen": False,
        "shadowDenials": [],
        "denial": {
            "reason": "limit_exceeded",
            "limit": DENIAL_LIMIT,
            "exceeded": [DENIAL_LIMIT],
            "retryAfterSeconds": 3600,
        },
    }
    result = record_metrics.handler(
        {"context": context, "reservation": reservation, "outcome": "denied"}, LAMBDA_CONTEXT
    )
    assert result["outcome"] == "denied"
    cause = json.loads(result["cause"])
    assert cause == {
        "requestId": "req-1",
        "error": "RateLimitExceeded",
        "message": "Request denied by limit 'costCenter=support/day/total_tokens' (total_tokens per day for "
        "costCenter=support): the limit is 5000, 4100 is used and this request needs 2039. Retry after 3600 "
        "seconds, when the day window rolls over.",
        "reason": "limit_exceeded",
        "limit": DENIAL_LIMIT,
        "exceeded": [DENIAL_LIMIT],
        "retryAfterSeconds": 3600,
    }
    assert metric_values(single_blob(capsys)) == {
        "TotalRequests": (1.0, "Count"),
        "RateLimitDenied": (1.0, "Count"),
    }
    line = record_line(logs)
    assert line["limitId"] == "costCenter=support/day/total_tokens"
    assert line["reason"] == "limit_exceeded"


def test_a_permanent_denial_says_it_can_never_fit(context, capsys):
    denial = {
        "reason": "limit_exceeded",
        "limit": DENIAL_LIMIT,
        "exceeded": [DENIAL_LIMIT],
        "retryAfterSeconds": None,
    }
    state = {"context": context, "reservation": {"decision": "denied", "denial": denial}, "outcome": "denied"}
    cause = json.loads(record_metrics.handler(state, LAMBDA_CONTEXT)["cause"])
    assert cause["retryAfterSeconds"] is None
    assert cause["message"].endswith("It can never fit: the request needs more than the whole limit.")


def test_an_invalid_request_ends_in_validation_error_listing_the_fields(catalogue, capsys):
    bad = {**article_request(), "model": "gpt-4", "requestId": "req-9"}
    del bad["tags"]["applicationId"]
    context = validate_request(bad, routes=article_routes(), catalogue=catalogue, options=OPTIONS).context
    result = record_metrics.handler({"context": context, "outcome": "invalid"}, LAMBDA_CONTEXT)
    cause = json.loads(result["cause"])
    assert cause["error"] == "ValidationError"
    assert cause["requestId"] == "req-9"
    assert [e["field"] for e in cause["errors"]] == ["model", "tags.applicationId"]
    assert cause["message"].startswith("The request has 2 problems: model: Unknown model 'gpt-4'.")
    blob = single_blob(capsys)
    assert metric_values(blob) == {"TotalRequests": (1.0, "Count")}
    assert (blob["Model"], blob["ModelId"], blob["Application"], blob["CostCenter"]) == (
        "invalid",
        "invalid",
        "invalid",
        "support",
    )


def test_a_model_failure_ends_in_invocation_failed_with_the_model_error(context, capsys, logs):
    message = json.dumps(
        {
            "code": "ThrottlingException",
            "message": "Too many tokens",
            "modelId": context["modelId"],
            "retryable": True,
        }
    )
    state = {
        "context": context,
        "reservation": approved(context),
        "error": lambda_error("ModelThrottled", message),
        "release": {"state": "released", "deltas": []},
        "outcome": "failed",
    }
    result = record_metrics.handler(state, LAMBDA_CONTEXT)
    cause = json.loads(result["cause"])
    assert cause == {
        "requestId": "req-1",
        "error": "InvocationFailed",
        "message": "The model call failed: ThrottlingException: Too many tokens",
        "stage": "invoke",
        "modelId": context["modelId"],
        "modelError": {"code": "ThrottlingException", "message": "Too many tokens"},
    }
    assert metric_values(single_blob(capsys)) == {
        "TotalRequests": (1.0, "Count"),
        "RateLimitApproved": (1.0, "Count"),
        "InvocationFailed": (1.0, "Count"),
    }
    assert "stackTrace" not in result["cause"]
    assert record_line(logs)["errorCode"] == "ThrottlingException"


def test_a_reserve_crash_is_a_failure_of_the_reserve_stage(context, capsys):
    state = {"context": context, "error": lambda_error("LedgerBusy", "kept conflicting"), "outcome": "failed"}
    cause = json.loads(record_metrics.handler(state, LAMBDA_CONTEXT)["cause"])
    assert cause["stage"] == "reserve"
    assert cause["modelError"] == {"code": "LedgerBusy", "message": "kept conflicting"}
    assert cause["message"] == "Tollgate's reserve step failed: LedgerBusy: kept conflicting"
    assert metric_values(single_blob(capsys)) == {"TotalRequests": (1.0, "Count")}


@pytest.mark.parametrize("stage", [None, "validate"])
def test_a_validate_crash_is_recorded_with_placeholders_only(capsys, stage):
    # Issue 15 item 7: the raw request is the caller's, not validation's: its requestId and tags
    # are not trusted (they were before: Application and the requestId came from the raw input).
    raw = {**article_request(), "requestId": "mine-1"}
    state = {
        **raw,
        "error": {"Error": "Lambda.ServiceException", "Cause": "Rate exceeded"},
        "outcome": "failed",
        **({"stage": stage} if stage else {}),
    }
    result = record_metrics.handler(state, LAMBDA_CONTEXT)
    cause = json.loads(result["cause"])
    assert cause["requestId"] is None
    assert cause["stage"] == "validate"
    assert cause["modelError"] == {"code": "Lambda.ServiceException", "message": "Rate exceeded"}
    blob = single_blob(capsys)
    assert metric_values(blob) == {"TotalRequests": (1.0, "Count")}
    assert {blob[k] for k in ("Model", "ModelId", "CostCenter", "Application", "Environment")} == {
        "unresolved"
    }


def test_a_replay_returns_the_stored_result_and_counts_no_tokens(context, capsys):
    stored = invocation(context)
    reservation = {**approved(context), "decision": "replay", "counters": [], "result": stored}
    result = record_metrics.handler(
        {"context": context, "reservation": reservation, "outcome": "succeeded"}, LAMBDA_CONTEXT
    )
    assert result["output"] == {**stored, "replayed": True}
    assert metric_values(single_blob(capsys)) == {
        "TotalRequests": (1.0, "Count"),
        "RateLimitApproved": (1.0, "Count"),
    }


def test_prompts_and_responses_are_logged_only_when_asked(context, monkeypatch, logs):
    use_env(monkeypatch, TOLLGATE_LOG_PROMPTS="true")
    state = succeeded(context)
    record_metrics.handler(state, LAMBDA_CONTEXT)
    line = record_line(logs)
    assert line["responseText"] == "S3 stores objects."
    assert line["prompt"]["messages"][0]["content"][0]["text"].startswith("Explain the benefits")


def test_the_cloudwatch_api_sink_makes_one_put_metric_data_call(context, monkeypatch, aws, capsys):
    use_env(monkeypatch, TOLLGATE_METRICS_SINK="cloudwatch_api")
    state = succeeded(context)
    record_metrics.handler(state, LAMBDA_CONTEXT)
    assert emf_blobs(capsys.readouterr().out) == []

    cloudwatch = boto3.client("cloudwatch")
    listed = cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]
    assert sorted({m["MetricName"] for m in listed}) == sorted(
        [
            "TotalRequests",
            "RateLimitApproved",
            "InputTokens",
            "OutputTokens",
            "CacheReadInputTokens",
            "CacheWriteInputTokens",
            "EstimatedCostUSD",
            "InvocationLatency",
        ]
    )
    dimensions = [{"Name": n, "Value": context["dimensions"][n]} for n in DIMENSIONS]
    # every metric once per dimension set: the five dimensions, and each aggregate
    expected_sets = sorted(tuple(sorted(s)) for s in [DIMENSIONS, *AGGREGATES])
    for name in {m["MetricName"] for m in listed}:
        sets = [tuple(sorted(d["Name"] for d in m["Dimensions"])) for m in listed if m["MetricName"] == name]
        assert sorted(sets) == expected_sets, name
    for metric in listed:
        for dimension in metric["Dimensions"]:
            assert dimension["Value"] == context["dimensions"][dimension["Name"]]
    now = datetime.now(UTC)
    stats = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="OutputTokens",
        Dimensions=dimensions,
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=5),
        Period=60,
        Statistics=["Sum"],
    )
    assert [p["Sum"] for p in stats["Datapoints"]] == [120.0]


def test_a_put_metric_data_error_falls_back_to_emf_and_never_raises(context, monkeypatch, capsys, logs):
    use_env(monkeypatch, TOLLGATE_METRICS_SINK="cloudwatch_api")
    client = boto3.client("cloudwatch", region_name="us-east-1")
    monkeypatch.setattr(clients, "cloudwatch", lambda: client)
    with Stubber(client) as stubber:
        stubber.add_client_error("put_metric_data", service_error_code="AccessDenied", http_status_code=403)
        result = record_metrics.handler(succeeded(context), LAMBDA_CONTEXT)
    assert result["outcome"] == "succeeded"
    assert metric_values(single_blob(capsys))["TotalRequests"] == (1.0, "Count")
    errors = [line for line in logs() if line["level"] == "ERROR"]
    assert errors and "PutMetricData failed" in errors[0]["message"]
    assert record_line(logs)["metricsSink"] == "emf"


def test_record_without_a_namespace_names_the_variable(context, monkeypatch):
    from tollgate import settings
    from tollgate.settings import SettingsError

    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE")
    settings.get_settings.cache_clear()
    with pytest.raises(SettingsError, match="POWERTOOLS_METRICS_NAMESPACE is not set"):
        record_metrics.handler({"context": context, "outcome": "invalid"}, LAMBDA_CONTEXT)
