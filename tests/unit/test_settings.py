import pytest

from tollgate.settings import Settings, SettingsError, get_settings


def test_defaults_match_the_documented_environment():
    settings = Settings.from_env({"TOLLGATE_TABLE_NAME": "t", "POWERTOOLS_METRICS_NAMESPACE": "N"})
    assert settings.table_name == "t"
    assert settings.metrics_namespace == "N"
    assert settings.config_cache_seconds == 60
    assert settings.allowed_environments == ("dev", "staging", "prod", "production")
    assert settings.max_prompt_chars == 100_000
    assert settings.allow_direct_model_ids is False
    assert settings.fail_open is False
    assert settings.idempotency_seconds == 86_400
    assert settings.bedrock_read_timeout_seconds is None  # sized from max_tokens
    assert settings.lease_seconds == 600
    assert settings.log_prompts is False
    assert settings.metrics_sink == "emf"


def test_values_are_parsed_into_types():
    settings = Settings.from_env(
        {
            "TOLLGATE_CONFIG_CACHE_SECONDS": "5",
            "TOLLGATE_ALLOWED_ENVIRONMENTS": " qa , live ,",
            "TOLLGATE_FAIL_OPEN": "TRUE",
            "TOLLGATE_ALLOW_DIRECT_MODEL_IDS": "yes",
            "TOLLGATE_METRICS_SINK": "cloudwatch_api",
        }
    )
    assert settings.config_cache_seconds == 5
    assert settings.allowed_environments == ("qa", "live")
    assert settings.fail_open is True
    assert settings.allow_direct_model_ids is True
    assert settings.metrics_sink == "cloudwatch_api"


@pytest.mark.parametrize(
    ("attribute", "variable", "purpose"),
    [
        ("table_name", "TOLLGATE_TABLE_NAME", "DynamoDB table"),
        ("metrics_namespace", "POWERTOOLS_METRICS_NAMESPACE", "CloudWatch namespace"),
    ],
)
def test_a_missing_required_variable_names_itself_and_its_purpose(attribute, variable, purpose):
    settings = Settings.from_env({})
    with pytest.raises(SettingsError) as raised:
        getattr(settings, attribute)
    assert variable in str(raised.value)
    assert purpose in str(raised.value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"TOLLGATE_CONFIG_CACHE_SECONDS": "soon"},
            "TOLLGATE_CONFIG_CACHE_SECONDS is 'soon'; it must be a whole number.",
        ),
        ({"TOLLGATE_IDEMPOTENCY_SECONDS": "0"}, "TOLLGATE_IDEMPOTENCY_SECONDS is 0; it must be at least 1."),
        ({"TOLLGATE_FAIL_OPEN": "maybe"}, "TOLLGATE_FAIL_OPEN is 'maybe'; it must be true or false."),
        (
            {"TOLLGATE_METRICS_SINK": "statsd"},
            "TOLLGATE_METRICS_SINK is 'statsd'; it must be one of emf, cloudwatch_api.",
        ),
        ({"TOLLGATE_ALLOWED_ENVIRONMENTS": " , "}, "TOLLGATE_ALLOWED_ENVIRONMENTS is empty"),
    ],
)
def test_a_bad_value_is_reported_with_its_variable(env, expected):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert str(raised.value).startswith(expected)


def test_settings_are_parsed_once_per_container(monkeypatch):
    first = get_settings()
    monkeypatch.setenv("TOLLGATE_TABLE_NAME", "changed")
    assert get_settings() is first
    assert get_settings().table_name != "changed"


def test_max_request_bytes_is_bounded_by_the_state_quota():
    assert Settings.from_env({"TOLLGATE_MAX_REQUEST_BYTES": "131072"}).max_request_bytes == 131_072
    with pytest.raises(
        SettingsError, match="TOLLGATE_MAX_REQUEST_BYTES is 131073; it must be at most 131072"
    ):
        Settings.from_env({"TOLLGATE_MAX_REQUEST_BYTES": "131073"})


def test_an_idempotency_window_shorter_than_the_lease_is_refused():
    # Issue 15 item 2: a retry after the record expired but within the lease reserved twice.
    with pytest.raises(SettingsError, match=r"TOLLGATE_IDEMPOTENCY_SECONDS is 300.*LEASE_SECONDS"):
        Settings.from_env({"TOLLGATE_IDEMPOTENCY_SECONDS": "300", "TOLLGATE_LEASE_SECONDS": "600"})
    equal = {"TOLLGATE_IDEMPOTENCY_SECONDS": "600", "TOLLGATE_LEASE_SECONDS": "600"}
    assert Settings.from_env(equal).idempotency_seconds == 600
