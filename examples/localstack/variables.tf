# Only what the demo (local/demo.py) and the tests (tests/e2e/deployment.py, tests/terraform/examples)
# set, with defaults for the demo; everything else is the module's default or fixed in main.tf for
# LocalStack. Apply with: terraform apply -var-file=<your>.tfvars (any subset of these).

variable "localstack_endpoint" {
  description = "LocalStack's edge endpoint; every AWS service the provider touches is sent there."
  type        = string
  default     = "http://localhost:4566"
}

variable "name" {
  description = "Prefix for every resource name."
  type        = string
  default     = "tollgate"
}

variable "lambda_package_path" {
  description = "The Lambda zip; null means dist/tollgate.zip of the repository (built by `make package`)."
  type        = string
  default     = null
}

variable "model_lifecycle_check" {
  description = "The module's plan-time warning about Legacy or end-of-life routes (the article's routes here, which the emulator still serves). See the module's `model_lifecycle_check`."
  type        = bool
  default     = true
}

variable "inference_profiles" {
  description = "Cost-center routes through application inference profiles. See the module's `inference_profiles`."
  type = map(object({
    model                  = string
    tags                   = optional(map(string), {})
    description            = optional(string)
    input_usd_per_1k       = optional(number)
    output_usd_per_1k      = optional(number)
    cache_read_usd_per_1k  = optional(number)
    cache_write_usd_per_1k = optional(number)
    max_tokens             = optional(number)
  }))
  default = {
    sales = {
      model = "claude-3-haiku"
      tags  = { costCenter = "sales", applicationId = "aws-documentation-helper", environment = "production" }
    }
    services = {
      model = "claude-3-haiku"
      tags  = { costCenter = "services", applicationId = "aws-documentation-helper", environment = "production" }
    }
    support = {
      model = "claude-3-haiku"
      tags  = { costCenter = "support", applicationId = "aws-documentation-helper", environment = "production" }
    }
  }
}

variable "limits" {
  description = "Limits. The demo's defaults let a burst of about 30 requests hit some of them while the rest succeed: 5 requests a minute on nova-micro, 6,000 tokens a minute on claude-3-5-haiku (3 requests reserving max_tokens = 2000 at once do not fit, although each uses far less once settled), half a cent a day for the services cost center."
  type = list(object({
    name     = optional(string)
    scope    = optional(map(string), {})
    window   = string
    unit     = string
    limit    = number
    enforce  = optional(bool, true)
    shards   = optional(number, 1)
    alert_at = optional(list(number), [])
  }))
  default = [
    { scope = { model = "nova-micro" }, window = "minute", unit = "requests", limit = 5 },
    { scope = { model = "claude-3-5-haiku" }, window = "minute", unit = "total_tokens", limit = 6000 },
    { scope = { costCenter = "services" }, window = "day", unit = "usd", limit = 0.005 },
    { scope = { applicationId = "*" }, window = "hour", unit = "requests", limit = 1000 },
    { scope = {}, window = "month", unit = "usd", limit = 100, enforce = false },
  ]
}

variable "workflow_type" {
  description = "EXPRESS or STANDARD."
  type        = string
  default     = "EXPRESS"
}

variable "config_cache_seconds" {
  description = "How long the functions cache routes and limits (short, so tests can change limits)."
  type        = number
  default     = 5
}

variable "applications" {
  description = "Optional application registry (applicationId -> cost_centers, environments, routes); null: tags are self-asserted."
  type = map(object({
    cost_centers = optional(list(string))
    environments = optional(list(string))
    routes       = optional(list(string))
  }))
  default = null
}

variable "reservation_lease_seconds" {
  description = "How long a reservation is held for its execution before the sweeper may close it (null: the module's default, 5 minutes plus the rate-limit timeout)."
  type        = number
  default     = null
}

variable "metrics_namespace" {
  description = "Namespace of Tollgate's metrics."
  type        = string
  default     = "GenAIRateLimiting"
}

variable "create_dashboard" {
  description = "Whether to create the dashboard."
  type        = bool
  default     = true
}

variable "alarms_enabled" {
  description = "Whether to create the alarms and their topic (LocalStack keeps them in INSUFFICIENT_DATA)."
  type        = bool
  default     = true
}

variable "cost_allocation_tags_enabled" {
  description = "Activate costCenter, applicationId and environment as cost allocation tags (in LocalStack: the project's Cost Explorer emulator)."
  type        = bool
  default     = true
}

variable "budgets" {
  description = "Monthly Bedrock budgets per cost center. See the module's `budgets`."
  type = map(object({
    amount_usd          = number
    tag_key             = optional(string, "costCenter")
    tag_value           = optional(string)
    actual_thresholds   = optional(list(number), [50, 80, 100])
    forecast_thresholds = optional(list(number), [100])
    email_addresses     = optional(list(string), [])
    services            = optional(list(string))
  }))
  default = {
    sales    = { amount_usd = 5 }
    services = { amount_usd = 2 }
    support  = { amount_usd = 1 }
  }
}

variable "cost_export_enabled" {
  description = "Create the CUR 2.0 export (the local Data Exports emulation delivers it within seconds)."
  type        = bool
  default     = false
}
