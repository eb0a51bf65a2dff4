# Tollgate in LocalStack on this machine: the same module, every AWS endpoint pointed at
# LocalStack, test credentials, and the PutMetricData sink (LocalStack does not extract EMF).
# `make demo` and the end-to-end tests apply it; see local/ for the Lambda executor and the
# Bedrock emulator that make it work without Docker.

provider "aws" {
  region     = "us-east-1"
  access_key = "test"
  secret_key = "test"

  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true # LocalStack's S3 at its endpoint, not <bucket>.<host>

  endpoints {
    bcmdataexports = var.localstack_endpoint
    bedrock        = var.localstack_endpoint
    budgets        = var.localstack_endpoint
    ce             = var.localstack_endpoint
    cloudwatch     = var.localstack_endpoint
    dynamodb       = var.localstack_endpoint
    iam            = var.localstack_endpoint
    s3             = var.localstack_endpoint
    kms            = var.localstack_endpoint
    lambda         = var.localstack_endpoint
    logs           = var.localstack_endpoint
    scheduler      = var.localstack_endpoint
    sfn            = var.localstack_endpoint
    sns            = var.localstack_endpoint
    sts            = var.localstack_endpoint
    xray           = var.localstack_endpoint
  }
}

# The article's routing (claude-3-5-haiku ...) besides the catalogue's default aliases, so that
# `make demo` and the end-to-end tests can send the article's request unchanged. Its models are
# Legacy or past their end of life on AWS: the module's `model_lifecycle` check warns about them at
# plan time, which is expected here (docs/models.md).
locals {
  catalogue = jsondecode(file("${path.module}/../../functions/tollgate/data/models.json"))
  default_and_article_models = {
    for alias, id in merge(
      local.catalogue.aliases,
      { for alias, m in jsondecode(file("${path.module}/../routing/article.json")).models : alias => m.model_id },
      ) : alias => {
      model_id               = id
      input_usd_per_1k       = null
      output_usd_per_1k      = null
      cache_read_usd_per_1k  = null
      cache_write_usd_per_1k = null
      max_tokens             = null
      default_max_tokens     = null
    }
  }
}

module "tollgate" {
  source = "../.."

  name                = var.name
  lambda_package_path = var.lambda_package_path

  models                = local.default_and_article_models
  inference_profiles    = var.inference_profiles
  model_lifecycle_check = var.model_lifecycle_check
  limits                = var.limits
  applications          = var.applications

  workflow_type             = var.workflow_type
  config_cache_seconds      = var.config_cache_seconds
  reservation_lease_seconds = var.reservation_lease_seconds
  metrics_namespace         = var.metrics_namespace
  create_dashboard          = var.create_dashboard
  alarms                    = { enabled = var.alarms_enabled }

  # The project's LocalStack plugins emulate Cost Explorer and Budgets (docs/reporting.md).
  cost_allocation_tags = { enabled = var.cost_allocation_tags_enabled }
  budgets              = var.budgets
  # The local Data Exports writes the CUR 2.0 Parquet from what the emulator served.
  cost_export = { enabled = var.cost_export_enabled, force_destroy = true }

  # What differs from the module's defaults because this is LocalStack on this machine:
  metrics_sink                 = "cloudwatch_api" # LocalStack does not extract EMF from the logs
  tracing_enabled              = false            # nothing collects the traces
  create_kms_key               = false            # nothing to protect; one resource fewer to apply
  lambda_architecture          = "x86_64"         # the host executor ignores it; this matches the host
  bedrock_read_timeout_seconds = 5                # the fault tests' delayed answer (8 s) times out
  table_deletion_protection    = false            # end-to-end tests destroy what they apply

  tags = {
    project = "tollgate"
    env     = "localstack"
  }
}
