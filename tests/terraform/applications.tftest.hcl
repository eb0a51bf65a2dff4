# The optional application registry: APPLICATION items, and the checks of the variable.

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

run "no_registry_by_default" {
  command = plan

  assert {
    condition     = length(aws_dynamodb_table_item.application) == 0
    error_message = "Without `applications` no APPLICATION item may be written (tags stay self-asserted)."
  }
}

run "each_application_becomes_an_item_with_only_the_lists_it_gives" {
  command = plan

  variables {
    applications = {
      "aws-documentation-helper" = { cost_centers = ["support", "sales"], environments = ["production"], routes = ["claude-haiku-4-5"] }
      "batch-reports"            = { routes = [] }
      "anything-goes"            = {}
    }
    # The lists alone; the profiles map attribution adds is tested in attribution.tftest.hcl.
    attribution_profiles = { enabled = false }
  }

  assert {
    condition = jsondecode(aws_dynamodb_table_item.application["aws-documentation-helper"].item) == {
      pk           = { S = "APPLICATION" }
      sk           = { S = "aws-documentation-helper" }
      costCenters  = { L = [{ S = "support" }, { S = "sales" }] }
      environments = { L = [{ S = "production" }] }
      routes       = { L = [{ S = "claude-haiku-4-5" }] }
    }
    error_message = "An application must become an APPLICATION item with costCenters, environments and routes as lists."
  }

  assert {
    condition = (
      jsondecode(aws_dynamodb_table_item.application["batch-reports"].item) == { pk = { S = "APPLICATION" }, sk = { S = "batch-reports" }, routes = { L = [] } } &&
      jsondecode(aws_dynamodb_table_item.application["anything-goes"].item) == { pk = { S = "APPLICATION" }, sk = { S = "anything-goes" } }
    )
    error_message = "A list left null must not be written (any value); an empty list must be written (none allowed)."
  }
}

run "rejects_an_empty_registry" {
  command = plan
  variables { applications = {} }
  expect_failures = [var.applications]
}

run "rejects_an_application_id_of_star" {
  command = plan
  variables { applications = { "*" = {} } }
  expect_failures = [var.applications]
}

run "rejects_an_application_id_with_bad_characters" {
  command = plan
  variables { applications = { "team#1" = {} } }
  expect_failures = [var.applications]
}

run "rejects_a_cost_center_with_bad_characters" {
  command = plan
  variables { applications = { app = { cost_centers = ["sales!"] } } }
  expect_failures = [var.applications]
}

run "rejects_an_environment_that_is_not_allowed" {
  command = plan
  variables { applications = { app = { environments = ["qa"] } } }
  expect_failures = [aws_dynamodb_table_item.application]
}

run "rejects_an_unknown_route" {
  command = plan
  variables { applications = { app = { routes = ["gpt-4"] } } }
  expect_failures = [aws_dynamodb_table_item.application]
}

run "accepts_a_cost_center_route" {
  command = plan

  variables {
    inference_profiles = {
      sales = { model = "claude-haiku-4-5", tags = { costCenter = "sales" } }
    }
    applications = { app = { routes = ["sales", "nova-lite"], environments = ["dev"] } }
  }

  assert {
    condition     = length(aws_dynamodb_table_item.application) == 1
    error_message = "A registry naming a cost-center route and an allowed environment must plan."
  }
}
