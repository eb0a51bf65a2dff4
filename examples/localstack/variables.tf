# Everything an end-to-end test or the demo may want to change, with defaults for the demo.
# Apply with: terraform apply -var-file=<your>.tfvars (any subset of these).

variable "localstack_endpoint" {
  description = "LocalStack's edge endpoint; every AWS service the provider touches is sent there."
  type        = string
  default     = "http://localhost:4566"
}

variable "region" {
  description = "Region the provider (and LocalStack) uses."
  type        = string
  default     = "us-east-1"
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

variable "models" {
  description = "Model routes (null: the catalogue's aliases plus the article's six of examples/routing/article.json, which the local Bedrock emulator still serves). See the module's `models`."
  type = map(object({
    model_id               = string
    input_usd_per_1k       = optional(number)
    output_usd_per_1k      = optional(number)
    cache_read_usd_per_1k  = optional(number)
    cache_write_usd_per_1k = optional(number)
    max_tokens             = optional(number)
    default_max_tokens     = optional(number)
  }))
  default = null
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

variable "fail_open" {
  description = "Admit requests when the table cannot be reached."
  type        = bool
  default     = false
}

variable "allowed_environments" {
  description = "Allowed values of tags.environment."
  type        = list(string)
  default     = ["dev", "staging", "prod", "production"]
}

variable "allow_direct_model_ids" {
  description = "Whether `model` may be a routed model ID or profile ARN."
  type        = bool
  default     = false
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

variable "max_prompt_chars" {
  description = "Largest total prompt length in characters."
  type        = number
  default     = 100000
}

variable "idempotency_seconds" {
  description = "Reservation lifetime, for replays of a requestId."
  type        = number
  default     = 86400
}

variable "bedrock_read_timeout_seconds" {
  description = "Read timeout of the Converse call. Small here: the emulator answers in milliseconds, and the fault suite delays an answer past it to show that a lost answer is charged at its estimate."
  type        = number
  default     = 5
}

variable "reservation_lease_seconds" {
  description = "How long a reservation is held for its execution before the sweeper may close it (null: the module's default, 5 minutes plus the rate-limit timeout)."
  type        = number
  default     = null
}

variable "lambda_timeouts" {
  description = "Timeout of each function in seconds."
  type = object({
    validate       = optional(number, 8)
    rate_limit     = optional(number, 8)
    invoke         = optional(number, 40)
    record_metrics = optional(number, 8)
    sweeper        = optional(number, 60)
  })
  default = {}
}

variable "lambda_architecture" {
  description = "Instruction set of the functions (the host executor ignores it; x86_64 matches the host)."
  type        = string
  default     = "x86_64"
}

variable "log_level" {
  description = "Log level of the functions."
  type        = string
  default     = "INFO"
}

variable "log_prompts" {
  description = "Whether the functions may log prompt and response text."
  type        = bool
  default     = false
}

variable "metrics_namespace" {
  description = "Namespace of Tollgate's metrics."
  type        = string
  default     = "GenAIRateLimiting"
}

variable "metrics_sink" {
  description = "cloudwatch_api: LocalStack does not extract EMF from logs."
  type        = string
  default     = "cloudwatch_api"
}

variable "state_machine_log_level" {
  description = "Execution log level of the state machine."
  type        = string
  default     = "ALL"
}

variable "state_machine_include_execution_data" {
  description = "Whether the execution log includes state input and output (useful when debugging locally)."
  type        = bool
  default     = false
}

variable "tracing_enabled" {
  description = "X-Ray tracing (off locally: nothing collects the traces)."
  type        = bool
  default     = false
}

variable "create_kms_key" {
  description = "Whether to create the module's KMS key (off locally by default; KMS works in LocalStack if you want to try it)."
  type        = bool
  default     = false
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

variable "log_retention_days" {
  description = "Retention of the log groups."
  type        = number
  default     = 7
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
    services            = optional(list(string), ["Amazon Bedrock"])
  }))
  default = {
    sales    = { amount_usd = 5 }
    services = { amount_usd = 2 }
    support  = { amount_usd = 1 }
  }
}
