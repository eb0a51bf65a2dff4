from decimal import Decimal

from tollgate.catalogue import family_of, load_catalogue, strip_geo_prefix
from tollgate.pricing import Prices
from tollgate.tokens import estimate_input_tokens, estimate_text_tokens


def test_ascii_text_counts_one_token_per_three_characters_rounded_up():
    assert estimate_text_tokens("") == 0
    assert estimate_text_tokens("abc") == 1
    assert estimate_text_tokens("abcd") == 2
    assert estimate_text_tokens("a" * 300) == 100


def test_non_ascii_characters_count_one_token_each():
    assert estimate_text_tokens("日本語") == 3
    assert estimate_text_tokens("héllo") == 2 + 1  # "hllo" -> 2, "é" -> 1
    assert estimate_text_tokens("🙂🙂") == 2


def test_the_prompt_estimate_adds_overhead_per_message_and_per_prompt():
    assert estimate_input_tokens([]) == 3
    assert estimate_input_tokens(["abc"]) == 3 + 4 + 1
    assert estimate_input_tokens(["abc", "日本"]) == 3 + (4 + 1) + (4 + 2)


def test_the_estimate_is_deterministic():
    texts = ["Explain the benefits of using S3 using only 100 words.", "You are a helpful AWS expert."]
    assert len({estimate_input_tokens(texts) for _ in range(5)}) == 1


def test_cost_is_price_times_tokens_per_thousand_rounded_up():
    prices = Prices(Decimal("0.0008"), Decimal("0.004"))
    assert prices.cost_usd(1000, 1000) == Decimal("0.0048")
    assert prices.cost_usd(39, 2000) == Decimal("0.0080312")
    assert prices.cost_usd(0, 0) == 0
    tiny = Prices(Decimal("0.000035"), Decimal("0"))
    # 0.000035 * 1 / 1000 = 3.5e-8, exact at ten decimals
    assert tiny.cost_usd(1, 0) == Decimal("0.0000000350")
    odd = Prices(Decimal("0.0000000001"), Decimal("0"))
    assert odd.cost_usd(1, 0) == Decimal("0.0000000001")  # 1e-13 rounds up, never down to zero


def test_prices_survive_the_payload_round_trip():
    prices = Prices(Decimal("0.000035"), Decimal("0.00014"))
    assert Prices.from_payload(prices.to_payload()) == prices


def test_catalogue_looks_up_system_profiles_without_their_geographic_prefix():
    catalogue = load_catalogue()
    assert (
        strip_geo_prefix("us.anthropic.claude-3-5-haiku-20241022-v1:0")
        == "anthropic.claude-3-5-haiku-20241022-v1:0"
    )
    info = catalogue.model("eu.anthropic.claude-3-5-haiku-20241022-v1:0")
    assert info.input_usd_per_1k == Decimal("0.0008")
    assert info.max_tokens == 8192


def test_unknown_models_get_their_provider_family_and_no_price():
    catalogue = load_catalogue()
    assert family_of("amazon.nova-premier-v1:0") == "nova"
    assert family_of("us.meta.llama3-2-90b-instruct-v1:0") == "meta"
    info = catalogue.model("cohere.command-r-v1:0")
    assert info.family == "cohere"
    assert info.input_usd_per_1k is None
    assert catalogue.top_k_path("cohere") is None
    assert catalogue.top_k_path("nova") == "inferenceConfig.topK"


def test_every_catalogue_alias_has_a_priced_active_model():
    catalogue = load_catalogue()
    assert catalogue.aliases, "the catalogue routes some models by default"
    for model_id in catalogue.aliases.values():
        info = catalogue.model(model_id)
        assert info.input_usd_per_1k is not None and info.output_usd_per_1k is not None
        assert info.cache_read_usd_per_1k is not None and info.cache_write_usd_per_1k is not None
        assert catalogue.families[info.family]
        # what a fresh deployment routes is served today: Active and not past any EOL date
        assert info.lifecycle == "ACTIVE", model_id
        assert info.eol_date is None or info.eol_date > catalogue.checked_on, model_id


def test_every_catalogue_entry_says_where_it_comes_from_and_when():
    catalogue = load_catalogue()
    assert catalogue.checked_on and catalogue.prices_as_of
    for model_id, entry in catalogue.models.items():
        assert entry.get("source") and entry.get("checked"), model_id
        assert entry.get("lifecycle") in ("ACTIVE", "LEGACY", None), model_id
