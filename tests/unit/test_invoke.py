"""Converse mapping per model family and error classification, against botocore's Stubber."""

import json

import pytest
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from conftest import article_request, article_routes, converse_response
from lambda_context import LAMBDA_CONTEXT

from tollgate import clients
from tollgate.bedrock import (
    MODEL_ATTEMPTS,
    ModelInvocationError,
    ModelOutcomeUnknown,
    ModelThrottled,
    ModelUnavailable,
    classify_error,
    read_timeout_seconds,
)
from tollgate.converse import build_converse_request
from tollgate.handlers import invoke
from tollgate.routing import Route
from tollgate.validation import ValidationOptions, validate_request

OPTIONS = ValidationOptions(("production",), 100_000, False)


@pytest.fixture
def no_wait(monkeypatch):
    """The waits between model calls, recorded instead of slept."""
    waits = []
    monkeypatch.setattr("tollgate.bedrock.wait_before_retry", waits.append)
    return waits


def context_for(catalogue, model, routes=None, **request_changes):
    request = {**article_request(), "model": model, "requestId": "req-1", **request_changes}
    result = validate_request(
        request, routes=routes or article_routes(), catalogue=catalogue, options=OPTIONS
    )
    assert result.valid, result.context
    return result.context


MESSAGES = [
    {"role": "user", "content": [{"text": "Explain the benefits of using S3 using only 100 words."}]},
    {"role": "assistant", "content": [{"text": "You are a helpful AWS expert."}]},
]
METADATA = {
    "requestId": "req-1",
    "applicationId": "aws-documentation-helper",
    "costCenter": "support",
    "environment": "production",
}


def test_anthropic_gets_top_k_as_top_k(catalogue, bedrock):
    context = context_for(catalogue, "claude-3-5-haiku")
    bedrock.add_response(
        "converse",
        converse_response(),
        {
            "modelId": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            "messages": MESSAGES,
            "inferenceConfig": {"maxTokens": 2000, "temperature": 0.7, "topP": 0.9},
            "additionalModelRequestFields": {"top_k": 50},
            "requestMetadata": METADATA,
        },
    )
    output = invoke.handler({"context": context}, LAMBDA_CONTEXT)
    assert output["response"] == {"text": "S3 is durable.", "stopReason": "end_turn"}


def test_nova_gets_top_k_inside_inference_config(catalogue, bedrock):
    context = context_for(catalogue, "nova-lite")
    bedrock.add_response(
        "converse",
        converse_response(),
        {
            "modelId": "amazon.nova-lite-v1:0",
            "messages": MESSAGES,
            "inferenceConfig": {"maxTokens": 2000, "temperature": 0.7, "topP": 0.9},
            "additionalModelRequestFields": {"inferenceConfig": {"topK": 50}},
            "requestMetadata": METADATA,
        },
    )
    invoke.handler({"context": context}, LAMBDA_CONTEXT)


def test_a_family_without_top_k_sends_none(catalogue, bedrock):
    routes = {
        "llama": Route(
            name="llama",
            kind="model",
            model_id="meta.llama3-1-8b-instruct-v1:0",
            base_model_id="meta.llama3-1-8b-instruct-v1:0",
        )
    }
    context = context_for(catalogue, "llama", routes=routes)
    bedrock.add_response(
        "converse",
        converse_response(),
        {
            "modelId": "meta.llama3-1-8b-instruct-v1:0",
            "messages": MESSAGES,
            "inferenceConfig": {"maxTokens": 2000, "temperature": 0.7, "topP": 0.9},
            "requestMetadata": METADATA,
        },
    )
    invoke.handler({"context": context}, LAMBDA_CONTEXT)


def test_system_messages_go_to_system_and_turns_of_one_role_are_joined(catalogue, bedrock):
    prompt = {
        "messages": [
            {"role": "system", "content": "You are a helpful AWS expert."},
            {"role": "user", "content": "Hi."},
            {"role": "user", "content": "What is S3?"},
            {"role": "assistant", "content": "Object storage."},
            {"role": "system", "content": "Answer in one line."},
            {"role": "user", "content": "And EBS?"},
        ]
    }
    context = context_for(catalogue, "claude-3-haiku", prompt=prompt)
    bedrock.add_response(
        "converse",
        converse_response(),
        {
            "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
            "system": [{"text": "You are a helpful AWS expert."}, {"text": "Answer in one line."}],
            "messages": [
                {"role": "user", "content": [{"text": "Hi."}, {"text": "What is S3?"}]},
                {"role": "assistant", "content": [{"text": "Object storage."}]},
                {"role": "user", "content": [{"text": "And EBS?"}]},
            ],
            # No parameters: maxTokens is still sent, the model's default, which is what was reserved.
            "inferenceConfig": {"maxTokens": 1024},
            "requestMetadata": METADATA,
        },
    )
    invoke.handler({"context": context}, LAMBDA_CONTEXT)
    assert context["estimate"]["outputTokens"] == 1024


def test_the_success_output_carries_usage_cost_and_latency(catalogue, bedrock):
    context = context_for(catalogue, "claude-3-5-haiku")
    bedrock.add_response(
        "converse",
        converse_response(
            input_tokens=1000, output_tokens=500, cacheReadInputTokens=200, cacheWriteInputTokens=0
        ),
    )
    output = invoke.handler({"context": context}, LAMBDA_CONTEXT)
    assert output["requestId"] == "req-1"
    assert output["model"] == "claude-3-5-haiku"
    assert output["modelId"] == output["modelMetric"] == "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert output["tags"] == article_request()["tags"]
    assert output["usage"] == {
        "inputTokens": 1000,
        "outputTokens": 500,
        "totalTokens": 1500,
        "cacheReadInputTokens": 200,
        "cacheWriteInputTokens": 0,
    }
    # 1000 input x 0.0008 + 200 cache read x 0.00008 (a tenth of input) + 500 output x 0.004, per 1,000
    assert output["costUsd"] == pytest.approx(0.0008 + 0.000016 + 0.002, abs=1e-12)
    assert isinstance(output["latencyMs"], int) and output["latencyMs"] >= 0
    assert json.loads(json.dumps(output)) == output


@pytest.mark.parametrize(
    ("code", "status", "error_class", "retryable", "may_have_run"),
    [
        ("ThrottlingException", 429, "ModelThrottled", True, False),
        ("ServiceQuotaExceededException", 400, "ModelThrottled", True, False),
        ("TooManyRequestsException", 429, "ModelThrottled", True, False),
        # A 5xx after the request was sent: the model may have run (never retried, charged).
        ("InternalServerException", 500, "ModelOutcomeUnknown", False, True),
        ("ServiceUnavailableException", 503, "ModelUnavailable", True, False),
        ("ModelNotReadyException", 429, "ModelUnavailable", True, False),
        ("SomethingNew", 502, "ModelOutcomeUnknown", False, True),
        ("ModelTimeoutException", 408, "ModelOutcomeUnknown", False, True),
        ("ValidationException", 400, "ModelInvocationError", False, False),
        ("AccessDeniedException", 403, "ModelInvocationError", False, False),
        ("ResourceNotFoundException", 404, "ModelInvocationError", False, False),
        ("ModelErrorException", 424, "ModelInvocationError", False, False),
    ],
)
def test_model_errors_are_classified_for_the_state_machine(
    catalogue, bedrock, no_wait, code, status, error_class, retryable, may_have_run
):
    context = context_for(catalogue, "nova-lite")
    # a did-not-run error is retried inside the function: it ends in it when every attempt did
    for _ in range(MODEL_ATTEMPTS if retryable else 1):
        bedrock.add_client_error(
            "converse", service_error_code=code, service_message="model said no", http_status_code=status
        )
    with pytest.raises(Exception) as raised:
        invoke.handler({"context": context}, LAMBDA_CONTEXT)
    assert type(raised.value).__name__ == error_class
    assert json.loads(str(raised.value)) == {
        "code": code,
        "message": "model said no",
        "modelId": "amazon.nova-lite-v1:0",
        "retryable": retryable,
        "mayHaveRun": may_have_run,
    }


def test_an_unknown_code_is_classified_by_its_http_status():
    from botocore.exceptions import ClientError

    def error(status):
        return ClientError(
            {"Error": {"Code": "New"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Converse"
        )

    assert type(classify_error(error(429), "m")) is ModelThrottled
    assert type(classify_error(error(503), "m")) is ModelUnavailable
    assert type(classify_error(error(504), "m")) is ModelOutcomeUnknown
    assert type(classify_error(error(400), "m")) is ModelInvocationError


@pytest.mark.parametrize(
    "error",
    [
        ReadTimeoutError(endpoint_url="https://bedrock"),
        ConnectionClosedError(endpoint_url="https://bedrock"),
    ],
)
def test_a_lost_answer_may_have_run_and_is_not_retried(error):
    """Before: ModelTimeout, retried and then released, although Bedrock generated (and billed) it."""
    classified = classify_error(error, "amazon.nova-lite-v1:0")
    assert type(classified) is ModelOutcomeUnknown
    assert json.loads(str(classified))["retryable"] is False
    assert json.loads(str(classified))["mayHaveRun"] is True


@pytest.mark.parametrize(
    "error",
    [
        ConnectTimeoutError(endpoint_url="https://bedrock"),
        EndpointConnectionError(endpoint_url="https://bedrock"),
    ],
)
def test_a_request_that_never_connected_did_not_run(error):
    classified = classify_error(error, "amazon.nova-lite-v1:0")
    assert type(classified) is ModelUnavailable
    assert classified.retryable is True and classified.may_have_run is False


def test_the_read_timeout_is_sized_from_max_tokens_and_fits_the_function():
    assert read_timeout_seconds(2000, None, None) == 60  # 20 s + 2000 / 50
    assert read_timeout_seconds(8192, None, None) == 184
    assert read_timeout_seconds(10, None, None) == 30  # the floor
    assert read_timeout_seconds(8192, 45, None) == 45  # the variable overrides the sizing
    assert read_timeout_seconds(8192, None, 100.0) == 95  # never past what the function has left


def test_anything_else_is_final():
    classified = classify_error(RuntimeError("boom"), "m")
    assert type(classified) is ModelInvocationError
    assert classified.retryable is False
    assert ModelThrottled.retryable and ModelUnavailable.retryable


def test_max_tokens_is_always_sent():
    request = build_converse_request(
        [{"role": "user", "content": "x"}], {}, max_tokens=77, top_k_path="top_k"
    )
    assert request.arguments["inferenceConfig"] == {"maxTokens": 77}
    assert "additionalModelRequestFields" not in request.arguments


def test_the_bedrock_client_does_not_retry_by_itself():
    client = clients.bedrock_runtime(7)
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert client.meta.config.read_timeout == 7
