"""tollgate.client: Converse's arguments to Tollgate's request, the success output to Converse's
response shape, every outcome to its typed error, and retries that replay instead of paying twice."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import ANY, Stubber

from tollgate.client import (
    READ_TIMEOUT_SECONDS,
    ExecutionFailed,
    InvocationFailed,
    RateLimitExceeded,
    Tollgate,
    TollgateError,
    ValidationError,
    build_request,
)

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:tollgate"
EXEC = "arn:aws:states:us-east-1:123456789012:express:tollgate:one:two"
TAGS = {"applicationId": "docs-helper", "costCenter": "support"}
OUTPUT = {
    "requestId": "r-1",
    "modelId": "anthropic.claude-3-5-haiku-20241022-v1:0",
    "modelMetric": "anthropic.claude-3-5-haiku-20241022-v1:0",
    "model": "claude-3-5-haiku",
    "tags": TAGS,
    "response": {"text": "S3 stores objects.", "stopReason": "end_turn"},
    "usage": {"inputTokens": 12, "outputTokens": 5, "totalTokens": 17},
    "costUsd": 0.0000296,
    "latencyMs": 420,
}


def sfn_client() -> Any:
    return boto3.client("stepfunctions", region_name="us-east-1")


def succeeded(output: dict[str, Any] = OUTPUT) -> dict[str, Any]:
    return {
        "executionArn": EXEC,
        "startDate": "2026-01-01T00:00:00Z",
        "stopDate": "2026-01-01T00:00:01Z",
        "status": "SUCCEEDED",
        "output": json.dumps(output),
    }


def failed(error: str, cause: dict[str, Any] | str) -> dict[str, Any]:
    return {
        "executionArn": EXEC,
        "startDate": "2026-01-01T00:00:00Z",
        "stopDate": "2026-01-01T00:00:01Z",
        "status": "FAILED",
        "error": error,
        "cause": cause if isinstance(cause, str) else json.dumps(cause),
    }


def call(tollgate: Tollgate, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "modelId": "claude-3-5-haiku",
        "messages": [{"role": "user", "content": [{"text": "Explain S3."}]}],
        "tags": TAGS,
    }
    arguments.update(overrides)
    return tollgate.converse(**arguments)


def stubbed(*responses: dict[str, Any]) -> tuple[Tollgate, list[dict[str, Any]]]:
    """A client over a stubbed Step Functions; the returned list collects each execution's input."""
    sfn = sfn_client()
    stubber = Stubber(sfn)
    for response in responses:
        stubber.add_response("start_sync_execution", response, {"stateMachineArn": ARN, "input": ANY})
    stubber.activate()
    inputs: list[dict[str, Any]] = []
    sfn.meta.events.register(
        "provide-client-params.states.StartSyncExecution",
        lambda params, **_: inputs.append(json.loads(params["input"])),
    )
    return Tollgate(ARN, stepfunctions=sfn, workflow_type="EXPRESS", sleep=lambda _: None), inputs


# --- the request -------------------------------------------------------------------------------


def test_converse_arguments_map_to_the_request_contract() -> None:
    request = build_request(
        modelId="claude-3-5-haiku",
        messages=[
            {"role": "user", "content": [{"text": "Explain S3"}, {"text": "in 100 words."}]},
            {"role": "assistant", "content": "S3 is"},
            {"role": "user", "content": "go on"},
        ],
        system=[{"text": "You are a helpful AWS expert."}],
        inferenceConfig={"maxTokens": 2000, "temperature": 0.7, "topP": 0.9},
        additionalModelRequestFields={"top_k": 50},
        tags={"applicationId": "aws-documentation-helper", "environment": "production"},
        requestId="my-id",
    )
    assert request == {
        "model": "claude-3-5-haiku",
        "prompt": {
            "messages": [
                {"role": "system", "content": "You are a helpful AWS expert."},
                {"role": "user", "content": "Explain S3\nin 100 words."},
                {"role": "assistant", "content": "S3 is"},
                {"role": "user", "content": "go on"},
            ],
            "parameters": {"max_tokens": 2000, "temperature": 0.7, "top_p": 0.9, "top_k": 50},
        },
        "tags": {"applicationId": "aws-documentation-helper", "environment": "production"},
        "requestId": "my-id",
    }


def test_plain_string_messages_and_system_are_accepted() -> None:
    request = build_request(
        modelId="nova-lite", messages=[{"role": "user", "content": "Hi"}], system="Be brief.", tags=TAGS
    )
    assert request["prompt"] == {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    }
    assert "requestId" not in request  # converse() adds one; build_request never invents it


def test_nova_top_k_form_is_accepted() -> None:
    request = build_request(
        modelId="nova-lite",
        messages=[{"role": "user", "content": "Hi"}],
        additionalModelRequestFields={"inferenceConfig": {"topK": 20}},
        tags=TAGS,
    )
    assert request["prompt"]["parameters"] == {"top_k": 20}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"modelId": ""}, "modelId"),
        ({"messages": []}, "messages"),
        ({"messages": ["hi"]}, "messages[0]"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": [{"image": {}}]}]}, "messages[0].content[0]"),
        ({"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
        ({"system": [{"text": 1}]}, "system[0]"),
        ({"system": 3}, "system"),
        ({"inferenceConfig": {"stopSequences": ["x"]}}, "inferenceConfig.stopSequences"),
        ({"inferenceConfig": "fast"}, "inferenceConfig"),
        ({"additionalModelRequestFields": {"thinking": {}}}, "additionalModelRequestFields.thinking"),
        ({"tags": {}}, "tags"),
        ({"tags": {"costCenter": "sales"}}, "tags.applicationId"),
        ({"requestId": ""}, "requestId"),
    ],
)
def test_bad_arguments_are_refused_before_any_call_naming_the_argument(
    overrides: dict[str, Any], field: str
) -> None:
    tollgate, inputs = stubbed()
    with pytest.raises(ValidationError) as raised:
        call(tollgate, **overrides)
    assert raised.value.field == field
    assert field in str(raised.value)
    assert inputs == []  # nothing was sent


def test_a_bad_state_machine_arn_is_refused() -> None:
    with pytest.raises(ValidationError) as raised:
        Tollgate("tollgate", stepfunctions=sfn_client())
    assert raised.value.field == "state_machine_arn"


# --- the response ------------------------------------------------------------------------------


def test_success_returns_converse_shape_and_the_tollgate_key() -> None:
    tollgate, inputs = stubbed(succeeded())
    response = call(tollgate, inferenceConfig={"maxTokens": 100})
    assert response["output"] == {
        "message": {"role": "assistant", "content": [{"text": "S3 stores objects."}]}
    }
    assert response["stopReason"] == "end_turn"
    assert response["usage"] == {"inputTokens": 12, "outputTokens": 5, "totalTokens": 17}
    assert response["metrics"] == {"latencyMs": 420}
    assert response["tollgate"] == {
        "requestId": "r-1",
        "costUsd": 0.0000296,
        "route": "claude-3-5-haiku",
        "modelId": OUTPUT["modelId"],
        "modelMetric": OUTPUT["modelMetric"],
        "decision": "approved",
        "replayed": False,
        "tags": TAGS,
        "executionArn": EXEC,
    }
    # The execution's input is the contract's request, with a generated requestId.
    (sent,) = inputs
    assert sent["model"] == "claude-3-5-haiku"
    assert sent["prompt"] == {
        "messages": [{"role": "user", "content": "Explain S3."}],
        "parameters": {"max_tokens": 100},
    }
    assert len(sent["requestId"]) == 36


def test_a_replay_says_so() -> None:
    tollgate, _ = stubbed(succeeded({**OUTPUT, "replayed": True}))
    assert call(tollgate, requestId="r-1")["tollgate"]["decision"] == "replay"


# --- every outcome, typed ----------------------------------------------------------------------


def test_denial_is_rate_limit_exceeded_with_retry_after_and_the_limit() -> None:
    limit = {
        "id": "tokens-per-minute",
        "unit": "total_tokens",
        "window": "minute",
        "limit": 1000,
        "used": 990,
    }
    cause = {
        "requestId": "r-2",
        "error": "RateLimitExceeded",
        "message": "Request denied by limit 'tokens-per-minute'",
        "reason": "limit_exceeded",
        "limit": limit,
        "retryAfterSeconds": 17,
    }
    tollgate, _ = stubbed(failed("RateLimitExceeded", cause))
    with pytest.raises(RateLimitExceeded) as raised:
        call(tollgate)
    error = raised.value
    assert isinstance(error, TollgateError)
    assert error.retry_after_seconds == 17
    assert error.limit == limit
    assert error.request_id == "r-2"
    assert error.execution_arn == EXEC
    assert "tokens-per-minute" in str(error)


def test_a_denial_that_can_never_fit_has_no_retry_after() -> None:
    cause = {"error": "RateLimitExceeded", "reason": "limit_exceeded", "limit": {}, "retryAfterSeconds": None}
    tollgate, _ = stubbed(failed("RateLimitExceeded", cause))
    with pytest.raises(RateLimitExceeded) as raised:
        call(tollgate)
    assert raised.value.retry_after_seconds is None


def test_invalid_request_is_validation_error_with_the_fields() -> None:
    errors = [
        {"field": "tags.environment", "message": "environment must be one of dev, prod"},
        {
            "field": "prompt.parameters.temperature",
            "message": "temperature must be a number between 0 and 1.",
        },
    ]
    tollgate, _ = stubbed(
        failed("ValidationError", {"error": "ValidationError", "message": "2 problems", "errors": errors})
    )
    with pytest.raises(ValidationError) as raised:
        call(tollgate)
    assert raised.value.field == "tags.environment"
    assert raised.value.fields == ["tags.environment", "prompt.parameters.temperature"]
    assert raised.value.errors == errors


def test_model_failure_is_invocation_failed_with_the_model_error() -> None:
    cause = {
        "error": "InvocationFailed",
        "message": "The model call failed: ThrottlingException: slow down",
        "stage": "invoke",
        "modelId": OUTPUT["modelId"],
        "modelError": {"code": "ThrottlingException", "message": "slow down"},
    }
    tollgate, _ = stubbed(failed("InvocationFailed", cause))
    with pytest.raises(InvocationFailed) as raised:
        call(tollgate)
    assert raised.value.model_error == {"code": "ThrottlingException", "message": "slow down"}
    assert raised.value.stage == "invoke"
    assert raised.value.charged_at_estimate is None


def test_an_unknown_outcome_says_it_was_charged_at_the_estimate() -> None:
    estimate = {"inputTokens": 10, "outputTokens": 100, "costUsd": 0.0004}
    cause = {
        "error": "InvocationFailed",
        "modelError": {"code": "ReadTimeout"},
        "chargedAtEstimate": estimate,
    }
    tollgate, _ = stubbed(failed("InvocationFailed", cause))
    with pytest.raises(InvocationFailed) as raised:
        call(tollgate)
    assert raised.value.charged_at_estimate == estimate


def test_an_error_outside_the_contract_is_execution_failed() -> None:
    tollgate, _ = stubbed(failed("States.Timeout", "not json"))
    with pytest.raises(ExecutionFailed) as raised:
        call(tollgate)
    assert raised.value.error == "States.Timeout"
    assert raised.value.cause == {"message": "not json"}


def test_a_refused_start_is_execution_failed_with_the_request_id_to_retry_with() -> None:
    sfn = sfn_client()
    stubber = Stubber(sfn)
    stubber.add_client_error("start_sync_execution", "AccessDeniedException", "no", 400)
    stubber.activate()
    with pytest.raises(ExecutionFailed) as raised:
        call(Tollgate(ARN, stepfunctions=sfn, workflow_type="EXPRESS"), requestId="mine")
    assert raised.value.error == "AccessDeniedException"
    assert raised.value.request_id == "mine"
    assert "mine" in str(raised.value)


# --- retries replay, never pay twice ----------------------------------------------------------


def test_the_client_sets_the_read_timeout_and_retry_mode() -> None:
    tollgate = Tollgate(ARN, region_name="us-east-1", workflow_type="EXPRESS")
    config = tollgate.stepfunctions.meta.config
    assert config.read_timeout == READ_TIMEOUT_SECONDS >= 300  # above the EXPRESS bound
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}


def test_an_sdk_retry_sends_the_same_request_id() -> None:
    """A real botocore client: the first attempt gets a 500, the retry succeeds. Both attempts carry
    one identical input, so the retry is a replay of the same request, not a second request."""
    tollgate = Tollgate(
        ARN, region_name="us-east-1", endpoint_url="http://localhost:1", workflow_type="EXPRESS"
    )
    bodies: list[dict[str, Any]] = []

    def send(request: Any, **_: Any) -> AWSResponse:
        bodies.append(json.loads(json.loads(request.body)["input"]))
        if len(bodies) == 1:
            return AWSResponse(request.url, 500, {}, _Raw(b'{"__type":"InternalServerError"}'))
        return AWSResponse(request.url, 200, {}, _Raw(json.dumps(succeeded()).encode()))

    tollgate.stepfunctions.meta.events.register("before-send.states.StartSyncExecution", send)
    tollgate.converse(modelId="nova-lite", messages=[{"role": "user", "content": "Hi"}], tags=TAGS)
    assert len(bodies) == 2
    assert bodies[0] == bodies[1]
    assert bodies[0]["requestId"]


def test_a_request_still_in_flight_is_waited_for_with_the_same_request_id() -> None:
    in_flight = {"error": "RateLimitExceeded", "reason": "duplicate_in_flight", "retryAfterSeconds": 1}
    tollgate, inputs = stubbed(
        failed("RateLimitExceeded", in_flight), succeeded({**OUTPUT, "replayed": True})
    )
    response = call(tollgate)
    assert response["tollgate"]["decision"] == "replay"
    assert len(inputs) == 2 and inputs[0] == inputs[1]


def test_two_calls_get_two_request_ids() -> None:
    tollgate, inputs = stubbed(succeeded(), succeeded())
    call(tollgate)
    call(tollgate)
    assert inputs[0]["requestId"] != inputs[1]["requestId"]


# --- STANDARD --------------------------------------------------------------------------------


def test_standard_starts_an_execution_named_after_the_request_id_and_polls() -> None:
    sfn = sfn_client()
    stubber = Stubber(sfn)
    execution = "arn:aws:states:us-east-1:123456789012:execution:tollgate:tg-r-9"
    stubber.add_response(
        "start_execution",
        {"executionArn": execution, "startDate": "2026-01-01T00:00:00Z"},
        {"stateMachineArn": ARN, "name": "tg-r-9", "input": ANY},
    )
    running = {
        "executionArn": execution,
        "stateMachineArn": ARN,
        "status": "RUNNING",
        "startDate": "2026-01-01T00:00:00Z",
    }
    stubber.add_response("describe_execution", running, {"executionArn": execution})
    done = {**running, "status": "SUCCEEDED", "output": json.dumps(OUTPUT)}
    stubber.add_response("describe_execution", done, {"executionArn": execution})
    stubber.activate()
    tollgate = Tollgate(ARN, stepfunctions=sfn, workflow_type="STANDARD", sleep=lambda _: None)
    assert call(tollgate, requestId="r-9")["usage"]["totalTokens"] == 17
    stubber.assert_no_pending_responses()


def test_standard_retry_of_a_closed_execution_reads_its_result() -> None:
    sfn = sfn_client()
    stubber = Stubber(sfn)
    stubber.add_client_error("start_execution", "ExecutionAlreadyExists", "exists", 400)
    execution = "arn:aws:states:us-east-1:123456789012:execution:tollgate:tg-r-9"
    done = {
        "executionArn": execution,
        "stateMachineArn": ARN,
        "status": "SUCCEEDED",
        "startDate": "2026-01-01T00:00:00Z",
        "output": json.dumps(OUTPUT),
    }
    stubber.add_response("describe_execution", done, {"executionArn": execution})
    stubber.activate()
    tollgate = Tollgate(ARN, stepfunctions=sfn, workflow_type="STANDARD", sleep=lambda _: None)
    assert call(tollgate, requestId="r-9")["tollgate"]["requestId"] == "r-1"


def test_workflow_type_is_asked_once_when_not_given() -> None:
    sfn = sfn_client()
    stubber = Stubber(sfn)
    described = {
        "stateMachineArn": ARN,
        "name": "tollgate",
        "definition": "{}",
        "roleArn": "arn:aws:iam::123456789012:role/r",
        "type": "EXPRESS",
        "creationDate": "2026-01-01T00:00:00Z",
    }
    stubber.add_response("describe_state_machine", described, {"stateMachineArn": ARN})
    stubber.add_response("start_sync_execution", succeeded(), {"stateMachineArn": ARN, "input": ANY})
    stubber.add_response("start_sync_execution", succeeded(), {"stateMachineArn": ARN, "input": ANY})
    stubber.activate()
    tollgate = Tollgate(ARN, stepfunctions=sfn)
    call(tollgate)
    call(tollgate)
    stubber.assert_no_pending_responses()


class _Raw:
    """The raw body botocore reads from an HTTP response."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body

    def read(self, *_: Any) -> bytes:
        body, self._body = self._body, b""
        return body
