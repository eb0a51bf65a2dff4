# Attribution profiles: with an application registry, one tagged application inference profile per
# (model x application x cost center x environment) it allows, written into the APPLICATION items,
# invokable only through the deployment's tag, and counted against the account's quota at plan time.

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
  mock_resource "aws_bedrock_inference_profile" {
    override_during = plan
    defaults        = { arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/mock00000001" }
  }
}

override_resource {
  target          = aws_kms_key.this[0]
  override_during = plan
  values          = { arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555", key_id = "11111111-2222-3333-4444-555555555555" }
}

variables {
  lambda_package_path = "tests/terraform/fixtures/lambda.zip"
  inference_profiles = {
    sales = { model = "claude-haiku-4-5", tags = { costCenter = "sales" } }
  }
  applications = {
    # 2 models x 2 cost centers x 1 environment = 4 profiles
    "docs-helper" = { cost_centers = ["sales", "support"], environments = ["production"], routes = ["nova-lite", "claude-haiku-4-5", "sales"] }
    # cost centers and environments left open: one profile, tagged unassigned
    "batch/reports" = { routes = ["nova-micro"] }
    # a cost-center route only: it has its own profile already
    "sales-desk" = { cost_centers = ["sales"], environments = ["production"], routes = ["sales"] }
  }
}

run "a_registry_yields_one_profile_per_model_application_cost_center_and_environment" {
  command = plan

  assert {
    condition = toset(keys(module.attribution_profiles.names)) == toset([
      "docs-helper|amazon.nova-lite-v1:0|sales|production",
      "docs-helper|amazon.nova-lite-v1:0|support|production",
      "docs-helper|us.anthropic.claude-haiku-4-5-20251001-v1:0|sales|production",
      "docs-helper|us.anthropic.claude-haiku-4-5-20251001-v1:0|support|production",
      "batch/reports|amazon.nova-micro-v1:0|unassigned|unassigned",
    ])
    error_message = "Expected a profile per (model x application x cost center x environment), 'unassigned' for an open list, none for cost-center routes: ${jsonencode(keys(module.attribution_profiles.names))}."
  }

  assert {
    condition     = alltrue([for n in values(module.attribution_profiles.names) : can(regex("^tollgate-[0-9a-f]{16}$", n)) && length(n) <= 64])
    error_message = "Profile names must be <name>-<16 hex digits> (Bedrock: letters, digits, single separators, at most 64 characters)."
  }

  assert {
    condition     = length(distinct(values(module.attribution_profiles.names))) == 5
    error_message = "Every combination needs a profile name of its own."
  }
}

run "profiles_are_tagged_with_the_combination_and_copy_the_model_behind_the_route" {
  command = plan

  assert {
    condition = module.attribution_profiles.tags["docs-helper|us.anthropic.claude-haiku-4-5-20251001-v1:0|support|production"] == tomap({
      costCenter         = "support"
      applicationId      = "docs-helper"
      environment        = "production"
      TollgateDeployment = "tollgate"
    })
    error_message = "A profile must carry costCenter, applicationId and environment of its combination, and the deployment's tag."
  }

  assert {
    condition = (
      module.attribution_profiles.copy_from["docs-helper|us.anthropic.claude-haiku-4-5-20251001-v1:0|support|production"] == "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0" &&
      module.attribution_profiles.copy_from["docs-helper|amazon.nova-lite-v1:0|sales|production"] == "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"
    )
    error_message = "A profile copies the system profile (geographic model IDs) or the foundation model behind the route."
  }

  assert {
    condition     = module.attribution_profiles.tags["batch/reports|amazon.nova-micro-v1:0|unassigned|unassigned"].costCenter == "unassigned"
    error_message = "An application without a cost center list is billed to costCenter = unassigned."
  }
}

run "application_items_map_model_cost_center_and_environment_to_the_profile" {
  command = plan

  assert {
    condition = keys(jsondecode(aws_dynamodb_table_item.application["docs-helper"].item).profiles.M) == [
      "amazon.nova-lite-v1:0|sales|production",
      "amazon.nova-lite-v1:0|support|production",
      "us.anthropic.claude-haiku-4-5-20251001-v1:0|sales|production",
      "us.anthropic.claude-haiku-4-5-20251001-v1:0|support|production",
    ]
    error_message = "The APPLICATION item must map <model id>|<cost center>|<environment> to its profiles."
  }

  assert {
    condition     = jsondecode(aws_dynamodb_table_item.application["docs-helper"].item).profiles.M["amazon.nova-lite-v1:0|sales|production"].S == "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/mock00000001"
    error_message = "The map's values must be the profiles' ARNs."
  }

  assert {
    condition     = jsondecode(aws_dynamodb_table_item.application["sales-desk"].item).profiles.M == {}
    error_message = "An application using only cost-center routes has an empty map (its calls go through those profiles)."
  }
}

run "the_invoke_role_may_call_only_profiles_carrying_the_deployment_tag" {
  command = plan

  assert {
    condition = one([for s in jsondecode(module.function["invoke"].policy).Statement : s if s.Sid == "InvokeAttributionProfiles"]) == {
      Sid       = "InvokeAttributionProfiles"
      Effect    = "Allow"
      Action    = ["bedrock:InvokeModel"]
      Resource  = ["arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/*"]
      Condition = { StringEquals = { "aws:ResourceTag/TollgateDeployment" = ["tollgate"] } }
    }
    error_message = "The invoke role must reach the attribution profiles only through this Region and account and the deployment's tag: ${jsonencode([for s in jsondecode(module.function["invoke"].policy).Statement : s if s.Sid == "InvokeAttributionProfiles"])}"
  }
}

run "a_streaming_caller_may_stream_through_the_attribution_profiles_too" {
  command = plan

  assert {
    condition = one([for s in jsondecode(output.stream_caller_policy_json).Statement : s if s.Sid == "StreamAttributionProfiles"]) == {
      Sid       = "StreamAttributionProfiles"
      Effect    = "Allow"
      Action    = ["bedrock:InvokeModelWithResponseStream"]
      Resource  = ["arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/*"]
      Condition = { StringEquals = { "aws:ResourceTag/TollgateDeployment" = "tollgate" } }
    }
    error_message = "With a registry, streams go through the attribution profiles: the streaming caller must reach them, by the deployment's tag only."
  }
}

run "no_profiles_and_no_statement_without_a_registry" {
  command = plan

  variables {
    applications = null
  }

  assert {
    condition     = length(module.attribution_profiles.names) == 0 && length([for s in jsondecode(module.function["invoke"].policy).Statement : s if s.Sid == "InvokeAttributionProfiles"]) == 0
    error_message = "Without a registry there are no attribution profiles and no statement for them."
  }
}

run "attribution_can_be_turned_off" {
  command = plan

  variables {
    attribution_profiles = { enabled = false }
  }

  assert {
    condition     = length(module.attribution_profiles.names) == 0 && !can(jsondecode(aws_dynamodb_table_item.application["docs-helper"].item).profiles)
    error_message = "enabled = false must create no profile and write no profiles map."
  }
}

run "more_profiles_than_the_quota_fail_the_plan" {
  command = plan

  variables {
    # 5 attribution profiles + 1 cost-center route
    attribution_profiles = { quota = 5 }
  }

  expect_failures = [aws_dynamodb_table.this]
}

run "exactly_the_quota_plans" {
  command = plan

  variables {
    attribution_profiles = { quota = 6 }
  }

  assert {
    condition     = length(module.attribution_profiles.names) == 5
    error_message = "A deployment that fits its quota must plan."
  }
}
