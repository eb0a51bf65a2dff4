# The table and its ROUTE and LIMIT items, in the layout of docs/internals.md section 1.

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

override_resource {
  target          = module.inference_profiles.aws_bedrock_inference_profile.this["sales"]
  override_during = plan
  values          = { arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/sales0000001" }
}

override_resource {
  target          = module.inference_profiles.aws_bedrock_inference_profile.this["support"]
  override_during = plan
  values          = { arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/support00003" }
}

variables {
  lambda_package_path = "tests/terraform/fixtures/lambda.zip"
}

run "table_is_on_demand_with_ttl_pitr_and_sse" {
  command = plan

  assert {
    condition = (
      aws_dynamodb_table.this.name == "tollgate-limits" &&
      aws_dynamodb_table.this.billing_mode == "PAY_PER_REQUEST" &&
      aws_dynamodb_table.this.hash_key == "pk" &&
      aws_dynamodb_table.this.range_key == "sk" &&
      toset([for a in aws_dynamodb_table.this.attribute : "${a.name}:${a.type}"]) == toset(["pk:S", "sk:S", "lease:S", "leaseExpiresAt:N"])
    )
    error_message = "The table must be on demand with key pk/sk (S/S) and the lease index's keys."
  }

  assert {
    condition     = [for g in aws_dynamodb_table.this.global_secondary_index : [g.name, g.hash_key, g.range_key]] == [["leases", "lease", "leaseExpiresAt"]]
    error_message = "The sparse lease index (lease, leaseExpiresAt) is what the sweeper queries."
  }

  assert {
    condition = (
      aws_dynamodb_table.this.ttl[0].attribute_name == "expiresAt" && aws_dynamodb_table.this.ttl[0].enabled &&
      aws_dynamodb_table.this.point_in_time_recovery[0].enabled &&
      aws_dynamodb_table.this.server_side_encryption[0].enabled &&
      aws_dynamodb_table.this.deletion_protection_enabled
    )
    error_message = "The table must have TTL on expiresAt, PITR, SSE and deletion protection by default."
  }
}

run "default_routes_are_the_catalogue_aliases" {
  command = plan

  assert {
    condition     = toset(keys(aws_dynamodb_table_item.route)) == toset(keys(jsondecode(file("functions/tollgate/data/models.json")).aliases))
    error_message = "By default there must be one ROUTE item per alias of the catalogue."
  }

  assert {
    condition = jsondecode(aws_dynamodb_table_item.route["claude-haiku-4-5"].item) == {
      pk          = { S = "ROUTE" }
      sk          = { S = "claude-haiku-4-5" }
      kind        = { S = "model" }
      modelId     = { S = "us.anthropic.claude-haiku-4-5-20251001-v1:0" }
      baseModelId = { S = "us.anthropic.claude-haiku-4-5-20251001-v1:0" }
    }
    error_message = "A default model route must carry pk, sk, kind=model, modelId and baseModelId, and leave prices to the catalogue."
  }

  assert {
    condition = alltrue([for k, r in aws_dynamodb_table_item.route : (
      r.hash_key == "pk" && r.range_key == "sk" && r.table_name == "tollgate-limits" &&
      jsondecode(r.item).modelId.S == jsondecode(file("functions/tollgate/data/models.json")).aliases[k]
    )])
    error_message = "Every default route must point at the catalogue's model ID."
  }
}

run "overrides_and_profile_routes" {
  command = plan
  # the article's models: Legacy or past their end of life, so the lifecycle check warns
  expect_failures = [check.model_lifecycle]

  variables {
    models = {
      "claude-3-5-haiku" = { model_id = "us.anthropic.claude-3-5-haiku-20241022-v1:0", input_usd_per_1k = 0.0008, output_usd_per_1k = 0.004, max_tokens = 4096, default_max_tokens = 512 }
      "claude-3-haiku"   = { model_id = "anthropic.claude-3-haiku-20240307-v1:0" }
    }
    inference_profiles = {
      sales   = { model = "claude-3-haiku", tags = { costCenter = "sales" } }
      support = { model = "claude-3-5-haiku", tags = { costCenter = "support" }, output_usd_per_1k = 0.005 }
    }
  }

  assert {
    condition = jsondecode(aws_dynamodb_table_item.route["claude-3-5-haiku"].item) == {
      pk               = { S = "ROUTE" }
      sk               = { S = "claude-3-5-haiku" }
      kind             = { S = "model" }
      modelId          = { S = "us.anthropic.claude-3-5-haiku-20241022-v1:0" }
      baseModelId      = { S = "us.anthropic.claude-3-5-haiku-20241022-v1:0" }
      inputUsdPer1k    = { N = "0.0008" }
      outputUsdPer1k   = { N = "0.004" }
      maxTokens        = { N = "4096" }
      defaultMaxTokens = { N = "512" }
    }
    error_message = "Price and max-tokens overrides must be written as N attributes."
  }

  assert {
    condition = jsondecode(aws_dynamodb_table_item.route["sales"].item) == {
      pk          = { S = "ROUTE" }
      sk          = { S = "sales" }
      kind        = { S = "application_profile" }
      modelId     = { S = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/sales0000001" }
      baseModelId = { S = "anthropic.claude-3-haiku-20240307-v1:0" }
      baseRoute   = { S = "claude-3-haiku" }
    }
    error_message = "A profile route must point at the profile ARN, name the model behind it and the alias it copies."
  }

  assert {
    condition = jsondecode(aws_dynamodb_table_item.route["support"].item) == {
      pk               = { S = "ROUTE" }
      sk               = { S = "support" }
      kind             = { S = "application_profile" }
      modelId          = { S = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/support00003" }
      baseModelId      = { S = "us.anthropic.claude-3-5-haiku-20241022-v1:0" }
      baseRoute        = { S = "claude-3-5-haiku" }
      inputUsdPer1k    = { N = "0.0008" }
      outputUsdPer1k   = { N = "0.005" }
      maxTokens        = { N = "4096" }
      defaultMaxTokens = { N = "512" }
    }
    error_message = "A profile route must inherit its alias's overrides and apply its own."
  }

  assert {
    condition = (
      module.inference_profiles.names == { sales = "tollgate-sales", support = "tollgate-support" } &&
      local.profiles.support.copy_from == "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0" &&
      local.profiles.sales.copy_from == "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
    )
    error_message = "A profile must copy from the foundation-model ARN, or from the system profile ARN for a us./eu./... model ID."
  }
}

run "limit_items" {
  command = plan

  variables {
    limits = [
      { scope = { model = "claude-haiku-4-5" }, window = "minute", unit = "total_tokens", limit = 100000 },
      { scope = { costCenter = "sales" }, window = "day", unit = "usd", limit = 0.5 },
      { scope = {}, window = "month", unit = "requests", limit = 1000000, enforce = false },
      { name = "org-monthly-usd", window = "month", unit = "usd", limit = 25000.5, shards = 16 },
      { scope = { model = "*", applicationId = "*" }, window = "hour", unit = "requests", limit = 500 },
      { name = "support-daily-output", scope = { costCenter = "support", environment = "production" }, window = "day", unit = "output_tokens", limit = 2000000 },
    ]
  }

  assert {
    condition = toset(keys(aws_dynamodb_table_item.limit)) == toset([
      "model=claude-haiku-4-5/minute/total_tokens",
      "costCenter=sales/day/usd",
      "*/month/requests",
      "applicationId=*,model=*/hour/requests",
      "support-daily-output",
      "org-monthly-usd",
    ])
    error_message = "Limit IDs must be the name, or <k=v sorted, joined with ','>|* / window / unit."
  }

  assert {
    condition = jsondecode(aws_dynamodb_table_item.limit["costCenter=sales/day/usd"].item) == {
      pk      = { S = "LIMIT" }
      sk      = { S = "costCenter=sales/day/usd" }
      scope   = { M = { costCenter = { S = "sales" } } }
      window  = { S = "day" }
      unit    = { S = "usd" }
      limit   = { N = "0.5" }
      enforce = { BOOL = true }
      shards  = { N = "1" }
    }
    error_message = "A LIMIT item must carry pk, sk, scope (M), window, unit, limit (N), enforce (BOOL) and shards (N, 1 by default)."
  }

  assert {
    condition = jsondecode(aws_dynamodb_table_item.limit["*/month/requests"].item) == {
      pk      = { S = "LIMIT" }
      sk      = { S = "*/month/requests" }
      scope   = { M = {} }
      window  = { S = "month" }
      unit    = { S = "requests" }
      limit   = { N = "1000000" }
      enforce = { BOOL = false }
      shards  = { N = "1" }
    }
    error_message = "A global shadow limit must have an empty scope map and enforce = false."
  }

  assert {
    condition = jsondecode(aws_dynamodb_table_item.limit["support-daily-output"].item).scope == {
      M = { costCenter = { S = "support" }, environment = { S = "production" } }
    }
    error_message = "A named limit keeps its scope."
  }

  assert {
    condition = (
      jsondecode(aws_dynamodb_table_item.limit["org-monthly-usd"].item).shards == { N = "16" } &&
      jsondecode(aws_dynamodb_table_item.limit["org-monthly-usd"].item).limit == { N = "25000.5" }
    )
    error_message = "A sharded limit's item must carry its shards (N) next to its whole ceiling."
  }

  assert {
    condition     = output.limit_ids == sort(keys(aws_dynamodb_table_item.limit))
    error_message = "limit_ids must list the LIMIT items' sort keys."
  }
}

run "deletion_protection_can_be_turned_off" {
  command = plan

  variables {
    table_deletion_protection = false
  }

  assert {
    condition     = !aws_dynamodb_table.this.deletion_protection_enabled
    error_message = "table_deletion_protection = false must turn deletion protection off."
  }
}
