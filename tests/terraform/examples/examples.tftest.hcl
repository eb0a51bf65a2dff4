# Both examples plan with their own defaults (the LocalStack demo's limits, profiles and routes
# pass the module's rules), and the LocalStack example re-exports every module output.
#
# These runs load the examples as modules, which `terraform init` installs only when it is given
# this directory: run from the repository root
#   terraform init -backend=false -test-directory=tests/terraform/examples
#   terraform test -test-directory=tests/terraform/examples
# (kept out of tests/terraform so that `make test-terraform` works with a plain `terraform init`).

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "000000000000" }
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

run "complete_example_plans" {
  command = plan

  module {
    source = "./examples/complete"
  }

  assert {
    condition     = toset(keys(module.tollgate.model_routes)) == toset(["claude-haiku-4-5", "nova-micro", "nova-lite", "nova-pro", "sales", "services", "support"])
    error_message = "The complete example must route the catalogue's aliases and the article's three cost-center profiles."
  }

  assert {
    condition     = length(module.tollgate.limit_ids) == 8
    error_message = "The complete example declares eight limits."
  }
}

run "localstack_example_plans_with_its_demo_defaults" {
  command = plan

  module {
    source = "./examples/localstack"
  }

  # It routes the article's models, Legacy or past their end of life, so the module's lifecycle
  # check warns (tests/terraform/lifecycle.tftest.hcl tests that); a test can only expect
  # failures of its own module's checks, so this plan turns the warning off.
  variables {
    model_lifecycle_check = false
  }

  assert {
    condition     = toset(keys(module.tollgate.model_routes)) == toset(["claude-haiku-4-5", "nova-micro", "nova-lite", "nova-pro", "claude-2", "claude-3-haiku", "claude-3-5-sonnet-v2", "claude-3-5-haiku", "sales", "services", "support"])
    error_message = "The LocalStack example must route the catalogue's aliases, the article's six (examples/routing/article.json) and its three cost-center profiles."
  }

  assert {
    condition = toset(output.limit_ids) == toset([
      "model=nova-micro/minute/requests",
      "model=claude-3-5-haiku/minute/total_tokens",
      "costCenter=services/day/usd",
      "applicationId=*/hour/requests",
      "*/month/usd",
    ])
    error_message = "The demo's limits must be the documented ones."
  }

  assert {
    condition     = length(regexall("metrics_sink += \"cloudwatch_api\"", file("examples/localstack/main.tf"))) == 1 && var.localstack_endpoint == "http://localhost:4566" && output.metrics_namespace == "GenAIRateLimiting"
    error_message = "The LocalStack example must publish with PutMetricData and talk to LocalStack on port 4566 by default."
  }

  assert {
    condition     = output.metrics_namespace != null && toset(flatten(regexall("output \"([a-z_]+)\"", file("examples/localstack/outputs.tf")))) == toset(flatten(regexall("output \"([a-z_]+)\"", file("outputs.tf"))))
    error_message = "The LocalStack example must re-export every module output under the same name."
  }
}
