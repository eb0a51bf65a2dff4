"""No state of an execution outgrows Step Functions' 256 KiB (States.DataLimitExceeded is not caught
by States.ALL): the largest valid request, the longest response, every path, the real handlers'
outputs, the data flow of asl/tollgate.asl.json (tests/unit/asl_flow.py)."""

from __future__ import annotations

import pytest
from asl_flow import execute
from conftest import article_routes, converse_response, put_limit, put_route, use_env
from lambda_context import LAMBDA_CONTEXT

from tollgate.catalogue import load_catalogue
from tollgate.handlers import invoke, rate_limit, record_metrics, validate
from tollgate.limits import UNITS, WINDOWS
from tollgate.payload import (
    REPLAY_MAX_BYTES,
    REQUEST_BYTES_MAX,
    STATE_LIMIT_BYTES,
    json_bytes,
    response_budget_bytes,
)
from tollgate.routing import default_routes, resolve

HANDLERS = {
    "validate_function_arn": lambda event: validate.handler(event, LAMBDA_CONTEXT),
    "rate_limit_function_arn": lambda event: rate_limit.handler(event, LAMBDA_CONTEXT),
    "invoke_function_arn": lambda event: invoke.handler(event, LAMBDA_CONTEXT),
    "record_metrics_function_arn": lambda event: record_metrics.handler(event, LAMBDA_CONTEXT),
}
# Text that costs the most bytes per character in JSON: 3-byte CJK, 4-byte emoji, escaped quotes,
# backslashes and newlines, 6-byte escaped control characters.
HEAVY = '漢字かな한글😀"\\\n\u0001'
TAG = "a" * 256


def all_routes() -> dict:
    """The module's default routes and the article's, as the LocalStack example deploys them."""
    return {**default_routes(load_catalogue()), **article_routes()}


@pytest.fixture(autouse=True)
def routing(table):
    for name, route in all_routes().items():
        put_route(table, name, kind=route.kind, modelId=route.model_id, baseModelId=route.base_model_id)


def largest_route() -> tuple[str, int]:
    catalogue = load_catalogue()
    routes = {name: resolve(r, catalogue).max_tokens for name, r in all_routes().items()}
    name = max(routes, key=routes.get)
    return name, routes[name]


def largest_request(max_bytes: int, route: tuple[str, int] | None = None) -> dict:
    """A valid request of exactly ``max_bytes`` bytes of UTF-8 JSON, everything at its maximum."""
    model, max_tokens = route or largest_route()
    request = {
        "model": model,
        "requestId": "r" * 128,
        "prompt": {
            "messages": [
                {"role": "system", "content": "S"},
                {"role": "user", "content": "U"},
                {"role": "assistant", "content": "A"},
                {"role": "user", "content": "U"},
            ],
            "parameters": {"max_tokens": max_tokens, "temperature": 0.7, "top_k": 50},
        },
        "tags": {"applicationId": TAG, "costCenter": TAG, "environment": "production"},
    }
    messages = request["prompt"]["messages"]
    per_message = (max_bytes - json_bytes(request)) // len(messages)
    for message in messages:
        while json_bytes(message["content"]) - 2 + json_bytes(HEAVY) - 2 <= per_message:
            message["content"] += HEAVY
    while json_bytes(request) < max_bytes:
        messages[-1]["content"] += "x"
    assert json_bytes(request) == max_bytes
    return request


@pytest.fixture
def limits(table):
    """Twenty limits that every request matches: a counter each in the reservation."""
    for window in WINDOWS:
        for unit in UNITS:
            put_limit(
                table,
                f"every-application-{window}-{unit}",
                scope={"applicationId": "*", "costCenter": "*"},
                window=window,
                unit=unit,
                limit=10**12,
            )
    return table


def report(label: str, run) -> None:
    state, what, size = run.largest()
    print(
        f"{label:<46} largest: {state} {what} "
        f"{size:,} bytes ({size / STATE_LIMIT_BYTES:.0%} of 256 KiB); end {run.end}"
    )


def assert_fits(run) -> None:
    over = [(s, w, n) for s, w, n in run.measured if n >= STATE_LIMIT_BYTES]
    assert not over, over


@pytest.mark.parametrize("max_request_bytes", [None, REQUEST_BYTES_MAX])
def test_the_largest_request_and_the_longest_response_fit_in_every_state(
    max_request_bytes, limits, bedrock, monkeypatch, capsys
):
    if max_request_bytes:
        use_env(monkeypatch, TOLLGATE_MAX_REQUEST_BYTES=str(max_request_bytes))
    from tollgate.settings import get_settings

    size = get_settings().max_request_bytes
    request = largest_request(size)
    _, max_tokens = largest_route()
    # Far more than any tokenizer makes of max_tokens tokens: invoke must cut it to its budget.
    text = HEAVY * (2 * STATE_LIMIT_BYTES // len(HEAVY))
    bedrock.add_response(
        "converse", converse_response(text=text, input_tokens=40_000, output_tokens=max_tokens)
    )

    first = execute(request, HANDLERS, "exec-1")
    assert first.end == "Succeeded"
    assert "DropPrompt" in first.path
    response = first.output["response"]
    assert response["truncated"] is True
    assert json_bytes(response["text"]) - 2 <= response_budget_bytes(size)
    assert text.startswith(response["text"])
    assert first.output["usage"]["outputTokens"] == max_tokens  # settled at the real usage
    assert "replayable" not in first.output
    assert_fits(first)

    # The same requestId again: answered once, too large to store, so the replay says so.
    replay = execute(request, HANDLERS, "exec-2")
    assert replay.end == "Failed"
    assert "too large" in replay.output["Cause"] or "larger than" in replay.output["Cause"]
    assert_fits(replay)

    with capsys.disabled():
        print()
        report(f"request {size:,} B, cut response: success", first)
        report(f"request {size:,} B, cut response: replay", replay)


def test_a_realistic_longest_response_is_answered_stored_and_replayed(limits, bedrock, capsys):
    """8,192 output tokens (the article's largest routes), one CJK character (3 bytes) a token: not
    cut, and stored. (Routes with 64k output tokens can produce more than the state holds: the
    response is then cut, as test_the_largest_request_and_the_longest_response_fit_in_every_state
    shows.)"""
    route = ("claude-3-5-haiku", 8192)
    assert resolve(all_routes()[route[0]], load_catalogue()).max_tokens == route[1]
    request = largest_request(98_304, route)
    _, max_tokens = route
    text = "漢" * max_tokens
    bedrock.add_response(
        "converse", converse_response(text=text, input_tokens=40_000, output_tokens=max_tokens)
    )
    first = execute(request, HANDLERS, "exec-1")
    assert first.end == "Succeeded"
    assert first.output["response"]["text"] == text
    assert "truncated" not in first.output["response"]
    replay = execute(request, HANDLERS, "exec-2")
    assert replay.end == "Succeeded"
    assert replay.output == {**first.output, "replayed": True}
    assert_fits(first)
    assert_fits(replay)
    with capsys.disabled():
        report(f"request 98,304 B, {max_tokens} CJK tokens: success", first)
        report(f"request 98,304 B, {max_tokens} CJK tokens: replay", replay)


def test_a_response_over_the_replay_cap_is_answered_and_settled_but_not_stored(limits, bedrock, table):
    request = largest_request(4096)
    text = "z" * (REPLAY_MAX_BYTES + 1)
    bedrock.add_response("converse", converse_response(text=text, input_tokens=900, output_tokens=5000))
    run = execute(request, HANDLERS, "exec-1")
    assert run.end == "Succeeded"
    assert run.output["response"]["text"] == text
    reservation = next(i for i in table.scan()["Items"] if i["pk"].startswith("REQUEST#"))
    assert reservation["state"] == "settled"
    assert "text" not in reservation["result"]["response"]
    assert reservation["result"]["replayable"] is False
    counters = {i["pk"]: i["used"] for i in table.scan()["Items"] if i["pk"].startswith("COUNTER#")}
    assert counters["COUNTER#every-application-day-output_tokens"] == 5000


def test_a_failed_call_with_the_largest_request_fits(limits, bedrock, capsys):
    request = largest_request(98_304)
    bedrock.add_client_error(
        "converse", service_error_code="AccessDeniedException", service_message="no" * 400
    )
    run = execute(request, HANDLERS, "exec-1")
    assert run.end == "Failed"
    assert_fits(run)
    with capsys.disabled():
        report("request 98,304 B: model error", run)


def test_a_denied_largest_request_fits(table, capsys):
    put_limit(table, "tiny", scope={"applicationId": "*"}, unit="input_tokens", limit=1)
    run = execute(largest_request(98_304), HANDLERS, "exec-1")
    assert run.end == "Denied"
    assert_fits(run)
    with capsys.disabled():
        report("request 98,304 B: denied", run)


def test_an_invalid_request_that_quotes_huge_values_fits(table, capsys):
    """Error messages quote the bad values cut short, so the context stays small."""
    huge = "k" * 30_000
    request = {
        "model": huge,
        huge: 1,
        "prompt": {"messages": [{"role": huge, "content": "x", huge + "2": 1}], huge: 1},
        "tags": {"applicationId": "a", "environment": huge[:200], huge: "v"},
    }
    run = execute(request, HANDLERS, "exec-1")
    assert run.end == "Invalid"
    assert_fits(run)
    assert max(n for state, _, n in run.measured if state != "Validate") < 20_000
    with capsys.disabled():
        report("invalid request quoting 30,000-character values", run)
