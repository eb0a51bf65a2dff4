"""The four handlers in the order the state machine runs them, on moto's DynamoDB and a stubbed Bedrock."""

import json
from unittest.mock import ANY

import boto3
import pytest
from conftest import article_request, article_routes, converse_response, emf_blobs, put_limit, put_route, used
from lambda_context import LAMBDA_CONTEXT, json_log_lines

from tollgate import clients
from tollgate.bedrock import ModelError
from tollgate.handlers import invoke, rate_limit, record_metrics, validate

PROFILE_ARN = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/k3xq9"


def lambda_boundary(handler):
    """Pass the event and the result through JSON, as Lambda and Step Functions do."""

    def call(event, context):
        return json.loads(json.dumps(handler.handler(json.loads(json.dumps(event)), context)))

    return type("Boundary", (), {"handler": staticmethod(call)})


pytestmark = pytest.mark.usefixtures("article_routing")


validate, rate_limit, invoke, record_metrics = map(
    lambda_boundary, (validate, rate_limit, invoke, record_metrics)
)


def execute(request, execution_id):
    """What the state machine does with one request; returns the final state."""
    state = {"context": validate.handler({"request": request, "executionId": execution_id}, LAMBDA_CONTEXT)}
    if not state["context"]["valid"]:
        state["outcome"] = "invalid"
    else:
        state["reservation"] = rate_limit.handler(
            {"action": "reserve", "context": state["context"], "executionId": execution_id}, LAMBDA_CONTEXT
        )
        decision = state["reservation"]["decision"]
        if decision == "denied":
            state["outcome"] = "denied"
        elif decision == "replay":
            state["outcome"] = "succeeded"
        else:
            try:
                state["invocation"] = invoke.handler(
                    {
                        "context": state["context"],
                        "reservation": state["reservation"],
                        "executionId": execution_id,
                    },
                    LAMBDA_CONTEXT,
                )
            except ModelError as error:
                cause = {"errorMessage": str(error), "errorType": type(error).__name__, "stackTrace": []}
                state["error"] = {"Error": type(error).__name__, "Cause": json.dumps(cause)}
                state["release"] = rate_limit.handler(
                    {
                        "action": "release",
                        "context": state["context"],
                        "reservation": state["reservation"],
                        "error": state["error"],
                        "executionId": execution_id,
                    },
                    LAMBDA_CONTEXT,
                )
                state["outcome"] = "failed"
            else:
                state["settlement"] = rate_limit.handler(
                    {
                        "action": "settle",
                        "context": state["context"],
                        "reservation": state["reservation"],
                        "invocation": state["invocation"],
                        "executionId": execution_id,
                    },
                    LAMBDA_CONTEXT,
                )
                state["outcome"] = "succeeded"
    state["record"] = record_metrics.handler({"state": state, "executionId": execution_id}, LAMBDA_CONTEXT)
    return state


def limits_for_every_unit(table):
    for unit in ("requests", "input_tokens", "output_tokens", "total_tokens"):
        put_limit(table, f"cc/{unit}", scope={"costCenter": "*"}, unit=unit, limit=1_000_000)


def test_a_request_is_admitted_invoked_settled_and_recorded(table, bedrock, capsys):
    limits_for_every_unit(table)
    bedrock.add_response("converse", converse_response(input_tokens=25, output_tokens=80))
    state = execute({**article_request(), "requestId": "r-1"}, "exec-1")
    record = state["record"]
    assert record["outcome"] == "succeeded"
    assert record["output"]["response"]["text"] == "S3 is durable."
    assert record["output"]["usage"] == {"inputTokens": 25, "outputTokens": 80, "totalTokens": 105}
    assert {key.split("|")[0]: value for key, value in used(table).items()} == {
        "cc/requests": 1,
        "cc/input_tokens": 25,
        "cc/output_tokens": 80,
        "cc/total_tokens": 105,
    }
    (blob,) = emf_blobs(capsys.readouterr().out)
    assert blob["OutputTokens"] == [80.0]


@pytest.mark.parametrize("outcome", ["succeeded", "denied", "failed", "invalid"])
def test_every_log_line_of_every_handler_carries_the_request_and_the_execution(table, bedrock, outcome):
    """Powertools at full strength: inject_lambda_context plus append_keys, no per-line extras."""
    limits_for_every_unit(table)
    request = {**article_request(), "requestId": "r-logs"}
    if outcome == "denied":
        put_limit(table, "tiny", scope={"costCenter": "*"}, unit="total_tokens", limit=1)
    elif outcome == "failed":
        bedrock.add_client_error("converse", "AccessDeniedException", "no access", 403)
    elif outcome == "invalid":
        request["tags"] = {**request["tags"], "environment": "nowhere"}
    else:
        bedrock.add_response("converse", converse_response(input_tokens=25, output_tokens=80))
    with json_log_lines() as lines:
        state = execute(request, "exec-logs")
    assert state["record"]["outcome"] == outcome
    assert {line["function_name"] for line in lines} == {LAMBDA_CONTEXT.function_name}
    assert "Tollgate request" in [line["message"] for line in lines]
    for line in lines:
        assert (line.get("requestId"), line.get("executionId")) == ("r-logs", "exec-logs"), line


def test_a_second_invocation_does_not_inherit_the_first_ones_keys(table, bedrock):
    """clear_state: a warm container's next request starts without the last one's IDs."""
    limits_for_every_unit(table)
    bedrock.add_response("converse", converse_response(input_tokens=25, output_tokens=80))
    execute({**article_request(), "requestId": "r-first"}, "exec-first")
    with json_log_lines() as lines:
        record_metrics.handler({"state": {"requestId": 7}}, LAMBDA_CONTEXT)  # no ID it could log
    assert lines and all("requestId" not in line and "executionId" not in line for line in lines)


def test_a_retried_request_replays_without_calling_the_model_again(table, bedrock, capsys):
    limits_for_every_unit(table)
    bedrock.add_response("converse", converse_response(input_tokens=25, output_tokens=80))
    first = execute({**article_request(), "requestId": "r-1"}, "exec-1")
    after_first = used(table)
    capsys.readouterr()
    # No second stubbed response: a second model call would fail the test.
    second = execute({**article_request(), "requestId": "r-1"}, "exec-2")
    assert second["record"]["outcome"] == "succeeded"
    assert second["record"]["output"] == {**first["record"]["output"], "replayed": True}
    assert used(table) == after_first
    (blob,) = emf_blobs(capsys.readouterr().out)
    assert "InputTokens" not in blob
    assert blob["RateLimitApproved"] == [1.0]


def test_a_failed_call_gives_its_reservation_back(table, bedrock):
    limits_for_every_unit(table)
    bedrock.add_client_error(
        "converse",
        service_error_code="AccessDeniedException",
        service_message="no access",
        http_status_code=403,
    )
    state = execute({**article_request(), "requestId": "r-2"}, "exec-1")
    assert state["release"]["state"] == "released"
    assert set(used(table).values()) == {0}
    cause = json.loads(state["record"]["cause"])
    assert cause["error"] == "InvocationFailed"
    assert cause["modelError"] == {"code": "AccessDeniedException", "message": "no access"}


def test_a_request_over_its_limit_never_reaches_the_model(table, bedrock):
    put_limit(table, "support-daily", scope={"costCenter": "support"}, unit="output_tokens", limit=2050)
    bedrock.add_response("converse", converse_response(input_tokens=25, output_tokens=80))
    assert execute({**article_request(), "requestId": "a"}, "e1")["record"]["outcome"] == "succeeded"
    state = execute({**article_request(), "requestId": "b"}, "e2")
    assert state["record"]["outcome"] == "denied"
    cause = json.loads(state["record"]["cause"])
    assert cause["limit"]["id"] == "support-daily"
    assert cause["limit"]["used"] == 80
    assert cause["limit"]["requested"] == 2000
    assert 1 <= cause["retryAfterSeconds"] <= 86400


def test_an_invalid_request_is_recorded_without_touching_the_ledger(table, capsys):
    request = {**article_request(), "model": "gpt-4"}
    state = execute(request, "e1")
    assert state["record"]["outcome"] == "invalid"
    assert json.loads(state["record"]["cause"])["errors"][0]["field"] == "model"
    # Only Record's once-per-execution mark is written: no reservation, no counter.
    assert [item for item in table.scan()["Items"] if item["pk"] != "ROUTE"] == [
        {"pk": "e1", "sk": "RECORD", "recordedAt": ANY, "expiresAt": ANY, "writeId": ANY}
    ]


def test_a_cost_center_route_from_the_table_calls_its_profile(table, bedrock):
    put_route(
        table,
        "sales",
        kind="application_profile",
        modelId=PROFILE_ARN,
        baseModelId="anthropic.claude-3-haiku-20240307-v1:0",
        baseRoute="claude-3-haiku",
    )
    put_limit(table, "haiku-family", scope={"model": "claude-3-haiku"}, unit="requests", limit=10)
    bedrock.add_response(
        "converse",
        converse_response(input_tokens=10, output_tokens=10),
        {"modelId": PROFILE_ARN, **_any_converse_fields()},
    )
    state = execute({**article_request(), "model": "sales", "requestId": "s-1"}, "e1")
    assert state["record"]["output"]["modelMetric"] == "k3xq9"
    # A limit on the alias the profile copies from counts the profile's traffic too.
    assert used(table) == {"haiku-family|" + state["reservation"]["counters"][0]["sk"]: 1}


def _any_converse_fields():
    from botocore.stub import ANY

    return {
        "messages": ANY,
        "inferenceConfig": ANY,
        "additionalModelRequestFields": ANY,
        "requestMetadata": ANY,
    }


def test_once_the_table_has_routes_only_those_are_valid(table):
    for name in article_routes():
        table.delete_item(Key={"pk": "ROUTE", "sk": name})
    put_route(
        table, "support", kind="application_profile", modelId=PROFILE_ARN, baseModelId="amazon.nova-lite-v1:0"
    )
    state = execute(article_request(), "e1")
    assert json.loads(state["record"]["cause"])["errors"] == [
        {"field": "model", "message": "Unknown model 'claude-3-5-haiku'. Valid models are: support."}
    ]


def test_a_ledger_unavailable_denial_says_so(monkeypatch, catalogue):
    from botocore.config import Config

    unreachable = boto3.client(
        "dynamodb", endpoint_url="http://127.0.0.1:9", config=Config(retries={"total_max_attempts": 1})
    )
    monkeypatch.setattr(clients, "dynamodb", lambda: unreachable)
    from tollgate.validation import ValidationOptions, validate_request

    context = validate_request(
        article_request(),
        routes=article_routes(),
        catalogue=catalogue,
        options=ValidationOptions(("production",), 1000, False),
    ).context
    reservation = rate_limit.handler(
        {"action": "reserve", "context": context, "executionId": "e1"}, LAMBDA_CONTEXT
    )
    assert reservation["denial"]["reason"] == "ledger_unavailable"
    state = {"context": context, "reservation": reservation, "outcome": "denied"}
    cause = json.loads(record_metrics.handler(state, LAMBDA_CONTEXT)["cause"])
    assert cause["reason"] == "ledger_unavailable"
    assert cause["message"].startswith("Request denied: the budget ledger could not be reached")


def test_settle_after_a_fail_open_admission_does_nothing(table):
    context = validate.handler({"request": article_request(), "executionId": "e1"}, LAMBDA_CONTEXT)
    reservation = {
        "decision": "approved",
        "requestId": context["requestId"],
        "counters": [],
        "failOpen": True,
    }
    result = rate_limit.handler(
        {
            "action": "settle",
            "context": context,
            "reservation": reservation,
            "invocation": {},
            "executionId": "e1",
        },
        LAMBDA_CONTEXT,
    )
    assert result == {"state": "absent", "deltas": []}
    assert [item for item in table.scan()["Items"] if item["pk"] != "ROUTE"] == []


def test_an_unknown_action_is_refused(table):
    with pytest.raises(ValueError, match="action is 'refund'"):
        rate_limit.handler({"action": "refund", "context": {}, "executionId": "e"}, LAMBDA_CONTEXT)


def test_a_dropped_top_k_is_logged_as_a_warning(table, logs):
    put_route(table, "llama", kind="model", modelId="meta.llama3-1-8b-instruct-v1:0")
    context = validate.handler(
        {"request": {**article_request(), "model": "llama"}, "executionId": "e1"}, LAMBDA_CONTEXT
    )
    assert context["valid"] is True
    assert "additionalModelRequestFields" not in context["converse"]
    warnings = [line for line in logs() if line["level"] == "WARNING"]
    assert warnings[0]["message"] == "Dropped top_k: the model family has no such setting"
    assert warnings[0]["family"] == "meta"


def test_validate_without_its_table_names_the_missing_variable(monkeypatch):
    from tollgate import settings
    from tollgate.settings import SettingsError

    monkeypatch.delenv("TOLLGATE_TABLE_NAME")
    settings.get_settings.cache_clear()
    with pytest.raises(SettingsError, match="TOLLGATE_TABLE_NAME is not set: it names the DynamoDB table"):
        validate.handler({"request": article_request(), "executionId": "e1"}, LAMBDA_CONTEXT)
