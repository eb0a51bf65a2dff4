"""Which routes a model-scoped limit covers, and the terms of a direct model-ID call, through the
handlers' own events on moto (issue 15, items 5 and 8)."""

import json
from decimal import Decimal

import pytest
from conftest import article_request, put_limit, put_route, use_env, used
from lambda_context import LAMBDA_CONTEXT

from tollgate.handlers import rate_limit, validate

PROFILE_ARN = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/k3xq9"
NOVA_MICRO = "amazon.nova-micro-v1:0"


def handled(handler, event):
    """Through JSON both ways, as Lambda and Step Functions pass it."""
    return json.loads(json.dumps(handler.handler(json.loads(json.dumps(event)), LAMBDA_CONTEXT)))


def reserve(model, request_id, **parameters):
    request = {**article_request(), "model": model, "requestId": request_id}
    if parameters:
        request["prompt"] = {**request["prompt"], "parameters": parameters}
    context = handled(validate, {"request": request, "executionId": f"exec-{request_id}"})
    assert context["valid"], context
    reservation = handled(
        rate_limit, {"action": "reserve", "context": context, "executionId": f"exec-{request_id}"}
    )
    return context, reservation


@pytest.fixture
def nova_micro_routes(table, monkeypatch):
    """Every kind of route to Nova Micro: a direct alias, a system inference profile and an
    application inference profile whose base model it is (no alias it copies from)."""
    use_env(monkeypatch, TOLLGATE_ALLOW_DIRECT_MODEL_IDS="true")
    put_route(table, "nova-micro", kind="model", modelId=NOVA_MICRO, baseModelId=NOVA_MICRO)
    system_profile = "us." + NOVA_MICRO
    put_route(table, "nova-micro-us", kind="model", modelId=system_profile, baseModelId=system_profile)
    put_route(table, "sales", kind="application_profile", modelId=PROFILE_ARN, baseModelId=NOVA_MICRO)


@pytest.mark.parametrize("model", ["sales", "nova-micro", "nova-micro-us", NOVA_MICRO, "us." + NOVA_MICRO])
def test_a_limit_on_a_model_id_holds_on_every_route_to_that_model(table, nova_micro_routes, model):
    put_limit(table, "micro", scope={"model": NOVA_MICRO}, unit="requests", limit=1)
    _, first = reserve(model, "r-1")
    assert first["decision"] == "approved"
    assert [c["limitId"] for c in first["counters"]] == ["micro"]
    _, second = reserve(model, "r-2")
    assert second["decision"] == "denied"
    assert second["denial"]["limit"]["id"] == "micro"
    assert list(used(table).values()) == [1]


def test_one_model_limit_is_shared_by_all_the_routes_to_it(table, nova_micro_routes):
    put_limit(table, "micro", scope={"model": NOVA_MICRO}, unit="requests", limit=2)
    assert reserve("sales", "r-1")[1]["decision"] == "approved"
    assert reserve("nova-micro-us", "r-2")[1]["decision"] == "approved"
    assert reserve(NOVA_MICRO, "r-3")[1]["decision"] == "denied"


def test_a_limit_on_a_route_holds_on_that_route_only(table, nova_micro_routes):
    put_limit(table, "sales-only", scope={"model": "sales"}, unit="requests", limit=1)
    put_limit(table, "profile-only", scope={"model": PROFILE_ARN}, unit="requests", limit=1)
    put_limit(table, "us-only", scope={"model": "us." + NOVA_MICRO}, unit="requests", limit=1)
    on_sales = reserve("sales", "r-1")[1]["counters"]
    assert sorted(c["limitId"] for c in on_sales) == ["profile-only", "sales-only"]
    assert [c["limitId"] for c in reserve("nova-micro-us", "r-2")[1]["counters"]] == ["us-only"]
    for request_id, model in (("r-3", "nova-micro"), ("r-4", NOVA_MICRO)):
        assert reserve(model, request_id)[1]["counters"] == []


def validated(model, **parameters):
    request = {**article_request(), "model": model}
    request["prompt"] = {**request["prompt"], "parameters": parameters}
    return handled(validate, {"request": request, "executionId": "exec-v"})


def put_capped_profile(table, name, arn, *, max_tokens, input_price, output_price, default_max_tokens=None):
    put_route(
        table,
        name,
        kind="application_profile",
        modelId=arn,
        baseModelId=NOVA_MICRO,
        maxTokens=max_tokens,
        inputUsdPer1k=Decimal(input_price),
        outputUsdPer1k=Decimal(output_price),
        **({} if default_max_tokens is None else {"defaultMaxTokens": default_max_tokens}),
    )


def test_a_direct_base_model_id_keeps_its_profile_routes_cap_and_prices(table, monkeypatch):
    use_env(monkeypatch, TOLLGATE_ALLOW_DIRECT_MODEL_IDS="true")
    put_capped_profile(table, "sales", PROFILE_ARN, max_tokens=500, input_price="0.5", output_price="2")
    over = validated(NOVA_MICRO, max_tokens=501)
    assert over["valid"] is False
    assert [e["field"] for e in over["errors"]] == ["prompt.parameters.max_tokens"]
    assert validated("sales", max_tokens=501)["valid"] is False  # the same answer by route name
    direct, by_route = validated(NOVA_MICRO, max_tokens=500), validated("sales", max_tokens=500)
    assert (
        direct["prices"]
        == by_route["prices"]
        == {"inputUsdPer1k": 0.5, "outputUsdPer1k": 2.0, **CACHE_AT_INPUT}
    )
    assert direct["estimate"] == by_route["estimate"]
    assert direct["modelId"] == NOVA_MICRO  # still called directly, not through the profile
    # Without max_tokens, the route's default (capped by the route's max) applies.
    assert validated(NOVA_MICRO)["estimate"]["outputTokens"] == 500


CACHE_AT_INPUT = {"cacheReadUsdPer1k": 0.5, "cacheWriteUsdPer1k": 0.5}


def test_several_routes_to_one_base_model_give_a_direct_call_their_strictest_terms(table, monkeypatch):
    use_env(monkeypatch, TOLLGATE_ALLOW_DIRECT_MODEL_IDS="true")
    put_capped_profile(
        table,
        "sales",
        PROFILE_ARN,
        max_tokens=500,
        input_price="0.5",
        output_price="1",
        default_max_tokens=300,
    )
    put_capped_profile(
        table, "support", PROFILE_ARN + "s", max_tokens=900, input_price="0.25", output_price="3"
    )
    assert validated(NOVA_MICRO, max_tokens=501)["valid"] is False
    direct = validated(NOVA_MICRO)
    assert direct["estimate"]["outputTokens"] == 300
    assert direct["prices"] == {"inputUsdPer1k": 0.5, "outputUsdPer1k": 3.0, **CACHE_AT_INPUT}


def test_a_direct_base_model_id_is_refused_unless_direct_ids_are_allowed(table):
    put_capped_profile(table, "sales", PROFILE_ARN, max_tokens=500, input_price="0.5", output_price="2")
    refused = validated(NOVA_MICRO, max_tokens=100)
    assert refused["valid"] is False
    assert [e["field"] for e in refused["errors"]] == ["model"]
