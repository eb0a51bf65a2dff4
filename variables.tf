# Inputs of the Tollgate module. Each variable has at most one validation: the rules that stop a
# broken deploy, with a message that names the variable. Rules between variables are lifecycle
# preconditions on the resource they protect (main.tf, billing.tf); what the provider's schema
# already checks at plan time (workflow type, log level and retention, architecture, memory,
# the 1-900 s Lambda timeout) is left to it. docs/terraform.md explains each input at length.

# --- naming and packaging ---------------------------------------------------------------------

variable "name" {
  description = "Prefix of every resource name (state machine, functions, table, profiles, dashboard, alarms)."
  type        = string
  default     = "tollgate"

  validation {
    condition     = can(regex("^[A-Za-z0-9]+([-_][A-Za-z0-9]+)*$", var.name)) && length(var.name) <= 40
    error_message = "name must be 1-40 letters or digits, optionally separated by single hyphens or underscores (it prefixes function, role, table and profile names, which AWS limits to 64 characters)."
  }
}

variable "lambda_package_path" {
  description = "Lambda zip built by `make package` (null: the module's `dist/tollgate.zip`). Set this or lambda_package_s3."
  type        = string
  default     = null

  # Cross-variable, but kept here: the functions' package is read in a sub-module, and this
  # must fail before anything reads a missing file.
  validation {
    condition     = var.lambda_package_s3 == null ? fileexists(coalesce(var.lambda_package_path, "${path.module}/dist/tollgate.zip")) : var.lambda_package_path == null
    error_message = var.lambda_package_s3 == null ? "lambda_package_path: the Lambda package ${coalesce(var.lambda_package_path, "${path.module}/dist/tollgate.zip")} does not exist; run `make package` to build dist/tollgate.zip (or point lambda_package_path at an existing zip), or set lambda_package_s3 = { bucket, key, object_version } to deploy a released zip from S3 (docs/deploying.md)." : "lambda_package_path and lambda_package_s3 are both set; set exactly one: a local zip, or the S3 object of a released zip."
  }
}

variable "lambda_package_s3" {
  description = "A released Lambda zip in S3: bucket, key and object_version (recommended). Null: use lambda_package_path."
  type = object({
    bucket         = string
    key            = string
    object_version = optional(string)
  })
  default = null

  validation {
    condition = var.lambda_package_s3 == null || try(
      can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.lambda_package_s3.bucket)) &&
      length(var.lambda_package_s3.key) <= 1024 && !startswith(var.lambda_package_s3.key, "/") && endswith(var.lambda_package_s3.key, ".zip") &&
      var.lambda_package_s3.object_version != "",
    false)
    error_message = "lambda_package_s3: bucket must be an S3 bucket name (3-63 lowercase letters, digits, '.' and '-', not an ARN or URL), key the object key of the zip (at most 1024 characters, no leading '/', ending in .zip), and object_version the object's S3 version ID or left out."
  }
}

# --- routes -----------------------------------------------------------------------------------

variable "models" {
  description = "Model routes: alias -> model or system profile ID, optional prices and max tokens. Null: the catalogue's."
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

  validation {
    condition = var.models == null || alltrue(flatten([for alias, m in coalesce(var.models, {}) : [
      can(regex(local.route_name_pattern, alias)) && length(alias) <= 64,
      can(regex(local.model_id_pattern, m.model_id)),
      [for p in [m.input_usd_per_1k, m.output_usd_per_1k, m.cache_read_usd_per_1k, m.cache_write_usd_per_1k] : p == null ? true : p >= 0],
      [for t in [m.max_tokens, m.default_max_tokens] : t == null ? true : (t >= 1 && floor(t) == t)],
      m.max_tokens == null || m.default_max_tokens == null ? true : m.default_max_tokens <= m.max_tokens,
      contains(keys(local.catalogue.models), replace(m.model_id, local.geo_prefix_pattern, "")) || (m.input_usd_per_1k != null && m.output_usd_per_1k != null),
    ]]))
    error_message = "models: every alias must be 1-64 letters or digits, optionally separated by single '-', '_' or '.'; model_id a foundation-model ID (amazon.nova-lite-v1:0) or system inference profile ID (us.anthropic.claude-3-5-haiku-20241022-v1:0), not an ARN; prices (USD per 1,000 tokens) zero or more; max_tokens and default_max_tokens whole numbers of at least 1, default_max_tokens not above max_tokens; and a model_id outside functions/tollgate/data/models.json needs both input_usd_per_1k and output_usd_per_1k."
  }
}

variable "model_lifecycle_check" {
  description = "Warn at plan time (check `model_lifecycle`, never blocking) about routes to Legacy or end-of-life models."
  type        = bool
  default     = true
  nullable    = false
}

variable "inference_profiles" {
  description = "Application inference profiles: route name -> the model it copies and its cost allocation tags."
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
  default = {}

  # The profile name and the model it copies reach modules/inference-profiles, whose own checks
  # would otherwise fail first with a message that does not name this variable.
  validation {
    condition = alltrue(flatten([for k, p in var.inference_profiles : [
      can(regex("^[A-Za-z0-9]+([-_][A-Za-z0-9]+)*$", k)) && length("${var.name}-${k}") <= 64,
      startswith(p.model, "arn:") ? (can(regex(local.foundation_model_arn_pattern, p.model)) || can(regex(local.system_profile_arn_pattern, p.model))) : contains(keys(local.models), p.model),
      !startswith(p.model, "arn:") || contains(keys(local.catalogue.models), replace(replace(p.model, "/^.*//", ""), local.geo_prefix_pattern, "")) || (p.input_usd_per_1k != null && p.output_usd_per_1k != null),
      p.description == null ? true : length(p.description) <= 200 && can(regex(local.profile_description_pattern, p.description)),
      [for x in [p.input_usd_per_1k, p.output_usd_per_1k, p.cache_read_usd_per_1k, p.cache_write_usd_per_1k] : x == null ? true : x >= 0],
      p.max_tokens == null ? true : (p.max_tokens >= 1 && floor(p.max_tokens) == p.max_tokens),
      [for tk, tv in p.tags : length(tk) >= 1 && length(tk) <= 128 && length(tv) <= 256 && !startswith(lower(tk), "aws:") && can(regex(local.tag_pattern, tk)) && can(regex(local.tag_pattern, tv))],
    ]]))
    error_message = "inference_profiles: every key must be letters or digits, optionally separated by single '-' or '_', with `<name>-<key>` at most 64 characters; `model` an alias of models (${join(", ", sort(keys(local.models)))}), a foundation-model ARN or a system inference profile ARN (a model outside functions/tollgate/data/models.json needs input_usd_per_1k and output_usd_per_1k); description at most 200 letters, digits, ':' and '.' with single spaces, '_' or '-' between them; prices zero or more; max_tokens a whole number of at least 1; tag keys 1-128 and values 0-256 ASCII letters, digits, spaces and _ . : / = + - @, keys not starting with aws:."
  }
}

# --- limits -----------------------------------------------------------------------------------

variable "limits" {
  description = "Limits checked before every call: scope, UTC window, unit, ceiling, enforce, shards, alert_at."
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
  default = []

  # The limit ID as in locals.tf (repeated here: a rule cannot read a local built from its own variable).
  validation {
    condition = alltrue(flatten([for l in var.limits : [
      contains(["minute", "hour", "day", "month"], l.window),
      contains(["requests", "input_tokens", "output_tokens", "total_tokens", "usd"], l.unit),
      [for k, v in l.scope : contains(["model", "costCenter", "applicationId", "environment"], k) && (v == "*" || (length(v) >= 1 && length(v) <= 256 && can(regex(local.tag_pattern, v))))],
      l.limit >= 0 && (l.unit == "usd" || floor(l.limit) == l.limit),
      floor(l.shards) == l.shards && l.shards >= 1 && l.shards <= 64,
      l.name == null ? true : can(regex("^[A-Za-z0-9][A-Za-z0-9 _.:/=,*+@-]{0,127}$", l.name)),
      [for i, t in l.alert_at : try(t > 0 && t <= 1 && (i == 0 ? true : t > l.alert_at[i - 1]), false)],
      ]])) && length(var.limits) == length(distinct([for l in var.limits : l.name != null ? l.name : format("%s/%s/%s",
      length(l.scope) == 0 ? "*" : join(",", [for k in sort(keys(l.scope)) : "${k}=${l.scope[k]}"]), l.window, l.unit
    )]))
    error_message = "limits: window must be minute, hour, day or month; unit requests, input_tokens, output_tokens, total_tokens or usd; scope keys among model, costCenter, applicationId, environment, with values `*` or 1-256 letters, digits, spaces and _ . : / = + - @; limit zero or more, whole unless the unit is usd; shards a whole number from 1 to 64; name 1-128 letters, digits, spaces and _ . : / = , * + @ - (no '#'), starting with a letter or digit; alert_at ascending fractions above 0 and at most 1; and limit IDs (`name`, or `<scope>/<window>/<unit>`) unique."
  }
}

# --- workflow and function settings -----------------------------------------------------------

variable "applications" {
  description = "Optional registry: applicationId -> the cost centers, environments and routes it may use. Null: tags are self-asserted."
  type = map(object({
    cost_centers = optional(list(string))
    environments = optional(list(string))
    routes       = optional(list(string))
  }))
  default = null

  validation {
    condition = var.applications == null || try(length(var.applications) > 0 && alltrue(flatten([for id, a in var.applications : [
      for v in concat([id], a.cost_centers == null ? [] : a.cost_centers) : length(v) >= 1 && length(v) <= 256 && can(regex(local.tag_pattern, v)) && trimspace(v) != "" && v != "*"
    ]])), false)
    error_message = "applications must be null (no registry: tags are self-asserted) or name at least one application; each applicationId and cost center 1-256 characters of letters, digits, spaces and _ . : / = + - @ (AWS tag rules), not blank and not `*`."
  }
}

variable "attribution_profiles" {
  description = "With a registry, a tagged application inference profile per model, application, cost center and environment."
  type = object({
    enabled = optional(bool, true)
    quota   = optional(number, 1000)
  })
  default  = {}
  nullable = false
}

variable "workflow_type" {
  description = "Step Functions workflow type: EXPRESS (StartSyncExecution, the default) or STANDARD (long generations)."
  type        = string
  default     = "EXPRESS"
}

variable "allowed_environments" {
  description = "Values a request may give in tags.environment."
  type        = list(string)
  default     = ["dev", "staging", "prod", "production"]

  validation {
    condition     = length(var.allowed_environments) > 0 && alltrue([for e in var.allowed_environments : length(e) >= 1 && length(e) <= 256 && can(regex(local.tag_pattern, e)) && !strcontains(e, ",") && e != "*"])
    error_message = "allowed_environments must hold at least one value, each 1-256 characters of letters, digits, spaces and _ . : / = + - @ (no commas, not `*`)."
  }
}

variable "max_prompt_chars" {
  description = "Largest total number of characters of a request's messages."
  type        = number
  default     = 100000

  validation {
    condition     = var.max_prompt_chars >= 1 && var.max_prompt_chars <= 10000000 && floor(var.max_prompt_chars) == var.max_prompt_chars
    error_message = "max_prompt_chars must be a whole number from 1 to 10000000."
  }
}

variable "max_request_bytes" {
  description = "Largest request in bytes of UTF-8 JSON; the response gets what it leaves of the 256 KiB Step Functions state."
  type        = number
  default     = 98304

  validation {
    condition     = var.max_request_bytes >= 1024 && var.max_request_bytes <= 131072 && floor(var.max_request_bytes) == var.max_request_bytes
    error_message = "max_request_bytes must be a whole number from 1024 to 131072 (128 KiB): a larger request would leave too little of Step Functions' 256 KiB state for the response."
  }
}

variable "input_token_estimate" {
  description = "How input tokens are estimated for the reservation: `heuristic`, `utf8_bytes` or `count_tokens`."
  type        = string
  default     = "heuristic"

  validation {
    condition     = contains(["heuristic", "utf8_bytes", "count_tokens"], var.input_token_estimate)
    error_message = "input_token_estimate must be heuristic, utf8_bytes or count_tokens."
  }
}

variable "allow_direct_model_ids" {
  description = "Let a request's `model` be a routed model ID or profile ARN instead of a route name."
  type        = bool
  default     = false
}

variable "fail_open" {
  description = "Admit requests, uncounted, when the limits table cannot be reached (default: deny them)."
  type        = bool
  default     = false
}

variable "config_cache_seconds" {
  description = "How long the functions cache routes and limits: a changed limit applies within this time."
  type        = number
  default     = 60

  validation {
    condition     = var.config_cache_seconds >= 0 && var.config_cache_seconds <= 3600 && floor(var.config_cache_seconds) == var.config_cache_seconds
    error_message = "config_cache_seconds must be a whole number from 0 to 3600."
  }
}

variable "idempotency_seconds" {
  description = "How long a reservation is kept so that a retry with the same requestId is recognised; at least the lease."
  type        = number
  default     = 86400

  validation {
    condition     = var.idempotency_seconds >= 300 && var.idempotency_seconds <= 2678400 && floor(var.idempotency_seconds) == var.idempotency_seconds
    error_message = "idempotency_seconds must be a whole number from 300 (5 minutes) to 2678400 (31 days)."
  }
}

variable "bedrock_read_timeout_seconds" {
  description = "Read timeout of the Converse call, below lambda_timeouts.invoke. Null: sized from each request's max_tokens."
  type        = number
  default     = null
}

variable "reservation_lease_seconds" {
  description = "How long a reservation is held before the sweeper closes it. Null: the longest run plus the rate-limit timeout."
  type        = number
  default     = null

  validation {
    condition     = var.reservation_lease_seconds == null || try(var.reservation_lease_seconds >= 60 && var.reservation_lease_seconds <= 86400 && floor(var.reservation_lease_seconds) == var.reservation_lease_seconds, false)
    error_message = "reservation_lease_seconds must be null or a whole number from 60 to 86400."
  }
}

variable "sweeper_schedule_expression" {
  description = "EventBridge Scheduler expression of the sweeper (closes reservations whose lease expired)."
  type        = string
  default     = "rate(1 minute)"

  validation {
    condition     = can(regex("^(rate\\([1-9][0-9]* (minute|minutes|hour|hours)\\)|cron\\(.+\\))$", var.sweeper_schedule_expression))
    error_message = "sweeper_schedule_expression must be a rate(...) or cron(...) expression, such as rate(1 minute)."
  }
}

variable "log_prompts" {
  description = "Let the functions log prompt and response text (prompts can hold personal data)."
  type        = bool
  default     = false
}

variable "log_level" {
  description = "Log level of the functions (POWERTOOLS_LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL."
  }
}

variable "service_name" {
  description = "Service name in the functions' logs and traces (POWERTOOLS_SERVICE_NAME)."
  type        = string
  default     = "tollgate"
}

variable "lambda_architecture" {
  description = "Instruction set of the functions: arm64 (cheaper) or x86_64."
  type        = string
  default     = "arm64"
}

variable "lambda_memory_size" {
  description = "Memory of each function, in MB."
  type        = number
  default     = 256
}

variable "lambda_timeouts" {
  description = "Timeout of each function in seconds, each shorter than the states that call it (under EXPRESS, invoke below 248 s)."
  type = object({
    validate       = optional(number, 8)
    rate_limit     = optional(number, 8)
    invoke         = optional(number, 247)
    record_metrics = optional(number, 8)
    sweeper        = optional(number, 60)
  })
  default = {}
}

# --- observability ----------------------------------------------------------------------------

variable "metrics_namespace" {
  description = "CloudWatch namespace of the metrics, read by the dashboard and the alarms."
  type        = string
  default     = "GenAIRateLimiting"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/#-][A-Za-z0-9._/#: -]{0,254}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 characters of letters, digits, spaces and . _ / # : -, must not start with ':' and must not start with AWS/ (reserved for AWS services)."
  }
}

variable "metrics_sink" {
  description = "How metrics are published: `emf` (log lines, no API call) or `cloudwatch_api` (PutMetricData, for LocalStack)."
  type        = string
  default     = "emf"

  validation {
    condition     = contains(["emf", "cloudwatch_api"], var.metrics_sink)
    error_message = "metrics_sink must be emf or cloudwatch_api."
  }
}

variable "log_retention_days" {
  description = "Retention of every log group the module creates, in days."
  type        = number
  default     = 365
}

variable "state_machine_log_level" {
  description = "Execution log level of the state machine: ALL, ERROR, FATAL or OFF."
  type        = string
  default     = "ALL"
}

variable "state_machine_include_execution_data" {
  description = "Log state input and output (that is, prompts and responses) in the state machine's log."
  type        = bool
  default     = false
}

variable "tracing_enabled" {
  description = "X-Ray tracing for the state machine and the functions."
  type        = bool
  default     = true
}

variable "create_dashboard" {
  description = "Whether to create the CloudWatch dashboard."
  type        = bool
  default     = true
}

variable "alarms" {
  description = "Alarms on denials, failures, timeouts and swept reservations, to a given or created SNS topic."
  type = object({
    enabled                     = optional(bool, true)
    sns_topic_arn               = optional(string)
    email_addresses             = optional(list(string), [])
    period_seconds              = optional(number, 300)
    evaluation_periods          = optional(number, 1)
    denied_threshold            = optional(number, 10)
    invocation_failed_threshold = optional(number, 5)
    executions_failed_threshold = optional(number, 10)
    # Timed-out executions and reservations closed by the sweeper (both mean an execution died).
    executions_timed_out_threshold = optional(number, 1)
    swept_reservations_threshold   = optional(number, 1)
  })
  default = {}

  validation {
    condition = alltrue(concat(
      [var.alarms.sns_topic_arn == null || can(regex("^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\\.fifo)?$", coalesce(var.alarms.sns_topic_arn, "-")))],
      [for e in var.alarms.email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))],
      [var.alarms.period_seconds >= 60 && var.alarms.period_seconds <= 86400 && var.alarms.period_seconds % 60 == 0],
      [var.alarms.evaluation_periods >= 1 && var.alarms.evaluation_periods <= 100 && floor(var.alarms.evaluation_periods) == var.alarms.evaluation_periods],
      [for t in [var.alarms.denied_threshold, var.alarms.invocation_failed_threshold, var.alarms.executions_failed_threshold, var.alarms.executions_timed_out_threshold, var.alarms.swept_reservations_threshold] : t >= 1],
    ))
    error_message = "alarms: sns_topic_arn must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>), every email_addresses entry an e-mail address, period_seconds a multiple of 60 from 60 to 86400, evaluation_periods a whole number from 1 to 100, and every *_threshold at least 1."
  }
}

# --- billing: cost allocation tags and budgets --------------------------------------------------

variable "cost_allocation_tags" {
  description = "Activate the profiles' tag keys as cost allocation tags. Account-wide, and only the payer account may do it."
  type = object({
    enabled = optional(bool, false)
    keys    = optional(list(string), ["costCenter", "applicationId", "environment"])
  })
  default = {}

  validation {
    condition     = (!var.cost_allocation_tags.enabled || length(var.cost_allocation_tags.keys) > 0) && length(var.cost_allocation_tags.keys) == length(distinct(var.cost_allocation_tags.keys)) && alltrue([for k in var.cost_allocation_tags.keys : length(k) >= 1 && length(k) <= 128 && !startswith(lower(k), "aws:") && can(regex(local.tag_pattern, k))])
    error_message = "cost_allocation_tags: keys must be distinct, each 1-128 ASCII letters, digits, spaces and _ . : / = + - @, not starting with aws: (AWS-generated tags are activated separately), and enabled = true needs at least one key."
  }
}

variable "budgets" {
  description = "AWS Budgets: key -> monthly USD for one cost allocation tag value (all services, so Claude's Marketplace charges count)."
  type = map(object({
    amount_usd          = number
    tag_key             = optional(string, "costCenter")
    tag_value           = optional(string)
    actual_thresholds   = optional(list(number), [50, 80, 100])
    forecast_thresholds = optional(list(number), [100])
    email_addresses     = optional(list(string), [])
    services            = optional(list(string))
  }))
  default = {}

  validation {
    condition = alltrue(flatten([for k, b in var.budgets : [
      can(regex("^[A-Za-z0-9]+([-_.][A-Za-z0-9]+)*$", k)),
      b.amount_usd > 0 && b.amount_usd <= 1000000000,
      length(b.tag_key) >= 1 && length(b.tag_key) <= 128 && !startswith(lower(b.tag_key), "aws:") && can(regex(local.tag_pattern, b.tag_key)),
      b.tag_value == null || (length(coalesce(b.tag_value, "-")) <= 256 && can(regex(local.tag_pattern, coalesce(b.tag_value, "-"))) && !strcontains(coalesce(b.tag_value, "-"), "$")),
      [for t in concat(b.actual_thresholds, b.forecast_thresholds) : t > 0 && t <= 1000],
      length(b.actual_thresholds) == length(distinct(b.actual_thresholds)) && length(b.forecast_thresholds) == length(distinct(b.forecast_thresholds)),
      length(b.actual_thresholds) + length(b.forecast_thresholds) >= 1 && length(b.actual_thresholds) + length(b.forecast_thresholds) <= 10,
      [for e in b.email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))],
      length(b.email_addresses) <= 10,
      b.services == null ? true : length(b.services) >= 1 && alltrue([for s in b.services : length(s) >= 1 && length(s) <= 256]),
    ]]))
    error_message = "budgets: every key must be letters or digits, optionally separated by single '-', '_' or '.'; amount_usd more than 0 and at most 1000000000; tag_key 1-128 and tag_value at most 256 ASCII letters, digits, spaces and _ . : / = + - @ (tag_key not starting with aws:); thresholds percentages above 0 and at most 1000, none repeated, 1-10 notifications in all; at most 10 email_addresses, each an e-mail address; services, when set, naming at least one Cost Explorer service."
  }
}

# --- encryption, protection, tags -------------------------------------------------------------

variable "kms_key_arn" {
  description = "A customer managed KMS key for the table, logs, environments and topic. Null: see create_kms_key."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", coalesce(var.kms_key_arn, "-")))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>), not an alias."
  }
}

variable "create_kms_key" {
  description = "With kms_key_arn null: create one rotated KMS key. False: AWS managed encryption, and an unencrypted alarm topic."
  type        = bool
  default     = true
}

variable "table_deletion_protection" {
  description = "Deletion protection of the limits table. Set false before `terraform destroy`."
  type        = bool
  default     = true
}

variable "iam_role_path" {
  description = "Path of every IAM role the module creates."
  type        = string
  default     = "/"

  validation {
    condition     = length(var.iam_role_path) <= 512 && can(regex("^/([\\x21-\\x7E]+/)?$", var.iam_role_path)) && !strcontains(var.iam_role_path, "//")
    error_message = "iam_role_path must be `/` or start and end with `/` (for example /tollgate/), at most 512 printable ASCII characters without spaces or `//`."
  }
}

variable "iam_permissions_boundary_arn" {
  description = "ARN of an IAM managed policy set as permissions boundary of every role the module creates (null: none)."
  type        = string
  default     = null

  validation {
    condition     = var.iam_permissions_boundary_arn == null || can(regex("^arn:aws(-[a-z]+)*:iam::([0-9]{12}|aws):policy/[A-Za-z0-9+=,.@_/-]+$", coalesce(var.iam_permissions_boundary_arn, "-")))
    error_message = "iam_permissions_boundary_arn must be the ARN of an IAM managed policy (arn:aws:iam::<account>:policy/<path><name>)."
  }
}

variable "cost_export" {
  description = "Optional CUR 2.0 export (daily Parquet, with caller identity) for `tollgate report --source cur`."
  type = object({
    enabled          = optional(bool, false)
    bucket_name      = optional(string)
    s3_prefix        = optional(string, "cur2")
    caller_identity  = optional(bool, true)
    principal_tags   = optional(map(string), {})
    force_destroy    = optional(bool, false)
    expiration_days  = optional(number, 400)
    table_properties = optional(map(string), {})
  })
  default = {}

  validation {
    condition     = (var.cost_export.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.cost_export.bucket_name))) && can(regex("^[A-Za-z0-9!_.*'()/-]{0,512}$", var.cost_export.s3_prefix)) && var.cost_export.expiration_days >= 1
    error_message = "cost_export: bucket_name must be 3-63 lower-case letters, digits, dots and hyphens; s3_prefix at most 512 S3-safe characters; expiration_days at least 1."
  }
}

variable "tags" {
  description = "Tags for every resource the module creates (merged with each inference profile's own tags)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) >= 1 && length(k) <= 128 && length(v) <= 256 && !startswith(lower(k), "aws:") && can(regex(local.tag_pattern, k)) && can(regex(local.tag_pattern, v))])
    error_message = "tags: keys must be 1-128 and values 0-256 characters of ASCII letters, digits, spaces and _ . : / = + - @, and keys must not start with aws:."
  }
}
