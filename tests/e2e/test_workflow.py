"""End to end: real executions of the real state machine, deployed by `terraform apply` into LocalStack.

Every test sends requests through StartSyncExecution (the module's default EXPRESS workflow); the
Lambda tasks run the real handlers from dist/tollgate.zip, DynamoDB is DynamoDB Local, and Bedrock
is the project's emulator (local/plugins). Limits used here are scoped to this session's
application IDs (see deployment.py), so the assertions are exact.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from localstack import faults

from tollgate import cli

pytestmark = pytest.mark.e2e

CONTRACT_ERRORS = {"RateLimitExceeded", "InvocationFailed", "ValidationError"}
METRIC_NAMES = {
    "TotalRequests",
    "RateLimitApproved",
    "RateLimitDenied",
    "InvocationFailed",
    "InputTokens",
    "OutputTokens",
    "CacheReadInputTokens",
    "CacheWriteInputTokens",
    "EstimatedCostUSD",
    "InvocationLatency",
}
DIMENSIONS = {"Model", "ModelId", "CostCenter", "Application", "Environment"}

# The article's example request, exactly as published.
ARTICLE_REQUEST = json.loads(
    (Path(__file__).resolve().parents[2] / "examples" / "requests" / "article.json").read_text()
)


def request(model: str, app: str, text: str = "Name three uses of Amazon S3.", **extra) -> dict:
    body = {
        "model": model,
        "prompt": {"messages": [{"role": "user", "content": text}], "parameters": {"max_tokens": 200}},
        "tags": {"applicationId": app, "costCenter": "e2e", "environment": "dev"},
    }
    body.update(extra)
    return body


def run(sfn, deployment, body: dict) -> cli.Outcome:
    outcome = cli.run_request(sfn, deployment.state_machine_arn, body, express=True)
    assert outcome.name == "Succeeded" or outcome.name in CONTRACT_ERRORS, (
        f"execution ended outside the contract: {outcome.as_dict()}"
    )
    return outcome


def used(ddb, deployment, limit_id: str) -> Decimal:
    rows = [r for r in cli.usage_rows(ddb, deployment.table) if r["limitId"] == limit_id]
    assert rows, f"no limit {limit_id} in the table"
    return sum((r["used"] for r in rows), Decimal(0))


def metric_sum(cw, namespace: str, name: str, dimensions: dict[str, str]) -> float:
    """The Sum of one metric over the last hour, across every dimension combination that matches."""
    end = datetime.now(UTC) + timedelta(minutes=5)
    total = 0.0
    filters = [{"Name": k, "Value": v} for k, v in dimensions.items()]
    for metric in cw.list_metrics(Namespace=namespace, MetricName=name, Dimensions=filters)["Metrics"]:
        # Tollgate's values are also in aggregate series (docs/metrics.md): count each value once,
        # in its five-dimension series.
        if (
            namespace == "GenAIRateLimiting"
            and {d["Name"] for d in metric.get("Dimensions", [])} != DIMENSIONS
        ):
            continue
        stats = cw.get_metric_statistics(
            Namespace=namespace,
            MetricName=name,
            Dimensions=metric["Dimensions"],
            StartTime=end - timedelta(hours=1),
            EndTime=end,
            Period=60,
            Statistics=["Sum"],
        )
        total += sum(p["Sum"] for p in stats["Datapoints"])
    return total


def arm_fault(endpoint: str, model_id: str, error: str, count: int) -> None:
    status, body = faults(endpoint, "POST", {"modelId": model_id, "error": error, "count": count})
    assert status == 200, body


# --- the article's request and routing ----------------------------------------------------------


def test_articles_request_succeeds_unchanged(aws, deployment):
    outcome = run(aws("stepfunctions"), deployment, copy.deepcopy(ARTICLE_REQUEST))
    assert outcome.name == "Succeeded", outcome.as_dict()
    out = outcome.output
    assert out["response"]["text"].strip()
    assert out["response"]["stopReason"] in {"end_turn", "max_tokens"}
    usage = out["usage"]
    assert usage["inputTokens"] > 0 and 0 < usage["outputTokens"] <= 2000
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    # price of claude-3-5-haiku: 0.0008 in / 0.004 out per 1K tokens
    expected = usage["inputTokens"] * 0.0008 / 1000 + usage["outputTokens"] * 0.004 / 1000
    assert out["costUsd"] == pytest.approx(expected, rel=1e-6)
    assert out["modelId"] == "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert out["modelMetric"] == out["modelId"]  # a model route reports under its model ID
    uuid.UUID(out["requestId"])
    assert out["tags"]["costCenter"] == "support"
    assert out["latencyMs"] >= 0


@pytest.mark.parametrize("route", ["sales", "services", "support"])
def test_cost_center_routes_reach_their_inference_profiles(aws, deployment, route):
    arn = deployment.outputs["inference_profile_arns"][route]
    assert deployment.outputs["model_routes"][route] == arn
    profile = aws("bedrock").get_inference_profile(inferenceProfileIdentifier=arn)
    assert profile["type"] == "APPLICATION"
    tags = {t["key"]: t["value"] for t in aws("bedrock").list_tags_for_resource(resourceARN=arn)["tags"]}
    assert tags["costCenter"] == route
    assert tags["applicationId"] == "aws-documentation-helper"

    body = copy.deepcopy(ARTICLE_REQUEST)
    body["model"] = route
    body["tags"]["costCenter"] = route
    outcome = run(aws("stepfunctions"), deployment, body)
    assert outcome.name == "Succeeded", outcome.as_dict()
    assert outcome.output["modelId"] == arn
    assert outcome.output["modelMetric"] == deployment.profile_id(route)


def test_application_profiles_are_listed_with_their_tags(aws, deployment):
    listed = aws("bedrock").list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
    arns = {p["inferenceProfileArn"] for p in listed}
    assert set(deployment.outputs["inference_profile_arns"].values()) <= arns


# --- the outcomes ---------------------------------------------------------------------------------


def test_invalid_input_fails_with_validation_error_naming_the_fields(aws, deployment):
    body = request("claude-3-5-haiku", deployment.run.app("invalid"))
    body["prompt"]["parameters"]["temperature"] = 3
    body["tags"]["environment"] = "moon"
    body["colour"] = "blue"
    outcome = run(aws("stepfunctions"), deployment, body)
    assert outcome.name == "ValidationError"
    fields = {e["field"] for e in outcome.cause["errors"]}
    assert {"prompt.parameters.temperature", "tags.environment", "colour"} <= fields
    assert outcome.cause["requestId"]


@pytest.mark.parametrize(
    "body",
    [
        "not an object",
        {},
        {"model": "no-such-model", "prompt": {"messages": []}, "tags": {}},
        {"model": 7, "prompt": None, "tags": {"applicationId": ""}},
    ],
)
def test_garbage_never_ends_outside_the_contract(aws, deployment, body):
    outcome = run(aws("stepfunctions"), deployment, body)
    assert outcome.name == "ValidationError"
    assert outcome.cause["errors"]


def test_request_over_a_limit_is_denied_with_the_limit_and_a_retry_time(aws, deployment):
    sfn = aws("stepfunctions")
    app = deployment.run.app("deny")
    first = run(sfn, deployment, request("nova-micro", app))
    second = run(sfn, deployment, request("nova-micro", app))
    # the limit is one request per minute; if the minute rolled between the two, try once more
    if second.name == "Succeeded":
        second = run(sfn, deployment, request("nova-micro", app))
    assert first.name == "Succeeded", first.as_dict()
    assert second.name == "RateLimitExceeded", second.as_dict()
    limit = second.cause["limit"]
    assert limit["id"] == f"applicationId={app}/minute/requests"
    assert (limit["window"], limit["unit"], limit["limit"], limit["used"]) == ("minute", "requests", 1, 1)
    assert 1 <= second.cause["retryAfterSeconds"] <= 60


def test_request_larger_than_a_whole_limit_can_never_fit(aws, deployment):
    outcome = run(aws("stepfunctions"), deployment, request("nova-micro", deployment.run.app("whole")))
    assert outcome.name == "RateLimitExceeded"
    assert outcome.cause["retryAfterSeconds"] is None
    assert outcome.cause["limit"]["limit"] == 100


def test_failing_model_fails_and_gives_its_reservation_back(aws, deployment):
    sfn, ddb = aws("stepfunctions"), aws("dynamodb")
    app = deployment.run.app("failing")
    tokens_id = f"applicationId={app}/day/total_tokens"
    requests_id = f"applicationId={app}/day/requests"
    ok = run(sfn, deployment, request("nova-lite", app))
    assert ok.name == "Succeeded", ok.as_dict()
    tokens_before, requests_before = used(ddb, deployment, tokens_id), used(ddb, deployment, requests_id)
    assert tokens_before == ok.output["usage"]["totalTokens"]  # settled to the real usage

    failed = run(sfn, deployment, request("claude-2", app))  # anthropic.claude-v2:0 is end-of-life
    assert failed.name == "InvocationFailed", failed.as_dict()
    assert failed.cause["modelError"]["code"] == "ResourceNotFoundException"
    assert failed.cause["modelId"] == "anthropic.claude-v2:0"
    assert used(ddb, deployment, tokens_id) == tokens_before
    assert used(ddb, deployment, requests_id) == requests_before
    item = ddb.get_item(
        TableName=deployment.table,
        Key={"pk": {"S": f"REQUEST#{app}#{failed.cause['requestId']}"}, "sk": {"S": "RESERVATION"}},
        ConsistentRead=True,
    )["Item"]
    assert item["state"]["S"] == "released"


def test_throttled_model_recovers_through_the_retry_and_is_counted_once(aws, deployment, localstack_endpoint):
    sfn, ddb = aws("stepfunctions"), aws("dynamodb")
    app = deployment.run.app("throttle")
    model_id = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
    cw = aws("cloudwatch")

    def bedrock(name: str) -> float:
        return metric_sum(cw, "AWS/Bedrock", name, {"ModelId": model_id})

    throttles_before, invocations_before = bedrock("InvocationThrottles"), bedrock("Invocations")
    # one retry of a model error: what fits the Express limit (docs/deploying.md)
    arm_fault(localstack_endpoint, model_id, "ThrottlingException", 1)
    outcome = run(sfn, deployment, request("claude-3-5-sonnet-v2", app))
    assert outcome.name == "Succeeded", outcome.as_dict()
    assert used(ddb, deployment, f"applicationId={app}/day/requests") == 1
    # one throttled attempt, retried by the state machine, then one call that answered
    assert bedrock("InvocationThrottles") - throttles_before == 1
    assert bedrock("Invocations") - invocations_before == 1
    assert metric_sum(cw, "GenAIRateLimiting", "TotalRequests", {"Application": app}) == 1
    assert metric_sum(cw, "GenAIRateLimiting", "RateLimitApproved", {"Application": app}) == 1


def test_retry_with_the_same_request_id_is_not_counted_twice(aws, deployment):
    sfn, ddb, cw = aws("stepfunctions"), aws("dynamodb"), aws("cloudwatch")
    app = deployment.run.app("replay")
    body = request("claude-3-haiku", app, requestId=f"order-{deployment.run.id}-1")
    first = run(sfn, deployment, body)
    again = run(sfn, deployment, body)
    assert first.name == again.name == "Succeeded"
    assert again.output["replayed"] is True
    assert again.output["response"] == first.output["response"]
    assert again.output["usage"] == first.output["usage"]
    assert used(ddb, deployment, f"applicationId={app}/day/requests") == 1
    assert (
        metric_sum(cw, "GenAIRateLimiting", "InputTokens", {"Application": app})
        == first.output["usage"]["inputTokens"]
    )


def test_a_limit_written_to_the_table_applies_without_a_deploy(aws, deployment):
    """Limits are data: an item written by hand takes effect within config_cache_seconds (1 s here)."""
    sfn, ddb = aws("stepfunctions"), aws("dynamodb")
    app = deployment.run.app("live-limit")
    assert run(sfn, deployment, request("nova-lite", app)).name == "Succeeded"
    limit_id = f"applicationId={app}/hour/requests"
    ddb.put_item(
        TableName=deployment.table,
        Item={
            "pk": {"S": "LIMIT"},
            "sk": {"S": limit_id},
            "scope": {"M": {"applicationId": {"S": app}}},
            "window": {"S": "hour"},
            "unit": {"S": "requests"},
            "limit": {"N": "0"},
            "enforce": {"BOOL": True},
        },
    )
    try:
        time.sleep(2.5)  # longer than the functions' cache of routes and limits
        outcome = run(sfn, deployment, request("nova-lite", app))
        assert outcome.name == "RateLimitExceeded", outcome.as_dict()
        assert outcome.cause["limit"]["id"] == limit_id
    finally:
        ddb.delete_item(TableName=deployment.table, Key={"pk": {"S": "LIMIT"}, "sk": {"S": limit_id}})


# --- concurrency ----------------------------------------------------------------------------------


def test_parallel_executions_never_pass_the_ceiling(aws, deployment):
    sfn, ddb = aws("stepfunctions"), aws("dynamodb")
    app = deployment.run.app("concurrency")

    def one(i: int) -> str:
        return run(sfn, deployment, request("nova-micro", app, text=f"Parallel request {i}.")).name

    with ThreadPoolExecutor(max_workers=24) as pool:
        outcomes = Counter(pool.map(one, range(24)))
    assert outcomes == {"Succeeded": 10, "RateLimitExceeded": 14}
    assert used(ddb, deployment, f"applicationId={app}/day/requests") == 10


# --- metrics ----------------------------------------------------------------------------------------


def test_metrics_follow_the_contract_and_reconcile_with_bedrock(aws, deployment, localstack_endpoint):
    sfn, cw = aws("stepfunctions"), aws("cloudwatch")
    app = deployment.run.app("metrics")
    profile_id = deployment.profile_id("metrics")
    outcomes = []
    for i in range(3):
        outcomes.append(run(sfn, deployment, request("metrics", app, text=f"Metrics request {i}.")).name)
    arm_fault(localstack_endpoint, profile_id, "ValidationException", 1)
    outcomes.append(run(sfn, deployment, request("metrics", app, text="This one fails.")).name)
    for i in range(3):
        outcomes.append(run(sfn, deployment, request("metrics", app, text=f"Late request {i}.")).name)
    bad = request("metrics", app)
    bad["prompt"]["parameters"]["top_p"] = 2
    outcomes.append(run(sfn, deployment, bad).name)
    # limit 4 requests a day: 3 ok, 1 failed (released), 1 ok, 2 denied, 1 invalid
    assert outcomes == ["Succeeded"] * 3 + ["InvocationFailed", "Succeeded"] + ["RateLimitExceeded"] * 2 + [
        "ValidationError"
    ]

    listed = cw.list_metrics(
        Namespace="GenAIRateLimiting", Dimensions=[{"Name": "Application", "Value": app}]
    )
    assert {m["MetricName"] for m in listed["Metrics"]} == METRIC_NAMES
    # each metric in its five-dimension series and in the application's aggregate series
    assert sorted(
        (m["MetricName"], tuple(sorted(d["Name"] for d in m["Dimensions"]))) for m in listed["Metrics"]
    ) == sorted((n, dims) for n in METRIC_NAMES for dims in (tuple(sorted(DIMENSIONS)), ("Application",)))

    def total(name: str) -> float:
        return metric_sum(cw, "GenAIRateLimiting", name, {"Application": app})

    assert total("TotalRequests") == len(outcomes) == 8
    assert total("RateLimitApproved") == 5
    assert total("RateLimitDenied") == 2
    assert total("InvocationFailed") == 1
    assert total("TotalRequests") == total("RateLimitApproved") + total("RateLimitDenied") + 1  # + invalid
    bedrock = {"ModelId": profile_id}
    assert metric_sum(cw, "AWS/Bedrock", "Invocations", bedrock) == 4
    assert total("InputTokens") == metric_sum(cw, "AWS/Bedrock", "InputTokenCount", bedrock) > 0
    assert total("OutputTokens") == metric_sum(cw, "AWS/Bedrock", "OutputTokenCount", bedrock) > 0
    assert total("EstimatedCostUSD") > 0


def test_namespace_holds_only_contract_metrics(aws, deployment):
    cw = aws("cloudwatch")
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="GenAIRateLimiting")["Metrics"]}
    # Plus the sweeper's count of reservations it closed (docs/ledger.md), which has no dimensions.
    assert names and names <= METRIC_NAMES | {"SweptReservations"}


def test_no_prompt_or_response_text_in_any_log(aws, deployment):
    sfn, logs = aws("stepfunctions"), aws("logs")
    marker = f"SECRET-{uuid.uuid4().hex}"
    outcome = run(
        sfn, deployment, request("nova-lite", deployment.run.app("privacy"), text=f"Repeat {marker}.")
    )
    assert outcome.name == "Succeeded"
    reply = outcome.output["response"]["text"]
    assert len(reply.split()) >= 12  # long enough not to appear in a log line by chance
    time.sleep(2)  # log delivery from the function processes is asynchronous
    groups = [
        g["logGroupName"]
        for g in logs.describe_log_groups()["logGroups"]
        if "tollgate-e2e" in g["logGroupName"]
    ]
    assert len(groups) >= 4, groups
    for group in groups:
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
            for event in page["events"]:
                assert marker not in event["message"], f"prompt text leaked into {group}"
                assert reply not in event["message"], f"response text leaked into {group}"


def test_second_plan_shows_no_changes(deployment):
    from deployment import plan_is_empty

    assert plan_is_empty(deployment)
