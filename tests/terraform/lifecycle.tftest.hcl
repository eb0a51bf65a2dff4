# The model catalogue's lifecycles and the plan-time check that warns about retiring routes.

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

run "the_default_catalogue_routes_no_legacy_or_eol_model" {
  command = plan

  assert {
    condition = alltrue([for alias, id in local.catalogue.aliases : (
      try(local.catalogue.models[id], local.catalogue.models[replace(id, local.geo_prefix_pattern, "")]).lifecycle == "ACTIVE" &&
      timecmp("${coalesce(try(local.catalogue.models[id], local.catalogue.models[replace(id, local.geo_prefix_pattern, "")]).eolDate, "9999-12-31")}T00:00:00Z", "${local.catalogue.checkedOn}T00:00:00Z") > 0
    )])
    error_message = "Every default alias must point at a model the catalogue lists as ACTIVE with no EOL date on or before its check date."
  }

  assert {
    condition     = length(local.retiring_routes) == 0
    error_message = "A fresh plan of the root module must raise no lifecycle warning."
  }
}

run "a_route_to_a_legacy_model_warns" {
  command = plan

  variables {
    # Claude 3.5 Sonnet v2: LEGACY in the catalogue (no EOL date recorded)
    models = { sonnet = { model_id = "us.anthropic.claude-3-5-sonnet-20241022-v2:0" }, lite = { model_id = "amazon.nova-lite-v1:0" } }
  }
  expect_failures = [check.model_lifecycle]

  assert {
    condition     = keys(local.retiring_routes) == ["sonnet"] && local.retiring_routes.sonnet.lifecycle == "LEGACY"
    error_message = "The check must name the Legacy route, and only it."
  }
}

run "a_profile_copying_an_eol_model_warns" {
  command = plan

  variables {
    inference_profiles = {
      sales = { model = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0", tags = { costCenter = "sales" } }
    }
  }
  expect_failures = [check.model_lifecycle]

  assert {
    condition     = keys(local.retiring_routes) == ["sales"] && local.retiring_routes.sales.eol_date == "2026-09-10"
    error_message = "The check must name a cost-center profile whose model is past its end of life."
  }
}

run "cache_prices_reach_the_route_items" {
  command = plan

  variables {
    models = { haiku = { model_id = "global.anthropic.claude-haiku-4-5-20251001-v1:0", cache_read_usd_per_1k = 0.00009, cache_write_usd_per_1k = 0.0012 } }
  }

  assert {
    condition     = jsondecode(aws_dynamodb_table_item.route["haiku"].item).cacheReadUsdPer1k.N == "0.00009" && jsondecode(aws_dynamodb_table_item.route["haiku"].item).cacheWriteUsdPer1k.N == "0.0012"
    error_message = "A route's cache price overrides must be written into its ROUTE item."
  }
}

run "cache_prices_must_not_be_negative" {
  command = plan

  variables {
    models = { haiku = { model_id = "amazon.nova-lite-v1:0", cache_read_usd_per_1k = -1 } }
  }
  expect_failures = [var.models]
}

run "the_warning_can_be_turned_off" {
  command = plan

  variables {
    models                = { sonnet = { model_id = "us.anthropic.claude-3-5-sonnet-20241022-v2:0" } }
    model_lifecycle_check = false
  }

  assert {
    condition     = keys(local.retiring_routes) == ["sonnet"]
    error_message = "Turning the warning off must not hide which routes retire (the check alone is silenced)."
  }
}
