"""input_token_estimate: heuristic (default), utf8_bytes (an upper bound), count_tokens (exact where
Bedrock counts, utf8_bytes elsewhere)."""

import boto3
import pytest
from botocore.stub import Stubber
from conftest import article_request, article_routes, use_env
from lambda_context import LAMBDA_CONTEXT
from test_validation import OPTIONS

from tollgate.bedrock import TokenCounter
from tollgate.handlers import validate
from tollgate.routing import default_routes
from tollgate.tokens import estimate_input_tokens, utf8_bytes_input_tokens
from tollgate.validation import ValidationOptions, validate_request


def estimate(catalogue, method, request=None, count_tokens=None):
    options = ValidationOptions(OPTIONS.allowed_environments, 100_000, False, input_token_estimate=method)
    result = validate_request(
        request or article_request(),
        routes={**default_routes(catalogue), **article_routes()},
        catalogue=catalogue,
        options=options,
        count_tokens=count_tokens,
    )
    assert result.valid, result.context
    return result.context["estimate"]["inputTokens"]


@pytest.mark.parametrize(
    "text",
    ["1234567890" * 30, "漢字かな한글" * 20, "😀" * 50, "The quick brown fox.", "x=[1,2,3]; y={'a': 1}"],
)
def test_utf8_bytes_is_never_below_the_heuristic_and_counts_every_byte(text):
    assert utf8_bytes_input_tokens([text]) == 3 + 4 + len(text.encode("utf-8"))
    assert utf8_bytes_input_tokens([text]) >= estimate_input_tokens([text])


def test_the_default_is_the_heuristic(catalogue):
    contents = [m["content"] for m in article_request()["prompt"]["messages"]]
    assert estimate(catalogue, "heuristic") == estimate_input_tokens(contents) == 39


def test_utf8_bytes_reserves_by_bytes(catalogue):
    contents = [m["content"] for m in article_request()["prompt"]["messages"]]
    assert estimate(catalogue, "utf8_bytes") == utf8_bytes_input_tokens(contents) == 3 + 8 + 54 + 29


def test_count_tokens_asks_bedrock_for_claude_with_the_foundation_model_id(catalogue):
    calls = []

    def count(model_id, body):
        calls.append((model_id, body))
        return 17

    assert estimate(catalogue, "count_tokens", count_tokens=count) == 17
    ((model_id, body),) = calls
    assert model_id == "anthropic.claude-3-5-haiku-20241022-v1:0"  # us. profile -> its model
    assert body["messages"][0]["content"] == [
        {"text": "Explain the benefits of using S3 using only 100 words."}
    ]
    assert set(body) == {"messages"}


def test_count_tokens_falls_back_to_utf8_bytes_where_bedrock_cannot_count(catalogue):
    nova = {**article_request(), "model": "nova-lite"}
    contents = [m["content"] for m in nova["prompt"]["messages"]]

    def never(model_id, body):
        raise AssertionError("Nova does not support CountTokens: it must not be asked")

    assert estimate(catalogue, "count_tokens", nova, count_tokens=never) == utf8_bytes_input_tokens(contents)
    assert estimate(catalogue, "count_tokens", count_tokens=lambda m, b: None) == 94


def test_token_counter_remembers_a_model_that_cannot_count():
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    fallbacks = []
    counter = TokenCounter(client, on_fallback=lambda model_id, reason: fallbacks.append(reason))
    body = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    with Stubber(client) as stub:
        stub.add_response("count_tokens", {"inputTokens": 11}, {"modelId": "m1", "input": {"converse": body}})
        stub.add_client_error("count_tokens", service_error_code="ValidationException", http_status_code=400)
        stub.add_client_error("count_tokens", service_error_code="ThrottlingException", http_status_code=429)
        assert counter("m1", body) == 11
        assert counter("m2", body) is None
        assert counter("m2", body) is None  # not asked again: the stub holds no response for it
        assert counter("m3", body) is None  # throttled: asked again next time
        stub.assert_no_pending_responses()
    assert counter.unsupported == {"m2"}
    assert len(fallbacks) == 2


def test_token_counter_survives_an_sdk_without_count_tokens():
    counter = TokenCounter(object())
    assert counter("m", {"messages": []}) is None


def test_the_validate_handler_uses_count_tokens_when_configured(article_routing, table, monkeypatch):
    from tollgate import clients
    from tollgate.handlers import validate as module

    use_env(monkeypatch, TOLLGATE_INPUT_TOKEN_ESTIMATE="count_tokens")
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    monkeypatch.setattr(clients, "bedrock_runtime", lambda read_timeout: client)
    monkeypatch.setattr(module, "_counter", None)
    with Stubber(client) as stub:
        stub.add_response("count_tokens", {"inputTokens": 23})
        result = validate.handler({"request": article_request(), "executionId": "e"}, LAMBDA_CONTEXT)
    assert result["estimate"]["inputTokens"] == 23


def test_an_unknown_estimate_method_names_the_variable(monkeypatch):
    from tollgate.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="TOLLGATE_INPUT_TOKEN_ESTIMATE is 'tiktoken'; it must be one of"):
        Settings.from_env({"TOLLGATE_INPUT_TOKEN_ESTIMATE": "tiktoken"})
