# Tollgate on AWS: the article's six model aliases, three cost-center routes (sales, services,
# support) through application inference profiles with cost allocation tags, and a realistic
# set of limits. Build the Lambda package first: `make package` in the repository root.

provider "aws" {
  region = var.region
}

module "tollgate" {
  source = "../.."

  name                = var.name
  lambda_package_path = var.lambda_package_path

  # models: the catalogue's aliases (functions/tollgate/data/models.json) by default: models
  # Bedrock serves today. The article's six aliases are in examples/routing/article.json.

  # The article's cost-center profiles: each copies Claude Haiku 4.5 (through its us. system
  # profile; the article used Claude 3 Haiku, past its end of life since 2026-09-10) and tags its
  # usage, so Cost Explorer can group Bedrock spend by costCenter once the tag is activated.
  inference_profiles = {
    sales = {
      model       = "claude-haiku-4-5"
      description = "Sales cost center: AWS documentation helper in production"
      tags        = { costCenter = "sales", applicationId = "aws-documentation-helper", environment = "production" }
    }
    services = {
      model       = "claude-haiku-4-5"
      description = "Services cost center: AWS documentation helper in production"
      tags        = { costCenter = "services", applicationId = "aws-documentation-helper", environment = "production" }
    }
    support = {
      model       = "claude-haiku-4-5"
      description = "Support cost center: AWS documentation helper in production"
      tags        = { costCenter = "support", applicationId = "aws-documentation-helper", environment = "production" }
    }
  }

  limits = [
    # Keep one model from swallowing a burst: tokens per minute on the larger models.
    { scope = { model = "nova-pro" }, window = "minute", unit = "total_tokens", limit = 200000 },
    { scope = { model = "claude-haiku-4-5" }, window = "minute", unit = "total_tokens", limit = 400000 },
    # Daily budgets per cost center, in dollars.
    { scope = { costCenter = "sales" }, window = "day", unit = "usd", limit = 50 },
    { scope = { costCenter = "services" }, window = "day", unit = "usd", limit = 30 },
    { scope = { costCenter = "support" }, window = "day", unit = "usd", limit = 80 },
    # Every application gets its own hourly request ceiling.
    { scope = { applicationId = "*" }, window = "hour", unit = "requests", limit = 5000 },
    # Development traffic stays cheap.
    { scope = { environment = "dev" }, window = "day", unit = "usd", limit = 10 },
    # A monthly ceiling for the whole account, in shadow mode: counted and reported, never denied.
    { name = "account-monthly-usd", scope = {}, window = "month", unit = "usd", limit = 5000, enforce = false },
  ]

  workflow_type     = "EXPRESS"
  metrics_namespace = "GenAIRateLimiting"
  metrics_sink      = "emf"

  alarms = {
    email_addresses  = var.alarm_email_addresses
    denied_threshold = 20
  }

  table_deletion_protection = var.table_deletion_protection

  tags = {
    project = "tollgate"
    owner   = "platform"
  }
}
