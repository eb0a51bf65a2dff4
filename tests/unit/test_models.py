"""The model catalogue's prices (cache reads and writes, geographic vs global profiles, route
overrides), its parameter rules and its lifecycles."""

from decimal import Decimal

import pytest
from conftest import article_request

from tollgate.outcome import record, success_output
from tollgate.pricing import Prices
from tollgate.routing import KIND_MODEL, Route, resolve
from tollgate.validation import ValidationOptions, validate_request

OPTIONS = ValidationOptions(
    allowed_environments=("dev", "staging", "prod", "production"),
    max_prompt_chars=100_000,
    allow_direct_model_ids=False,
)
HAIKU_45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


def route(name="claude-haiku-4-5", model_id=HAIKU_45, **prices):
    return {name: Route(name=name, kind=KIND_MODEL, model_id=model_id, base_model_id=model_id, **prices)}


def request(**parameters):
    body = article_request()
    body["model"] = "claude-haiku-4-5"
    body["prompt"]["parameters"] = {"max_tokens": 100, **parameters}
    return body


# --- cost arithmetic ---------------------------------------------------------------------------
def test_each_kind_of_token_is_billed_at_its_own_price():
    prices = Prices(Decimal("0.0011"), Decimal("0.0055"), Decimal("0.00011"), Decimal("0.001375"))
    # 1,000 input x 0.0011 + 2,000 cache read x 0.00011 + 4,000 cache write x 0.001375 + 500 output x 0.0055
    assert prices.cost_usd(1000, 500, 2000, 4000) == Decimal("0.0011") + Decimal("0.00022") + Decimal(
        "0.0055"
    ) + Decimal("0.00275")


def test_without_cache_prices_cache_tokens_cost_as_input():
    prices = Prices(Decimal("0.001"), Decimal("0.005"))
    assert prices.cost_usd(0, 0, 1000, 1000) == Decimal("0.002")
    assert "cacheReadUsdPer1k" not in prices.to_payload()
    assert Prices.from_payload(prices.to_payload()) == prices


def test_cost_is_rounded_up_to_a_ten_billionth():
    prices = Prices(Decimal("0.00000875"), Decimal("0.00014"), Decimal("0.00000875"), Decimal("0.000035"))
    assert prices.cost_usd(0, 0, 1, 0) == Decimal("8.8e-9")  # 8.75e-9 rounds up, never down
    assert prices.cost_usd(0, 0, 0, 0) == 0


def test_the_success_output_prices_cache_tokens_apart_from_input(catalogue):
    context = validate_request(request(), routes=route(), catalogue=catalogue, options=OPTIONS).context
    assert context["prices"] == {
        "inputUsdPer1k": 0.0011,
        "outputUsdPer1k": 0.0055,
        "cacheReadUsdPer1k": 0.00011,
        "cacheWriteUsdPer1k": 0.001375,
    }
    usage = {
        "inputTokens": 100,
        "outputTokens": 50,
        "totalTokens": 5150,
        "cacheReadInputTokens": 4000,
        "cacheWriteInputTokens": 1000,
    }
    output = success_output(context, {"text": "ok", "stopReason": "end_turn", "usage": usage, "latencyMs": 5})
    expected = (100 * 0.0011 + 4000 * 0.00011 + 1000 * 0.001375 + 50 * 0.0055) / 1000
    assert output["costUsd"] == pytest.approx(expected, abs=1e-12)
    # Pricing the cache tokens as input, as before, would have billed 5,100 x 0.0011.
    assert output["costUsd"] < (5100 * 0.0011 + 50 * 0.0055) / 1000

    recorded = record({"context": context, "reservation": {"decision": "approved"}, "invocation": output}, ())
    assert recorded.metrics["CacheReadInputTokens"] == 4000
    assert recorded.metrics["CacheWriteInputTokens"] == 1000
    assert recorded.metrics["InputTokens"] == 100


# --- geographic and global profiles, route overrides -----------------------------------------
def test_geographic_and_global_profiles_have_their_own_prices(catalogue):
    geo = resolve(route()["claude-haiku-4-5"], catalogue)
    glob = resolve(
        route(model_id="global.anthropic.claude-haiku-4-5-20251001-v1:0")["claude-haiku-4-5"], catalogue
    )
    assert (geo.input_usd_per_1k, glob.input_usd_per_1k) == (Decimal("0.0011"), Decimal("0.001"))
    assert (geo.cache_write_usd_per_1k, glob.cache_write_usd_per_1k) == (
        Decimal("0.001375"),
        Decimal("0.00125"),
    )
    eu = resolve(route(model_id="eu.anthropic.claude-haiku-4-5-20251001-v1:0")["claude-haiku-4-5"], catalogue)
    assert eu.input_usd_per_1k == geo.input_usd_per_1k  # a profile without an entry: the model behind it


def test_a_route_overrides_cache_prices_and_a_contract_input_price_prices_the_cache(catalogue):
    own = resolve(
        route(cache_read_usd_per_1k=Decimal("0.00005"), cache_write_usd_per_1k=Decimal("0.0009"))[
            "claude-haiku-4-5"
        ],
        catalogue,
    )
    assert (own.cache_read_usd_per_1k, own.cache_write_usd_per_1k) == (Decimal("0.00005"), Decimal("0.0009"))
    contract = resolve(route(input_usd_per_1k=Decimal("0.0009"))["claude-haiku-4-5"], catalogue)
    assert contract.cache_read_usd_per_1k == contract.cache_write_usd_per_1k == Decimal("0.0009")


# --- parameter rules -----------------------------------------------------------------------------
def test_temperature_and_top_p_together_are_refused_for_a_model_that_rejects_them(catalogue):
    result = validate_request(
        request(temperature=0.7, top_p=0.9), routes=route(), catalogue=catalogue, options=OPTIONS
    )
    assert result.valid is False
    (error,) = result.context["errors"]
    assert error["field"] == "prompt.parameters.top_p"
    assert "only one of temperature and top_p" in error["message"]
    assert "claude-haiku-4-5" in error["message"]


@pytest.mark.parametrize(
    "parameters", [{"temperature": 0.7}, {"top_p": 0.9}, {"top_k": 50, "temperature": 0.2}]
)
def test_either_one_alone_passes(catalogue, parameters):
    result = validate_request(request(**parameters), routes=route(), catalogue=catalogue, options=OPTIONS)
    assert result.valid is True, result.context.get("errors")


def test_older_claude_models_still_take_both(catalogue):
    routes = route("claude-3-5-haiku", "us.anthropic.claude-3-5-haiku-20241022-v1:0")
    body = article_request()  # the article's request sets temperature 0.7 and top_p 0.9
    assert validate_request(body, routes=routes, catalogue=catalogue, options=OPTIONS).valid is True


# --- lifecycles ------------------------------------------------------------------------------------
def test_the_articles_models_are_legacy_with_their_eol_dates(catalogue):
    haiku_35 = catalogue.model("us.anthropic.claude-3-5-haiku-20241022-v1:0")
    assert (haiku_35.lifecycle, haiku_35.eol_date) == ("LEGACY", "2026-06-19")
    assert catalogue.model("anthropic.claude-3-haiku-20240307-v1:0").eol_date == "2026-09-10"
    assert catalogue.model(HAIKU_45).lifecycle == "ACTIVE"


# --- tollgate models -------------------------------------------------------------------------------
class FakeBedrock:
    """ListFoundationModels / GetFoundationModel answers, as Bedrock shapes them."""

    def __init__(self, listed, hidden=()):
        self.listed, self.hidden, self.gets = listed, dict(hidden), []

    def list_foundation_models(self):
        return {"modelSummaries": [{"modelId": k, "modelLifecycle": v} for k, v in self.listed.items()]}

    def get_foundation_model(self, modelIdentifier):
        from botocore.exceptions import ClientError

        self.gets.append(modelIdentifier)
        if modelIdentifier in self.hidden:
            return {
                "modelDetails": {"modelId": modelIdentifier, "modelLifecycle": self.hidden[modelIdentifier]}
            }
        error = {"Error": {"Code": "ResourceNotFoundException", "Message": "no such model"}}
        raise ClientError(error, "GetFoundationModel")


def test_models_flags_legacy_and_eol_routes_from_bedrocks_lifecycle(catalogue):
    from datetime import UTC, date, datetime

    from tollgate.lifecycle import model_rows

    routes = {
        **route(),
        **route("claude-3-5-haiku", "us.anthropic.claude-3-5-haiku-20241022-v1:0"),
        **route("sonnet", "anthropic.claude-3-5-sonnet-20241022-v2:0"),
        **route("gone", "acme.gone-v1:0", input_usd_per_1k=Decimal(1), output_usd_per_1k=Decimal(1)),
        "sales": Route(
            name="sales",
            kind="application_profile",
            model_id="arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc",
            base_model_id="amazon.nova-lite-v1:0",
        ),
    }
    bedrock = FakeBedrock(
        {
            "anthropic.claude-haiku-4-5-20251001-v1:0": {"status": "ACTIVE"},
            "anthropic.claude-3-5-haiku-20241022-v1:0": {
                "status": "LEGACY",
                "endOfLifeTime": datetime(2026, 6, 19, tzinfo=UTC),
            },
            "amazon.nova-lite-v1:0": {"status": "ACTIVE"},
        },
        hidden={"anthropic.claude-3-5-sonnet-20241022-v2:0": {"status": "LEGACY"}},
    )
    rows = {r["route"]: r for r in model_rows(routes, bedrock, catalogue, today=date(2026, 11, 30))}
    assert rows["claude-haiku-4-5"]["foundationModel"] == "anthropic.claude-haiku-4-5-20251001-v1:0"
    assert (rows["claude-haiku-4-5"]["status"], rows["claude-haiku-4-5"]["flag"]) == ("ACTIVE", "")
    assert rows["claude-3-5-haiku"]["flag"] == "EOL since 2026-06-19"
    assert rows["sonnet"]["flag"] == "LEGACY"  # not listed: asked with GetFoundationModel
    assert rows["gone"]["flag"] == "NOT FOUND on Bedrock"
    assert (rows["sales"]["foundationModel"], rows["sales"]["flag"]) == ("amazon.nova-lite-v1:0", "")
    assert sorted(bedrock.gets) == ["acme.gone-v1:0", "anthropic.claude-3-5-sonnet-20241022-v2:0"]
