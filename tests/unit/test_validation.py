import copy
import uuid
from decimal import Decimal

import pytest
from conftest import article_request, article_routes, at

from tollgate.routing import KIND_APPLICATION_PROFILE, Route
from tollgate.tokens import estimate_input_tokens
from tollgate.validation import ValidationOptions, validate_request

OPTIONS = ValidationOptions(
    allowed_environments=("dev", "staging", "prod", "production"),
    max_prompt_chars=1000,
    allow_direct_model_ids=False,
)
VALID_MODELS = "claude-2, claude-3-5-haiku, claude-3-5-sonnet-v2, claude-3-haiku, nova-lite, nova-micro"
PROFILE_ARN = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123xyz"


def run(request, catalogue, routes=None, options=OPTIONS, **kwargs):
    return validate_request(
        request, routes=routes or article_routes(), catalogue=catalogue, options=options, **kwargs
    )


def changed(path_value_pairs):
    request = article_request()
    for path, value in path_value_pairs:
        node = request
        *parents, leaf = path
        for key in parents:
            node = node[key]
        if value is DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    return request


DELETE = object()

BAD_REQUESTS = [
    (
        "missing applicationId",
        [(("tags", "applicationId"), DELETE)],
        "tags.applicationId",
        "tags.applicationId is required: it names the application making the call.",
    ),
    (
        "empty applicationId",
        [(("tags", "applicationId"), "  ")],
        "tags.applicationId",
        "tags.applicationId must not be empty.",
    ),
    (
        "missing messages",
        [(("prompt", "messages"), DELETE)],
        "prompt.messages",
        "prompt.messages is required: a list of {role, content} messages.",
    ),
    (
        "empty messages",
        [(("prompt", "messages"), [])],
        "prompt.messages",
        "prompt.messages must be a non-empty list of {role, content} messages.",
    ),
    (
        "unknown role",
        [(("prompt", "messages", 1, "role"), "robot")],
        "prompt.messages[1].role",
        "Unknown role 'robot': a role is system, user or assistant.",
    ),
    (
        "non-string content",
        [(("prompt", "messages", 0, "content"), ["text"])],
        "prompt.messages[0].content",
        "prompt.messages[0].content must be a string (the text of the message).",
    ),
    (
        "blank content",
        [(("prompt", "messages", 0, "content"), "")],
        "prompt.messages[0].content",
        "prompt.messages[0].content is empty: a message needs some text.",
    ),
    (
        "message that is not an object",
        [(("prompt", "messages", 1), "hello")],
        "prompt.messages[1]",
        "prompt.messages[1] must be an object with role and content.",
    ),
    (
        "unknown message field",
        [(("prompt", "messages", 0, "name"), "bob")],
        "prompt.messages[0].name",
        "Unknown field 'name': a message has only role and content.",
    ),
    (
        "conversation starting with the assistant",
        [(("prompt", "messages", 0, "role"), "assistant"), (("prompt", "messages", 1, "role"), "user")],
        "prompt.messages[0].role",
        "The first message after any system messages must have role user: "
        "a conversation starts with the user.",
    ),
    (
        "only system messages",
        [(("prompt", "messages"), [{"role": "system", "content": "Be brief."}])],
        "prompt.messages",
        "prompt.messages has only system messages: it needs a user message.",
    ),
    (
        "max_tokens zero",
        [(("prompt", "parameters", "max_tokens"), 0)],
        "prompt.parameters.max_tokens",
        "max_tokens must be a whole number between 1 and 8192 for model 'claude-3-5-haiku'.",
    ),
    (
        "max_tokens above the model's maximum",
        [(("prompt", "parameters", "max_tokens"), 8193)],
        "prompt.parameters.max_tokens",
        "max_tokens must be a whole number between 1 and 8192 for model 'claude-3-5-haiku'.",
    ),
    (
        "max_tokens as text",
        [(("prompt", "parameters", "max_tokens"), "2000")],
        "prompt.parameters.max_tokens",
        "max_tokens must be a whole number between 1 and 8192 for model 'claude-3-5-haiku'.",
    ),
    (
        "max_tokens as a boolean",
        [(("prompt", "parameters", "max_tokens"), True)],
        "prompt.parameters.max_tokens",
        "max_tokens must be a whole number between 1 and 8192 for model 'claude-3-5-haiku'.",
    ),
    (
        "temperature above 1",
        [(("prompt", "parameters", "temperature"), 1.5)],
        "prompt.parameters.temperature",
        "temperature must be a number between 0 and 1.",
    ),
    (
        "negative top_p",
        [(("prompt", "parameters", "top_p"), -0.1)],
        "prompt.parameters.top_p",
        "top_p must be a number between 0 and 1.",
    ),
    (
        "negative top_k",
        [(("prompt", "parameters", "top_k"), -1)],
        "prompt.parameters.top_k",
        "top_k must be a whole number, 0 or more.",
    ),
    (
        "fractional top_k",
        [(("prompt", "parameters", "top_k"), 2.5)],
        "prompt.parameters.top_k",
        "top_k must be a whole number, 0 or more.",
    ),
    (
        "unknown parameter",
        [(("prompt", "parameters", "stop"), ["\n"])],
        "prompt.parameters.stop",
        "Unknown parameter 'stop': the parameters are max_tokens, temperature, top_p and top_k.",
    ),
    (
        "environment not allowed",
        [(("tags", "environment"), "qa")],
        "tags.environment",
        "Environment 'qa' is not allowed: use dev, staging, prod or production.",
    ),
    (
        "tag value with a character outside the AWS tag rules",
        [(("tags", "costCenter"), "sales#1")],
        "tags.costCenter",
        "tags.costCenter may contain only letters, digits, spaces and _ . : / = + - @ (AWS tag rules).",
    ),
    (
        "tag value longer than AWS allows",
        [(("tags", "applicationId"), "a" * 257)],
        "tags.applicationId",
        "tags.applicationId is 257 characters long; a tag value has at most 256.",
    ),
    (
        "tag value that is not a string",
        [(("tags", "costCenter"), 42)],
        "tags.costCenter",
        "tags.costCenter must be a string.",
    ),
    (
        "unknown tag key",
        [(("tags", "aws:team"), "x")],
        "tags.aws:team",
        "Unknown tag 'aws:team': the tags are applicationId, costCenter and environment.",
    ),
    (
        "unknown model alias",
        [(("model",), "gpt-4")],
        "model",
        f"Unknown model 'gpt-4'. Valid models are: {VALID_MODELS}.",
    ),
    (
        "missing model",
        [(("model",), DELETE)],
        "model",
        f"model is required: name one of the routes {VALID_MODELS}.",
    ),
    (
        "unknown top-level field",
        [(("priority",), "high")],
        "priority",
        "Unknown field 'priority': a request has only model, prompt, tags and requestId.",
    ),
    (
        "missing tags",
        [(("tags",), DELETE)],
        "tags",
        "tags is required: an object with applicationId and optional costCenter and environment.",
    ),
    (
        "prompt that is not an object",
        [(("prompt",), "hello")],
        "prompt",
        "prompt must be an object with messages and optional parameters.",
    ),
    (
        "malformed requestId",
        [(("requestId",), "has spaces in it")],
        "requestId",
        "requestId must be 1 to 128 characters of letters, digits and _ . : - "
        "(leave it out and Tollgate generates a UUID).",
    ),
    (
        "prompt over the size limit",
        [(("prompt", "messages", 0, "content"), "x" * 990)],
        "prompt.messages",
        "The messages hold 1019 characters in all; the limit is 1000.",
    ),
]


@pytest.mark.parametrize(
    ("case", "changes", "field", "message"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
def test_a_bad_request_is_reported_with_its_field_and_rule(catalogue, case, changes, field, message):
    result = run(changed(changes), catalogue)
    assert result.valid is False
    assert result.context["errors"] == [{"field": field, "message": message}]


def test_the_articles_request_passes_unchanged(catalogue):
    request = article_request()
    original = copy.deepcopy(request)
    result = run(request, catalogue, now=at("2025-01-31T14:05:26.854682Z"), new_request_id=lambda: "req-1")
    assert request == original
    context = result.context
    assert context["valid"] is True
    assert context["requestId"] == "req-1"
    assert context["timestamp"] == "2025-01-31T14:05:26.854682Z"
    assert context["route"] == "claude-3-5-haiku"
    assert context["kind"] == "model"
    assert context["modelId"] == "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert context["modelMetric"] == context["modelId"]
    assert context["family"] == "anthropic"
    assert context["tags"] == original["tags"]
    assert context["dimensions"] == {
        "Model": "claude-3-5-haiku",
        "ModelId": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "CostCenter": "support",
        "Application": "aws-documentation-helper",
        "Environment": "production",
    }
    # The geographic prefix is dropped to find the price of the model behind the system profile.
    assert context["prices"] == {
        "inputUsdPer1k": 0.0008,
        "outputUsdPer1k": 0.004,
        "cacheReadUsdPer1k": 0.00008,
        "cacheWriteUsdPer1k": 0.001,
    }
    estimated = estimate_input_tokens(m["content"] for m in original["prompt"]["messages"])
    assert context["estimate"]["inputTokens"] == estimated
    assert context["estimate"]["outputTokens"] == 2000
    assert context["estimate"]["totalTokens"] == estimated + 2000
    expected_cost = (Decimal("0.0008") * estimated + Decimal("0.004") * 2000) / 1000
    assert Decimal(str(context["estimate"]["costUsd"])) == expected_cost


def test_every_problem_is_listed_not_only_the_first(catalogue):
    request = changed(
        [
            (("model",), "nope"),
            (("tags", "applicationId"), DELETE),
            (("prompt", "parameters", "temperature"), 3),
            (("prompt", "messages", 1, "role"), "bot"),
            (("extra",), 1),
        ]
    )
    fields = [e["field"] for e in run(request, catalogue).context["errors"]]
    assert sorted(fields) == sorted(
        ["extra", "model", "prompt.messages[1].role", "prompt.parameters.temperature", "tags.applicationId"]
    )


def test_a_request_that_is_not_an_object_is_an_error_not_a_crash(catalogue):
    result = run(["model"], catalogue)
    assert result.context["errors"][0] == {
        "field": "request",
        "message": "The request must be a JSON object with model, prompt and tags.",
    }


def test_dimension_values_are_bounded_for_invalid_input(catalogue):
    request = changed(
        [(("model",), "nope"), (("tags", "costCenter"), "bad#value"), (("tags", "environment"), DELETE)]
    )
    dimensions = run(request, catalogue).context["dimensions"]
    assert dimensions == {
        "Model": "invalid",
        "ModelId": "invalid",
        "CostCenter": "invalid",
        "Application": "aws-documentation-helper",
        "Environment": "unspecified",
    }


def test_an_invalid_context_keeps_a_callers_request_id(catalogue):
    result = run(changed([(("requestId",), "my-id-1"), (("model",), "nope")]), catalogue)
    assert result.context["requestId"] == "my-id-1"
    assert result.context["valid"] is False


def test_a_generated_request_id_is_a_uuid(catalogue):
    request_id = run(article_request(), catalogue).context["requestId"]
    assert str(uuid.UUID(request_id)) == request_id


def test_optional_tags_and_parameters_may_be_left_out(catalogue):
    request = {
        "model": "nova-lite",
        "prompt": {"messages": [{"role": "user", "content": "Hi"}]},
        "tags": {"applicationId": "app"},
    }
    context = run(request, catalogue).context
    assert context["valid"] is True
    assert context["tags"] == {"applicationId": "app"}
    assert context["dimensions"]["CostCenter"] == "unspecified"
    assert context["dimensions"]["Environment"] == "unspecified"
    # No max_tokens: the model's default is used and reserved.
    assert context["converse"]["inferenceConfig"] == {"maxTokens": 1024}
    assert context["estimate"]["outputTokens"] == 1024


def test_a_cost_center_route_resolves_to_its_application_profile(catalogue):
    routes = {
        **article_routes(),
        "sales": Route(
            name="sales",
            kind=KIND_APPLICATION_PROFILE,
            model_id=PROFILE_ARN,
            base_model_id="anthropic.claude-3-haiku-20240307-v1:0",
            base_route="claude-3-haiku",
            output_usd_per_1k=Decimal("0.002"),
        ),
    }
    context = run(changed([(("model",), "sales")]), catalogue, routes=routes).context
    assert context["valid"] is True
    assert context["modelId"] == PROFILE_ARN
    assert context["modelMetric"] == "abc123xyz"
    assert context["dimensions"]["ModelId"] == "abc123xyz"
    assert context["baseRoute"] == "claude-3-haiku"
    # The route overrides the output price; the input and cache prices come from the catalogue.
    assert context["prices"] == {
        "inputUsdPer1k": 0.00025,
        "outputUsdPer1k": 0.002,
        "cacheReadUsdPer1k": 0.00025,
        "cacheWriteUsdPer1k": 0.00025,
    }
    # claude-3-haiku allows 4096 output tokens, so the article's 2000 passes.
    assert context["converse"]["inferenceConfig"]["maxTokens"] == 2000


def test_direct_model_ids_only_when_allowed(catalogue):
    request = changed([(("model",), "amazon.nova-lite-v1:0")])
    refused = run(request, catalogue).context
    assert refused["errors"][0]["field"] == "model"
    allowed = ValidationOptions(
        OPTIONS.allowed_environments, OPTIONS.max_prompt_chars, allow_direct_model_ids=True
    )
    context = run(request, catalogue, options=allowed).context
    assert context["valid"] is True
    assert context["route"] == "nova-lite"
    assert context["modelId"] == "amazon.nova-lite-v1:0"


def test_a_route_without_a_price_is_refused(catalogue):
    routes = {
        "mystery": Route(
            name="mystery",
            kind="model",
            model_id="cohere.command-r-v1:0",
            base_model_id="cohere.command-r-v1:0",
        )
    }
    result = run(changed([(("model",), "mystery")]), catalogue, routes=routes)
    assert result.context["errors"][0]["field"] == "model"
    assert "has no price" in result.context["errors"][0]["message"]


def test_a_family_without_top_k_drops_it(catalogue):
    routes = {
        "llama": Route(
            name="llama",
            kind="model",
            model_id="meta.llama3-1-8b-instruct-v1:0",
            base_model_id="meta.llama3-1-8b-instruct-v1:0",
        )
    }
    result = run(changed([(("model",), "llama")]), catalogue, routes=routes)
    assert result.valid is True
    assert result.dropped_parameters == ["top_k"]
    assert "additionalModelRequestFields" not in result.context["converse"]


def test_a_flood_of_problems_is_reported_in_a_bounded_list(catalogue):
    messages = [{"role": "robot", "content": "x"} for _ in range(1000)]
    errors = run(changed([(("prompt", "messages"), messages)]), catalogue).context["errors"]
    assert len(errors) == 26
    assert errors[0]["field"] == "prompt.messages[0].role"
    assert errors[-1] == {"field": "request", "message": "... and 975 more problems of the same kinds."}


def test_a_request_over_max_request_bytes_names_the_field_and_the_rule(catalogue):
    """72,000 CJK characters are 216,000 bytes: under a character limit, over the byte limit."""
    request = article_request()
    request["prompt"]["messages"][0]["content"] = "漢" * 72_000
    options = ValidationOptions(OPTIONS.allowed_environments, 100_000, False, max_request_bytes=98_304)
    result = run(request, catalogue, options=options)
    assert not result.valid
    (error,) = result.context["errors"]
    assert error["field"] == "request"
    assert "bytes as UTF-8 JSON; the limit is 98304 bytes (max_request_bytes)" in error["message"]


def test_a_request_of_exactly_max_request_bytes_is_valid(catalogue):
    from tollgate.payload import json_bytes

    request = article_request()
    size = json_bytes(request)
    options = ValidationOptions(OPTIONS.allowed_environments, 100_000, False, max_request_bytes=size)
    assert run(request, catalogue, options=options).valid
    options = ValidationOptions(OPTIONS.allowed_environments, 100_000, False, max_request_bytes=size - 1)
    assert not run(request, catalogue, options=options).valid


def test_error_messages_quote_long_values_cut_short(catalogue):
    request = article_request()
    request["model"] = "m" * 5000
    request["x" * 5000] = 1
    errors = run(request, catalogue).context["errors"]
    assert all(len(e["field"]) < 100 and len(e["message"]) < 400 for e in errors)
