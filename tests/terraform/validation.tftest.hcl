# Every validation rule rejects its bad input at plan time.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }
  mock_data "aws_region" {
    defaults = { id = "us-east-1", name = "us-east-1" }
  }
}

variables {
  lambda_package_path = "tests/terraform/fixtures/lambda.zip"
}

# --- the good case: the interface of the issue plans --------------------------------------------

run "accepts_the_documented_interface" {
  command = plan
  # the article's models: Legacy or past their end of life, so the lifecycle check warns
  expect_failures = [check.model_lifecycle]

  variables {
    models = {
      "claude-3-5-haiku" = { model_id = "us.anthropic.claude-3-5-haiku-20241022-v1:0", input_usd_per_1k = 0.0008, output_usd_per_1k = 0.004 }
      "claude-3-haiku"   = { model_id = "anthropic.claude-3-haiku-20240307-v1:0" }
    }
    inference_profiles = {
      sales = { model = "claude-3-haiku", tags = { costCenter = "sales", applicationId = "aws-documentation-helper", environment = "production" } }
    }
    limits = [
      { scope = { model = "claude-3-5-haiku" }, window = "minute", unit = "total_tokens", limit = 100000 },
      { scope = { costCenter = "sales" }, window = "day", unit = "usd", limit = 50 },
      { scope = {}, window = "month", unit = "requests", limit = 1000000, enforce = false },
      { scope = { model = "*", applicationId = "*" }, window = "hour", unit = "requests", limit = 500 },
      { scope = { model = "sales" }, window = "day", unit = "input_tokens", limit = 2000000 },
      { scope = { model = "anthropic.claude-3-haiku-20240307-v1:0", environment = "production" }, window = "month", unit = "usd", limit = 250.5 },
    ]
    workflow_type     = "EXPRESS"
    metrics_namespace = "GenAIRateLimiting"
    metrics_sink      = "emf"
  }

  assert {
    condition     = length(aws_dynamodb_table_item.limit) == 6
    error_message = "Six limits should become six LIMIT items."
  }
}

# --- name and package -----------------------------------------------------------------------------

run "name_rejects_bad_characters" {
  command = plan
  variables { name = "toll gate" }
  expect_failures = [var.name]
}

run "name_rejects_more_than_40_characters" {
  command = plan
  variables { name = "a123456789b123456789c123456789d123456789e" }
  expect_failures = [var.name]
}

run "lambda_package_path_rejects_a_missing_zip" {
  command = plan
  variables { lambda_package_path = "tests/terraform/fixtures/does-not-exist.zip" }
  expect_failures = [var.lambda_package_path]
}

# --- models ---------------------------------------------------------------------------------------

run "models_rejects_a_bad_alias" {
  command = plan
  variables { models = { "claude 3" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0" } } }
  expect_failures = [var.models]
}

run "models_rejects_an_arn_as_model_id" {
  command = plan
  variables { models = { haiku = { model_id = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0" } } }
  expect_failures = [var.models]
}

run "models_rejects_a_negative_price" {
  command = plan
  variables { models = { haiku = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", input_usd_per_1k = -0.1 } } }
  expect_failures = [var.models]
}

run "models_rejects_fractional_max_tokens" {
  command = plan
  variables { models = { haiku = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", max_tokens = 10.5 } } }
  expect_failures = [var.models]
}

run "models_rejects_default_above_max_tokens" {
  command = plan
  variables { models = { haiku = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", max_tokens = 1000, default_max_tokens = 2000 } } }
  expect_failures = [var.models]
}

run "models_rejects_an_unpriced_model_outside_the_catalogue" {
  command = plan
  variables { models = { titan = { model_id = "amazon.titan-text-express-v1" } } }
  expect_failures = [var.models]
}

run "models_accepts_a_priced_model_outside_the_catalogue" {
  command = plan
  variables { models = { titan = { model_id = "amazon.titan-text-express-v1", input_usd_per_1k = 0.0002, output_usd_per_1k = 0.0006 } } }
  assert {
    condition     = keys(aws_dynamodb_table_item.route) == ["titan"]
    error_message = "The one route should be titan."
  }
}

# --- inference profiles ---------------------------------------------------------------------------

run "inference_profiles_rejects_a_bad_key" {
  command = plan
  variables { inference_profiles = { "sales team" = { model = "nova-lite" } } }
  expect_failures = [var.inference_profiles]
}

run "inference_profiles_rejects_a_profile_name_over_64_characters" {
  command = plan
  variables {
    name               = "a123456789b123456789c123456789d123456789"
    inference_profiles = { a123456789b123456789c12345 = { model = "nova-lite" } }
  }
  expect_failures = [var.inference_profiles]
}

run "inference_profiles_rejects_a_key_that_is_also_an_alias" {
  command = plan
  variables { inference_profiles = { nova-lite = { model = "nova-micro" } } }
  expect_failures = [aws_dynamodb_table_item.route]
}

run "inference_profiles_rejects_an_alias_that_does_not_exist" {
  command = plan
  variables { inference_profiles = { sales = { model = "claude-9" } } }
  expect_failures = [var.inference_profiles]
}

run "inference_profiles_rejects_a_malformed_arn" {
  command = plan
  variables { inference_profiles = { sales = { model = "arn:aws:bedrock:us-east-1:foundation-model/anthropic.claude-3-haiku-20240307-v1:0" } } }
  expect_failures = [var.inference_profiles]
}

run "inference_profiles_rejects_an_application_profile_arn" {
  command = plan
  variables { inference_profiles = { sales = { model = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123" } } }
  expect_failures = [var.inference_profiles]
}

run "inference_profiles_rejects_an_aws_tag_key" {
  command = plan
  variables { inference_profiles = { sales = { model = "nova-lite", tags = { "aws:costCenter" = "sales" } } } }
  expect_failures = [var.inference_profiles]
}

run "inference_profiles_rejects_a_bad_tag_value" {
  command = plan
  variables { inference_profiles = { sales = { model = "nova-lite", tags = { costCenter = "sales;drop" } } } }
  expect_failures = [var.inference_profiles]
}

run "inference_profiles_rejects_a_long_description" {
  command = plan
  variables { inference_profiles = { sales = { model = "nova-lite", description = "${join("", [for i in range(201) : "x"])}" } } }
  expect_failures = [var.inference_profiles]
}

run "inference_profiles_rejects_a_description_bedrock_refuses" {
  command = plan
  variables { inference_profiles = { sales = { model = "nova-lite", description = "Sales, production" } } }
  expect_failures = [var.inference_profiles]
}

run "inference_profiles_rejects_a_non_ascii_tag_value" {
  command = plan
  variables { inference_profiles = { sales = { model = "nova-lite", tags = { costCenter = "ventes-équipe" } } } }
  expect_failures = [var.inference_profiles]
}

run "inference_profiles_rejects_a_negative_price" {
  command = plan
  variables { inference_profiles = { sales = { model = "nova-lite", output_usd_per_1k = -1 } } }
  expect_failures = [var.inference_profiles]
}

run "inference_profiles_rejects_zero_max_tokens" {
  command = plan
  variables { inference_profiles = { sales = { model = "nova-lite", max_tokens = 0 } } }
  expect_failures = [var.inference_profiles]
}

run "inference_profiles_rejects_an_unpriced_arn_outside_the_catalogue" {
  command = plan
  variables { inference_profiles = { sales = { model = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1" } } }
  expect_failures = [var.inference_profiles]
}

# --- limits ---------------------------------------------------------------------------------------

run "limits_rejects_an_unknown_window" {
  command = plan
  variables { limits = [{ window = "week", unit = "requests", limit = 10 }] }
  expect_failures = [var.limits]
}

run "limits_rejects_an_unknown_unit" {
  command = plan
  variables { limits = [{ window = "day", unit = "dollars", limit = 10 }] }
  expect_failures = [var.limits]
}

run "limits_rejects_an_unknown_scope_key" {
  command = plan
  variables { limits = [{ scope = { team = "a" }, window = "day", unit = "requests", limit = 10 }] }
  expect_failures = [var.limits]
}

run "limits_rejects_a_negative_limit" {
  command = plan
  variables { limits = [{ window = "day", unit = "usd", limit = -1 }] }
  expect_failures = [var.limits]
}

run "limits_rejects_zero_shards" {
  command = plan
  variables { limits = [{ window = "month", unit = "usd", limit = 1000, shards = 0 }] }
  expect_failures = [var.limits]
}

run "limits_rejects_more_than_64_shards" {
  command = plan
  variables { limits = [{ window = "month", unit = "usd", limit = 1000, shards = 65 }] }
  expect_failures = [var.limits]
}

run "limits_rejects_fractional_shards" {
  command = plan
  variables { limits = [{ window = "month", unit = "usd", limit = 1000, shards = 2.5 }] }
  expect_failures = [var.limits]
}

run "limits_accept_1_and_64_shards" {
  command = plan
  variables {
    limits = [
      { name = "one", window = "month", unit = "usd", limit = 1000, shards = 1 },
      { name = "many", window = "month", unit = "requests", limit = 20, shards = 64 },
    ]
  }
  assert {
    condition     = jsondecode(aws_dynamodb_table_item.limit["many"].item).shards == { N = "64" }
    error_message = "shards = 64 is the largest accepted value and must reach the LIMIT item."
  }
}

run "limits_rejects_a_fractional_token_limit" {
  command = plan
  variables { limits = [{ window = "day", unit = "total_tokens", limit = 10.5 }] }
  expect_failures = [var.limits]
}

run "limits_rejects_a_bad_scope_value" {
  command = plan
  variables { limits = [{ scope = { costCenter = "" }, window = "day", unit = "usd", limit = 1 }] }
  expect_failures = [var.limits]
}

run "limits_rejects_an_unknown_model_route" {
  command = plan
  variables { limits = [{ scope = { model = "claude-9" }, window = "day", unit = "usd", limit = 1 }] }
  expect_failures = [aws_dynamodb_table_item.limit]
}

run "limits_rejects_an_environment_that_is_not_allowed" {
  command = plan
  variables { limits = [{ scope = { environment = "qa" }, window = "day", unit = "usd", limit = 1 }] }
  expect_failures = [aws_dynamodb_table_item.limit]
}

run "limits_rejects_a_name_with_a_hash" {
  command = plan
  variables { limits = [{ name = "sales#daily", window = "day", unit = "usd", limit = 1 }] }
  expect_failures = [var.limits]
}

run "limits_rejects_duplicate_ids" {
  command = plan
  variables {
    limits = [
      { scope = { costCenter = "sales" }, window = "day", unit = "usd", limit = 1 },
      { scope = { costCenter = "sales" }, window = "day", unit = "usd", limit = 2 },
    ]
  }
  expect_failures = [var.limits]
}

run "limits_rejects_a_name_equal_to_another_limits_id" {
  command = plan
  variables {
    limits = [
      { scope = { costCenter = "sales" }, window = "day", unit = "usd", limit = 1 },
      { name = "costCenter=sales/day/usd", window = "day", unit = "usd", limit = 2 },
    ]
  }
  expect_failures = [var.limits]
}

# --- workflow and functions -----------------------------------------------------------------------

run "allowed_environments_rejects_an_empty_list" {
  command = plan
  variables { allowed_environments = [] }
  expect_failures = [var.allowed_environments]
}

run "allowed_environments_rejects_a_comma" {
  command = plan
  variables { allowed_environments = ["dev,prod"] }
  expect_failures = [var.allowed_environments]
}

run "max_prompt_chars_rejects_zero" {
  command = plan
  variables { max_prompt_chars = 0 }
  expect_failures = [var.max_prompt_chars]
}

run "max_request_bytes_rejects_more_than_128_kib" {
  command = plan
  variables { max_request_bytes = 131073 }
  expect_failures = [var.max_request_bytes]
}

run "max_request_bytes_rejects_less_than_1_kib" {
  command = plan
  variables { max_request_bytes = 1023 }
  expect_failures = [var.max_request_bytes]
}

run "max_request_bytes_rejects_a_fraction" {
  command = plan
  variables { max_request_bytes = 65536.5 }
  expect_failures = [var.max_request_bytes]
}

run "input_token_estimate_rejects_an_unknown_method" {
  command = plan
  variables { input_token_estimate = "tiktoken" }
  expect_failures = [var.input_token_estimate]
}

run "config_cache_seconds_rejects_a_negative_value" {
  command = plan
  variables { config_cache_seconds = -5 }
  expect_failures = [var.config_cache_seconds]
}

run "idempotency_seconds_rejects_less_than_five_minutes" {
  command = plan
  variables { idempotency_seconds = 60 }
  expect_failures = [var.idempotency_seconds]
}

# issue 15 item 2: a record that expires inside the lease lets a retry reserve and pay twice
run "idempotency_seconds_rejects_a_window_shorter_than_the_lease" {
  command = plan
  variables {
    idempotency_seconds       = 600
    reservation_lease_seconds = 900
  }
  expect_failures = [aws_sfn_state_machine.this]
}

run "idempotency_seconds_rejects_a_window_shorter_than_the_standard_lease" {
  command = plan
  variables {
    workflow_type       = "STANDARD"
    idempotency_seconds = 600
  }
  expect_failures = [aws_sfn_state_machine.this]
}

run "idempotency_seconds_accepts_a_window_as_long_as_the_lease" {
  command = plan
  variables {
    idempotency_seconds       = 900
    reservation_lease_seconds = 900
  }
}

run "bedrock_read_timeout_seconds_rejects_a_timeout_not_below_the_invoke_timeout" {
  command = plan
  variables {
    bedrock_read_timeout_seconds = 35
    lambda_timeouts              = { invoke = 35 }
  }
  expect_failures = [aws_sfn_state_machine.this]
}

run "log_level_rejects_an_unknown_level" {
  command = plan
  variables { log_level = "VERBOSE" }
  expect_failures = [var.log_level]
}

run "lambda_timeouts_rejects_a_function_that_outlives_its_state" {
  command = plan
  variables {
    lambda_timeouts              = { invoke = 300 }
    bedrock_read_timeout_seconds = 60
  }
  expect_failures = [aws_sfn_state_machine.this]
}

# --- observability --------------------------------------------------------------------------------

run "metrics_namespace_rejects_the_aws_prefix" {
  command = plan
  variables { metrics_namespace = "AWS/Tollgate" }
  expect_failures = [var.metrics_namespace]
}

run "metrics_namespace_rejects_quotes" {
  command = plan
  variables { metrics_namespace = "Toll'gate" }
  expect_failures = [var.metrics_namespace]
}

run "metrics_sink_rejects_an_unknown_sink" {
  command = plan
  variables { metrics_sink = "statsd" }
  expect_failures = [var.metrics_sink]
}

run "alarms_rejects_a_malformed_topic_arn" {
  command = plan
  variables { alarms = { sns_topic_arn = "arn:aws:sqs:us-east-1:123456789012:alerts" } }
  expect_failures = [var.alarms]
}

run "alarms_rejects_a_malformed_email" {
  command = plan
  variables { alarms = { email_addresses = ["platform-team"] } }
  expect_failures = [var.alarms]
}

run "alarms_rejects_a_period_that_is_not_a_multiple_of_60" {
  command = plan
  variables { alarms = { period_seconds = 90 } }
  expect_failures = [var.alarms]
}

run "alarms_rejects_zero_evaluation_periods" {
  command = plan
  variables { alarms = { evaluation_periods = 0 } }
  expect_failures = [var.alarms]
}

run "alarms_rejects_a_zero_threshold" {
  command = plan
  variables { alarms = { denied_threshold = 0 } }
  expect_failures = [var.alarms]
}

# --- encryption and tags --------------------------------------------------------------------------

run "kms_key_arn_rejects_an_alias" {
  command = plan
  variables { kms_key_arn = "alias/tollgate" }
  expect_failures = [var.kms_key_arn]
}

run "tags_rejects_an_aws_prefixed_key" {
  command = plan
  variables { tags = { "aws:owner" = "platform" } }
  expect_failures = [var.tags]
}
