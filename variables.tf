# Inputs of the Tollgate module. Every rule below fails at plan time with a sentence that names
# the variable and the rule. Regular expressions shared by several rules live in locals.tf.

# --- naming and packaging ---------------------------------------------------------------------

variable "name" {
  description = "Prefix for every resource name: state machine `<name>`, functions `<name>-validate`, `<name>-rate-limit`, `<name>-invoke`, `<name>-record-metrics`, table `<name>-limits`, inference profiles `<name>-<profile>`, dashboard, alarms and topic."
  type        = string
  default     = "tollgate"

  validation {
    condition     = can(regex("^[A-Za-z0-9]+([-_][A-Za-z0-9]+)*$", var.name)) && length(var.name) <= 40
    error_message = "name must be 1-40 letters or digits, optionally separated by single hyphens or underscores (it prefixes function, role, table and profile names, which AWS limits to 64 characters)."
  }
}

variable "lambda_package_path" {
  description = "Path to the Lambda zip built by `make package` or `make release` (all functions use it). Null means `<module>/dist/tollgate.zip`, unless lambda_package_s3 is set."
  type        = string
  default     = null

  validation {
    condition     = var.lambda_package_s3 != null || fileexists(coalesce(var.lambda_package_path, "${path.module}/dist/tollgate.zip"))
    error_message = "lambda_package_path: the Lambda package ${coalesce(var.lambda_package_path, "${path.module}/dist/tollgate.zip")} does not exist; run `make package` to build dist/tollgate.zip (or point lambda_package_path at an existing zip), or set lambda_package_s3 = { bucket, key, object_version } to deploy a released zip from S3 (docs/deploying.md)."
  }

  validation {
    condition     = var.lambda_package_path == null || var.lambda_package_s3 == null
    error_message = "lambda_package_path and lambda_package_s3 are both set; set exactly one: a local zip, or the S3 object of a released zip."
  }
}

variable "lambda_package_s3" {
  description = "The Lambda zip as an S3 object (a release's dist/tollgate-<version>.zip uploaded to a bucket in the deployment's Region): bucket, key and object_version (recommended: a new version redeploys the code; without it, a re-upload to the same key is not noticed). Null: use lambda_package_path."
  type = object({
    bucket         = string
    key            = string
    object_version = optional(string)
  })
  default = null

  validation {
    condition     = var.lambda_package_s3 == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", try(var.lambda_package_s3.bucket, "")))
    error_message = "lambda_package_s3: bucket must be an S3 bucket name (3-63 lowercase letters, digits, '.' and '-'), not an ARN or URL."
  }

  validation {
    condition     = var.lambda_package_s3 == null || (length(try(var.lambda_package_s3.key, "")) >= 1 && length(try(var.lambda_package_s3.key, "")) <= 1024 && !startswith(try(var.lambda_package_s3.key, ""), "/") && endswith(try(var.lambda_package_s3.key, ""), ".zip"))
    error_message = "lambda_package_s3: key must be the object key of the zip (1-1024 characters, no leading '/', ending in .zip), for example tollgate/tollgate-0.2.0.zip."
  }

  validation {
    condition     = try(var.lambda_package_s3.object_version, null) == null || try(var.lambda_package_s3.object_version, "") != ""
    error_message = "lambda_package_s3: object_version must be the S3 version ID of the object (from `aws s3api put-object`), or left out."
  }
}

# --- routes -----------------------------------------------------------------------------------

variable "models" {
  description = "Model routes: alias (what a request puts in `model`) -> foundation-model ID or system (cross-region) inference profile ID, with optional price (USD per 1,000 tokens: input, output, cache read, cache write) and max-tokens overrides. A price left null comes from the catalogue (cache prices: the input price when the route overrides input_usd_per_1k); override where a geographic or global profile, or your contract, is priced otherwise (docs/models.md). Null means the aliases of functions/tollgate/data/models.json (models Bedrock serves today) with the catalogue's prices; the article's six aliases are in examples/routing/article.json."
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
    condition     = var.models == null || alltrue([for alias in keys(coalesce(var.models, {})) : can(regex(local.route_name_pattern, alias)) && length(alias) <= 64])
    error_message = "models: every alias must be 1-64 letters or digits, optionally separated by single '-', '_' or '.' (for example claude-3-5-haiku)."
  }

  validation {
    condition     = var.models == null || alltrue([for m in values(coalesce(var.models, {})) : can(regex(local.model_id_pattern, m.model_id))])
    error_message = "models: every model_id must be a foundation-model ID (amazon.nova-lite-v1:0) or a system inference profile ID (us.anthropic.claude-3-5-haiku-20241022-v1:0), not an ARN."
  }

  validation {
    condition = var.models == null || alltrue(flatten([for m in values(coalesce(var.models, {})) : [
      for p in [m.input_usd_per_1k, m.output_usd_per_1k, m.cache_read_usd_per_1k, m.cache_write_usd_per_1k] : p == null ? true : p >= 0
    ]]))
    error_message = "models: input_usd_per_1k, output_usd_per_1k, cache_read_usd_per_1k and cache_write_usd_per_1k must be zero or more (USD per 1,000 tokens)."
  }

  validation {
    condition = var.models == null || alltrue(flatten([for m in values(coalesce(var.models, {})) : [
      for t in [m.max_tokens, m.default_max_tokens] : t == null ? true : (t >= 1 && floor(t) == t)
    ]]))
    error_message = "models: max_tokens and default_max_tokens must be whole numbers of at least 1."
  }

  validation {
    condition = var.models == null || alltrue([for m in values(coalesce(var.models, {})) :
      m.max_tokens == null || m.default_max_tokens == null ? true : m.default_max_tokens <= m.max_tokens
    ])
    error_message = "models: default_max_tokens must not exceed max_tokens."
  }

  validation {
    condition = var.models == null || alltrue([for m in values(coalesce(var.models, {})) :
      contains(keys(local.catalogue.models), replace(m.model_id, local.geo_prefix_pattern, "")) || (m.input_usd_per_1k != null && m.output_usd_per_1k != null)
    ])
    error_message = "models: a model_id that is not in functions/tollgate/data/models.json needs both input_usd_per_1k and output_usd_per_1k, or its cost cannot be estimated."
  }
}

variable "model_lifecycle_check" {
  description = "Warn at plan time (check \"model_lifecycle\") about every route whose model the catalogue lists as Legacy or past its end of life. A check never blocks an apply; turn it off only where those models are still served to you (the LocalStack emulator, a private extended-access arrangement)."
  type        = bool
  default     = true
  nullable    = false
}

variable "inference_profiles" {
  description = "Application inference profiles, one per cost center (or team, application): route name -> the model it copies (an alias from `models`, or a foundation-model / system inference profile ARN) and its cost allocation tags. A request whose `model` is the route name is sent through the profile, so Bedrock bills it under those tags."
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

  validation {
    condition     = alltrue([for k in keys(var.inference_profiles) : can(regex("^[A-Za-z0-9]+([-_][A-Za-z0-9]+)*$", k)) && length("${var.name}-${k}") <= 64])
    error_message = "inference_profiles: every key must be letters or digits, optionally separated by single '-' or '_', and `<name>-<key>` (the profile name) at most 64 characters."
  }

  validation {
    condition     = length(setintersection(keys(var.inference_profiles), keys(local.models))) == 0
    error_message = "inference_profiles: a profile key must not also be an alias in models (both become route names): ${join(", ", setintersection(keys(var.inference_profiles), keys(local.models)))}."
  }

  validation {
    condition     = alltrue([for p in values(var.inference_profiles) : startswith(p.model, "arn:") || contains(keys(local.models), p.model)])
    error_message = "inference_profiles: `model` must be an alias that exists in models (${join(", ", sort(keys(local.models)))}) or an ARN; these profiles point at unknown aliases: ${join(", ", [for k, p in var.inference_profiles : k if !startswith(p.model, "arn:") && !contains(keys(local.models), p.model)])}."
  }

  validation {
    condition     = alltrue([for p in values(var.inference_profiles) : !startswith(p.model, "arn:") || can(regex(local.foundation_model_arn_pattern, p.model)) || can(regex(local.system_profile_arn_pattern, p.model))])
    error_message = "inference_profiles: a model ARN must be a foundation-model ARN (arn:aws:bedrock:<region>::foundation-model/<model id>) or a system inference profile ARN (arn:aws:bedrock:<region>:<account>:inference-profile/<profile id>)."
  }

  validation {
    condition = alltrue(flatten([for p in values(var.inference_profiles) : [
      for k, v in p.tags : length(k) >= 1 && length(k) <= 128 && length(v) <= 256 && !startswith(lower(k), "aws:") && can(regex(local.tag_pattern, k)) && can(regex(local.tag_pattern, v))
    ]]))
    error_message = "inference_profiles: tag keys must be 1-128 and values 0-256 characters of ASCII letters, digits, spaces and _ . : / = + - @, and keys must not start with aws: (they become cost allocation tags)."
  }

  validation {
    condition = alltrue([for p in values(var.inference_profiles) : !startswith(p.model, "arn:") ||
      contains(keys(local.catalogue.models), replace(replace(p.model, "/^.*//", ""), local.geo_prefix_pattern, "")) ||
      (p.input_usd_per_1k != null && p.output_usd_per_1k != null)
    ])
    error_message = "inference_profiles: a profile whose model ARN names a model that is not in functions/tollgate/data/models.json needs both input_usd_per_1k and output_usd_per_1k, or its cost cannot be estimated."
  }

  validation {
    condition     = alltrue([for p in values(var.inference_profiles) : p.description == null ? true : length(p.description) <= 200 && can(regex(local.profile_description_pattern, p.description))])
    error_message = "inference_profiles: description must be at most 200 characters of letters, digits, ':' and '.', with single spaces, '_' or '-' between them (Bedrock's rule; no commas)."
  }

  validation {
    condition = alltrue(flatten([for p in values(var.inference_profiles) : [
      for x in [p.input_usd_per_1k, p.output_usd_per_1k, p.cache_read_usd_per_1k, p.cache_write_usd_per_1k] : x == null ? true : x >= 0
    ]]))
    error_message = "inference_profiles: input_usd_per_1k, output_usd_per_1k, cache_read_usd_per_1k and cache_write_usd_per_1k must be zero or more (USD per 1,000 tokens)."
  }

  validation {
    condition     = alltrue([for p in values(var.inference_profiles) : p.max_tokens == null ? true : (p.max_tokens >= 1 && floor(p.max_tokens) == p.max_tokens)])
    error_message = "inference_profiles: max_tokens must be a whole number of at least 1."
  }
}

# --- limits -----------------------------------------------------------------------------------

variable "limits" {
  description = "Limits written to the table: scope (any of model, costCenter, applicationId, environment; a value `*` means each distinct value separately; {} is global), calendar window in UTC, unit, ceiling, whether it is enforced (false = shadow: counted and reported, never denied), shards (1-64 counter items the ceiling is split over, for a limit so busy that one item's write throughput caps it; docs/ledger.md), and alert_at: fractions of the ceiling (each above 0 and at most 1, ascending, e.g. [0.5, 0.8, 1.0]) at which one message per counter, window and threshold goes to the alarm topic when a reservation or settlement reaches it (needs alarms.enabled; docs/reporting.md). The limit ID is `name`, or `<k=v,...|*>/<window>/<unit>`."
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

  validation {
    condition     = alltrue([for l in var.limits : contains(["minute", "hour", "day", "month"], l.window)])
    error_message = "limits: window must be one of minute, hour, day, month."
  }

  validation {
    condition     = alltrue([for l in var.limits : contains(["requests", "input_tokens", "output_tokens", "total_tokens", "usd"], l.unit)])
    error_message = "limits: unit must be one of requests, input_tokens, output_tokens, total_tokens, usd."
  }

  validation {
    condition     = alltrue([for l in var.limits : alltrue([for k in keys(l.scope) : contains(["model", "costCenter", "applicationId", "environment"], k)])])
    error_message = "limits: scope keys must be among model, costCenter, applicationId, environment."
  }

  validation {
    condition     = alltrue([for l in var.limits : l.limit >= 0])
    error_message = "limits: limit must be zero or more."
  }

  validation {
    condition     = alltrue([for l in var.limits : floor(l.shards) == l.shards && l.shards >= 1 && l.shards <= 64])
    error_message = "limits: shards must be a whole number from 1 to 64 (the counter items a limit's ceiling is split over)."
  }

  validation {
    condition     = alltrue([for l in var.limits : l.unit == "usd" || floor(l.limit) == l.limit])
    error_message = "limits: a requests or tokens limit must be a whole number (only usd limits may have decimals)."
  }

  validation {
    condition = alltrue(flatten([for l in var.limits : [
      for v in values(l.scope) : v == "*" || (length(v) >= 1 && length(v) <= 256 && can(regex(local.tag_pattern, v)))
    ]]))
    error_message = "limits: scope values must be `*` or 1-256 characters of letters, digits, spaces and _ . : / = + - @ (they match request tags)."
  }

  validation {
    condition = alltrue([for l in var.limits :
      !contains(keys(l.scope), "model") || contains(local.known_model_scopes, lookup(l.scope, "model", "*")) || can(regex(local.model_id_pattern, lookup(l.scope, "model", "*"))) || can(regex(local.any_bedrock_arn_pattern, lookup(l.scope, "model", "*")))
    ])
    error_message = "limits: a model scope must be `*`, a route (${join(", ", sort(local.route_names))}), a model ID or a Bedrock ARN; unknown: ${join(", ", [for l in var.limits : lookup(l.scope, "model", "*") if !contains(local.known_model_scopes, lookup(l.scope, "model", "*")) && !can(regex(local.model_id_pattern, lookup(l.scope, "model", "*"))) && !can(regex(local.any_bedrock_arn_pattern, lookup(l.scope, "model", "*")))])}."
  }

  validation {
    condition     = alltrue([for l in var.limits : contains(concat(var.allowed_environments, ["*"]), lookup(l.scope, "environment", "*"))])
    error_message = "limits: an environment scope must be `*` or one of allowed_environments (${join(", ", var.allowed_environments)})."
  }

  validation {
    condition     = alltrue([for l in var.limits : l.name == null ? true : can(regex("^[A-Za-z0-9][A-Za-z0-9 _.:/=,*+@-]{0,127}$", l.name))])
    error_message = "limits: name must be 1-128 characters, start with a letter or digit, and use only letters, digits, spaces and _ . : / = , * + @ - (no '#', which the counter keys use)."
  }

  # The limit ID as in locals.tf (repeated here: a rule cannot read a local built from its own variable).
  validation {
    condition = length(var.limits) == length(distinct([for l in var.limits : l.name != null ? l.name : format("%s/%s/%s",
      length(l.scope) == 0 ? "*" : join(",", [for k in sort(keys(l.scope)) : "${k}=${l.scope[k]}"]), l.window, l.unit
    )]))
    error_message = "limits: limit IDs must be unique; give one of two limits with the same scope, window and unit a name (the ID is `name`, or `<scope>/<window>/<unit>`)."
  }

  validation {
    condition     = alltrue(flatten([for l in var.limits : [for t in l.alert_at : try(t > 0 && t <= 1, false)]]))
    error_message = "limits: every alert_at threshold must be a fraction of the limit above 0 and at most 1 (0.8 = 80 %)."
  }

  validation {
    condition = alltrue([for l in var.limits : alltrue([
      for i, t in l.alert_at : i == 0 ? true : try(t > l.alert_at[i - 1], false)
    ])])
    error_message = "limits: alert_at must be in ascending order without repeats (for example [0.5, 0.8, 1.0])."
  }
}

# --- workflow and function settings -----------------------------------------------------------

variable "applications" {
  description = "Optional registry of applications: applicationId -> the cost centers, environments and routes it may use (null: any value, and the tag may be left out; a list: the tag is required and must be one of them). Null (the default) turns the registry off: tags are self-asserted. Set, any other applicationId, cost center, environment or route is a ValidationError naming the tag. Written as APPLICATION items in the table."
  type = map(object({
    cost_centers = optional(list(string))
    environments = optional(list(string))
    routes       = optional(list(string))
  }))
  default = null

  validation {
    condition     = var.applications == null ? true : length(var.applications) > 0
    error_message = "applications must be null (no registry: tags are self-asserted) or name at least one application; an empty registry would refuse every request."
  }

  validation {
    condition     = alltrue([for id in keys(var.applications == null ? {} : var.applications) : length(id) >= 1 && length(id) <= 256 && can(regex(local.tag_pattern, id)) && trimspace(id) != "" && id != "*"])
    error_message = "applications: each applicationId must be 1-256 characters of letters, digits, spaces and _ . : / = + - @ (AWS tag rules), not blank and not `*`."
  }

  validation {
    condition = alltrue(flatten([for a in values(var.applications == null ? {} : var.applications) : [
      for c in(a.cost_centers == null ? [] : a.cost_centers) : length(c) >= 1 && length(c) <= 256 && can(regex(local.tag_pattern, c)) && trimspace(c) != "" && c != "*"
    ]]))
    error_message = "applications: each cost center must be 1-256 characters of letters, digits, spaces and _ . : / = + - @ (AWS tag rules), not blank and not `*`."
  }

  validation {
    condition = alltrue(flatten([for a in values(var.applications == null ? {} : var.applications) : [
      for e in(a.environments == null ? [] : a.environments) : contains(var.allowed_environments, e)
    ]]))
    error_message = "applications: each environment must be one of allowed_environments (${join(", ", var.allowed_environments)})."
  }

  validation {
    condition = alltrue(flatten([for a in values(var.applications == null ? {} : var.applications) : [
      for r in(a.routes == null ? [] : a.routes) : contains(local.route_names, r)
    ]]))
    error_message = "applications: each route must be a route of this deployment (${join(", ", local.route_names)})."
  }
}

variable "attribution_profiles" {
  description = "With an `applications` registry, one tagged application inference profile per model, application, cost center and environment it allows, so that every admitted call is billed under its tags (docs/reporting.md). `quota` is the account's Bedrock quota of application inference profiles per Region; the plan fails when this deployment's profiles exceed it."
  type = object({
    enabled = optional(bool, true)
    quota   = optional(number, 1000)
  })
  default  = {}
  nullable = false
}

variable "workflow_type" {
  description = "Step Functions workflow type: EXPRESS (synchronous callers use StartSyncExecution; the cheap default) or STANDARD."
  type        = string
  default     = "EXPRESS"

  validation {
    condition     = contains(["EXPRESS", "STANDARD"], var.workflow_type)
    error_message = "workflow_type must be EXPRESS or STANDARD."
  }
}

variable "allowed_environments" {
  description = "Values a request may give in tags.environment (TOLLGATE_ALLOWED_ENVIRONMENTS)."
  type        = list(string)
  default     = ["dev", "staging", "prod", "production"]

  validation {
    condition     = length(var.allowed_environments) > 0 && alltrue([for e in var.allowed_environments : length(e) >= 1 && length(e) <= 256 && can(regex(local.tag_pattern, e)) && !strcontains(e, ",") && e != "*"])
    error_message = "allowed_environments must hold at least one value, each 1-256 characters of letters, digits, spaces and _ . : / = + - @ (no commas, not `*`)."
  }
}

variable "max_prompt_chars" {
  description = "Largest total number of characters of all messages of a request (TOLLGATE_MAX_PROMPT_CHARS)."
  type        = number
  default     = 100000

  validation {
    condition     = var.max_prompt_chars >= 1 && var.max_prompt_chars <= 10000000 && floor(var.max_prompt_chars) == var.max_prompt_chars
    error_message = "max_prompt_chars must be a whole number from 1 to 10000000."
  }
}

variable "max_request_bytes" {
  description = "Largest request, in bytes of UTF-8 JSON (TOLLGATE_MAX_REQUEST_BYTES). Bounds the Step Functions state, which must stay under 256 KiB with the request and the response in it; the response gets what the request leaves (docs/requests.md)."
  type        = number
  default     = 98304

  validation {
    condition     = var.max_request_bytes >= 1024 && var.max_request_bytes <= 131072 && floor(var.max_request_bytes) == var.max_request_bytes
    error_message = "max_request_bytes must be a whole number from 1024 to 131072 (128 KiB): a larger request would leave too little of Step Functions' 256 KiB state for the response."
  }
}

variable "input_token_estimate" {
  description = "How a request's input tokens are estimated for its reservation (TOLLGATE_INPUT_TOKEN_ESTIMATE): `heuristic` (1 token per 3 ASCII characters, 1 per other character; can under-reserve), `utf8_bytes` (1 token per UTF-8 byte: an upper bound for byte-level tokenizers, over-reserves English 3-4x), or `count_tokens` (Bedrock's free CountTokens API for the Anthropic routes, exact; utf8_bytes elsewhere or when it fails; grants validate bedrock:CountTokens on those models). docs/requests.md compares them."
  type        = string
  default     = "heuristic"

  validation {
    condition     = contains(["heuristic", "utf8_bytes", "count_tokens"], var.input_token_estimate)
    error_message = "input_token_estimate must be heuristic, utf8_bytes or count_tokens."
  }
}

variable "allow_direct_model_ids" {
  description = "Whether a request's `model` may be a full model ID or profile ARN that is also some route's modelId or baseModelId (TOLLGATE_ALLOW_DIRECT_MODEL_IDS)."
  type        = bool
  default     = false
}

variable "fail_open" {
  description = "Admit requests (without counting) when the limits table cannot be reached, instead of denying them (TOLLGATE_FAIL_OPEN)."
  type        = bool
  default     = false
}

variable "config_cache_seconds" {
  description = "How long the functions cache routes and limits read from the table (TOLLGATE_CONFIG_CACHE_SECONDS). A changed limit takes effect after at most this long."
  type        = number
  default     = 60

  validation {
    condition     = var.config_cache_seconds >= 0 && var.config_cache_seconds <= 3600 && floor(var.config_cache_seconds) == var.config_cache_seconds
    error_message = "config_cache_seconds must be a whole number from 0 to 3600."
  }
}

variable "idempotency_seconds" {
  description = "How long a reservation is kept, so that a retry with the same requestId is recognised (TOLLGATE_IDEMPOTENCY_SECONDS)."
  type        = number
  default     = 86400

  validation {
    condition     = var.idempotency_seconds >= 300 && var.idempotency_seconds <= 2678400 && floor(var.idempotency_seconds) == var.idempotency_seconds
    error_message = "idempotency_seconds must be a whole number from 300 (5 minutes) to 2678400 (31 days)."
  }
}

variable "bedrock_read_timeout_seconds" {
  description = "Read timeout of the invoke function's Converse call (TOLLGATE_BEDROCK_READ_TIMEOUT_SECONDS). Null (default): sized from each request's max_tokens, 20 s + max_tokens / 50 tokens per second, at least 30 s. Either way it stays below the time the invoke function has left less 5 s (to settle and report): with the default lambda_timeouts.invoke of 247 s the model may read for about 240 s under EXPRESS (tools/workflow_bound.py); longer answers need STANDARD and a larger lambda_timeouts.invoke. A call that times out may have run: it is charged at its estimate (docs/ledger.md)."
  type        = number
  default     = null

  validation {
    condition     = var.bedrock_read_timeout_seconds == null || try(var.bedrock_read_timeout_seconds >= 1 && var.bedrock_read_timeout_seconds < var.lambda_timeouts.invoke && floor(var.bedrock_read_timeout_seconds) == var.bedrock_read_timeout_seconds, false)
    error_message = "bedrock_read_timeout_seconds must be null (sized from max_tokens) or a whole number of at least 1 and less than lambda_timeouts.invoke (${var.lambda_timeouts.invoke})."
  }
}

variable "reservation_lease_seconds" {
  description = "How long a reservation is held for its execution (TOLLGATE_LEASE_SECONDS); once it expires, the sweeper closes the reservation and a retry of the requestId proceeds. Null (default): the workflow's longest run plus the rate-limit function's timeout (EXPRESS: 300 s + lambda_timeouts.rate_limit)."
  type        = number
  default     = null

  validation {
    condition     = var.reservation_lease_seconds == null || try(var.reservation_lease_seconds >= 60 && var.reservation_lease_seconds <= 86400 && floor(var.reservation_lease_seconds) == var.reservation_lease_seconds, false)
    error_message = "reservation_lease_seconds must be null or a whole number from 60 to 86400."
  }
}

variable "sweeper_schedule_expression" {
  description = "EventBridge Scheduler expression on which the sweeper closes reservations whose lease expired (and records their outcome)."
  type        = string
  default     = "rate(1 minute)"

  validation {
    condition     = can(regex("^(rate\\([1-9][0-9]* (minute|minutes|hour|hours)\\)|cron\\(.+\\))$", var.sweeper_schedule_expression))
    error_message = "sweeper_schedule_expression must be a rate(...) or cron(...) expression, such as rate(1 minute)."
  }
}

variable "log_prompts" {
  description = "Whether the functions may log prompt and response text (TOLLGATE_LOG_PROMPTS). Off by default: prompts can hold personal or confidential data."
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

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", var.service_name))
    error_message = "service_name must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit."
  }
}

variable "lambda_architecture" {
  description = "Instruction set of the functions. The package is pure Python, so both work; arm64 costs less."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "lambda_memory_size" {
  description = "Memory of each function in MB."
  type        = number
  default     = 256

  validation {
    condition     = var.lambda_memory_size >= 128 && var.lambda_memory_size <= 10240 && floor(var.lambda_memory_size) == var.lambda_memory_size
    error_message = "lambda_memory_size must be a whole number of MB from 128 to 10240."
  }
}

variable "lambda_timeouts" {
  description = "Timeout of each function in seconds. invoke waits for the model (and settles its usage), so it must exceed bedrock_read_timeout_seconds (when set; a sized read timeout is capped at the invoke function's time left less 5 s, about 240 s by default). Each must be shorter than the TimeoutSeconds of the states that call it in asl/tollgate.asl.json (10 s, and 248 s for Invoke), which keep the longest execution, retries included, under the Express limit of 5 minutes (docs/deploying.md). Under STANDARD the Invoke state waits lambda_timeouts.invoke + 5 s instead, so invoke may be up to 900 s there (long generations). The sweeper runs on its schedule, outside the workflow."
  type = object({
    validate       = optional(number, 8)
    rate_limit     = optional(number, 8)
    invoke         = optional(number, 247)
    record_metrics = optional(number, 8)
    sweeper        = optional(number, 60)
  })
  default = {}

  validation {
    condition     = alltrue([for t in values(var.lambda_timeouts) : t >= 1 && t <= 900 && floor(t) == t])
    error_message = "lambda_timeouts: every timeout must be a whole number of seconds from 1 to 900."
  }

  # A function that outlives its state's TimeoutSeconds keeps running after the workflow has
  # moved on (a model call billed after its reservation was released).
  validation {
    condition = length(flatten([for k, t in var.lambda_timeouts : [
      for n, s in local.asl_template.States : n if try(s.Resource == "$${${k}_function_arn}" && t >= s.TimeoutSeconds && !(n == "Invoke" && var.workflow_type == "STANDARD"), false)
    ]])) == 0
    error_message = "lambda_timeouts: a function's timeout must be shorter than the TimeoutSeconds of every state that calls it (asl/tollgate.asl.json), so the function stops before the workflow gives up on it: ${join(", ", flatten([for k, t in var.lambda_timeouts : [for n, s in local.asl_template.States : "${k} ${t} s >= ${n} ${s.TimeoutSeconds} s" if try(s.Resource == "$${${k}_function_arn}" && t >= s.TimeoutSeconds && !(n == "Invoke" && var.workflow_type == "STANDARD"), false)]]))}; under EXPRESS the Invoke state's 248 s holds the 5-minute bound, STANDARD sizes it from lambda_timeouts.invoke."
  }
}

# --- observability ----------------------------------------------------------------------------

variable "metrics_namespace" {
  description = "CloudWatch namespace of Tollgate's metrics (POWERTOOLS_METRICS_NAMESPACE); the dashboard and alarms read the same namespace."
  type        = string
  default     = "GenAIRateLimiting"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/#-][A-Za-z0-9._/#: -]{0,254}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 characters of letters, digits, spaces and . _ / # : -, must not start with ':' and must not start with AWS/ (reserved for AWS services)."
  }
}

variable "metrics_sink" {
  description = "How record-metrics publishes: `emf` (Embedded Metric Format in the log, no API call on the request path) or `cloudwatch_api` (PutMetricData; for environments that do not extract EMF, such as LocalStack)."
  type        = string
  default     = "emf"

  validation {
    condition     = contains(["emf", "cloudwatch_api"], var.metrics_sink)
    error_message = "metrics_sink must be emf or cloudwatch_api."
  }
}

variable "log_retention_days" {
  description = "Retention of every log group the module creates (functions and state machine), in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "state_machine_log_level" {
  description = "Execution log level of the state machine: ALL, ERROR, FATAL or OFF."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL", "OFF"], var.state_machine_log_level)
    error_message = "state_machine_log_level must be one of ALL, ERROR, FATAL, OFF."
  }
}

variable "state_machine_include_execution_data" {
  description = "Whether the state machine's log includes state input and output (that is, prompts and responses). Off by default."
  type        = bool
  default     = false
}

variable "tracing_enabled" {
  description = "X-Ray tracing for the state machine and the functions (adds the X-Ray write permissions)."
  type        = bool
  default     = true
}

variable "create_dashboard" {
  description = "Whether to create the CloudWatch dashboard."
  type        = bool
  default     = true
}

variable "alarms" {
  description = "Alarms on RateLimitDenied, InvocationFailed (their total series, which has no dimensions, per period), the state machine's ExecutionsFailed and ExecutionsTimedOut, and the sweeper's SweptReservations, sent to an SNS topic: the one given in sns_topic_arn, or one the module creates (encrypted with the module's KMS key) with optional e-mail subscriptions. Each alarm fires when its sum over period_seconds reaches its threshold. Every outcome other than success ends the execution in a Fail state, so ExecutionsFailed counts denials and invalid requests too."
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
    condition     = var.alarms.sns_topic_arn == null || can(regex("^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\\.fifo)?$", coalesce(var.alarms.sns_topic_arn, "-")))
    error_message = "alarms: sns_topic_arn must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)."
  }

  validation {
    condition     = alltrue([for e in var.alarms.email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alarms: every entry of email_addresses must be an e-mail address."
  }

  validation {
    condition     = var.alarms.period_seconds >= 60 && var.alarms.period_seconds <= 86400 && var.alarms.period_seconds % 60 == 0
    error_message = "alarms: period_seconds must be a multiple of 60 from 60 to 86400."
  }

  validation {
    condition     = var.alarms.evaluation_periods >= 1 && var.alarms.evaluation_periods <= 100 && floor(var.alarms.evaluation_periods) == var.alarms.evaluation_periods
    error_message = "alarms: evaluation_periods must be a whole number from 1 to 100."
  }

  validation {
    condition     = alltrue([for t in [var.alarms.denied_threshold, var.alarms.invocation_failed_threshold, var.alarms.executions_failed_threshold, var.alarms.executions_timed_out_threshold, var.alarms.swept_reservations_threshold] : t >= 1])
    error_message = "alarms: denied_threshold, invocation_failed_threshold, executions_failed_threshold, executions_timed_out_threshold and swept_reservations_threshold must be at least 1."
  }
}

# --- billing: cost allocation tags and budgets --------------------------------------------------

variable "cost_allocation_tags" {
  description = "Activate the inference profiles' tag keys as cost allocation tags (aws_ce_cost_allocation_tag), so that Cost Explorer, Budgets and `tollgate report` can group Bedrock spend by them. Activation is account-wide (it applies to every resource in the account and the organization's consolidated bill, not only to Tollgate's) and only the payer (management) account of an AWS Organization, or a standalone account, may do it: leave enabled = false in a member account and ask the payer account to activate the keys. A key can be activated only after it has appeared on a resource (AWS may take up to 24 hours to list a new key). Destroy deactivates the keys."
  type = object({
    enabled = optional(bool, false)
    keys    = optional(list(string), ["costCenter", "applicationId", "environment"])
  })
  default = {}

  validation {
    condition     = length(var.cost_allocation_tags.keys) == length(distinct(var.cost_allocation_tags.keys)) && alltrue([for k in var.cost_allocation_tags.keys : length(k) >= 1 && length(k) <= 128 && !startswith(lower(k), "aws:") && can(regex(local.tag_pattern, k))])
    error_message = "cost_allocation_tags: keys must be distinct, each 1-128 ASCII letters, digits, spaces and _ . : / = + - @, and not start with aws: (AWS-generated tags are activated separately)."
  }

  validation {
    condition     = !var.cost_allocation_tags.enabled || length(var.cost_allocation_tags.keys) > 0
    error_message = "cost_allocation_tags: enabled = true needs at least one key in keys."
  }
}

variable "budgets" {
  description = "AWS Budgets on Amazon Bedrock spend, one per entry: key -> monthly amount in USD for the resources tagged `tag_key` = `tag_value` (default: costCenter = the key), with notifications at percentages of the actual spend (default 50, 80, 100) and of the forecast (default 100), sent to the module's SNS topic (when alarms are enabled and it creates or is given one) and to optional e-mail addresses. The filter is the cost allocation tag `user:<tag_key>$<tag_value>`, so the tag key must be activated (cost_allocation_tags) in the payer account. `services` optionally narrows the budget to Cost Explorer service names; null (the default) counts every tagged charge, since Claude bills under AWS Marketplace names (\"... (Amazon Bedrock Edition)\") that a Service = Amazon Bedrock filter misses."
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
    condition     = alltrue([for k in keys(var.budgets) : can(regex("^[A-Za-z0-9]+([-_.][A-Za-z0-9]+)*$", k)) && length("${var.name}-${k}") <= 100])
    error_message = "budgets: every key must be letters or digits, optionally separated by single '-', '_' or '.', and `<name>-<key>` (the budget name) at most 100 characters."
  }

  validation {
    condition     = alltrue([for b in values(var.budgets) : b.amount_usd > 0 && b.amount_usd <= 1000000000])
    error_message = "budgets: amount_usd must be more than 0 and at most 1000000000 (USD per month)."
  }

  validation {
    condition     = alltrue([for b in values(var.budgets) : length(b.tag_key) >= 1 && length(b.tag_key) <= 128 && !startswith(lower(b.tag_key), "aws:") && can(regex(local.tag_pattern, b.tag_key))])
    error_message = "budgets: tag_key must be 1-128 ASCII letters, digits, spaces and _ . : / = + - @, and must not start with aws:."
  }

  validation {
    condition     = alltrue([for b in values(var.budgets) : b.tag_value == null || (length(coalesce(b.tag_value, "-")) <= 256 && can(regex(local.tag_pattern, coalesce(b.tag_value, "-"))) && !strcontains(coalesce(b.tag_value, "-"), "$"))])
    error_message = "budgets: tag_value must be at most 256 ASCII letters, digits, spaces and _ . : / = + - @ (a tag value)."
  }

  validation {
    condition = alltrue(flatten([for b in values(var.budgets) : [
      for t in concat(b.actual_thresholds, b.forecast_thresholds) : t > 0 && t <= 1000
    ]]))
    error_message = "budgets: actual_thresholds and forecast_thresholds are percentages of amount_usd, each more than 0 and at most 1000."
  }

  validation {
    condition     = alltrue([for b in values(var.budgets) : length(b.actual_thresholds) == length(distinct(b.actual_thresholds)) && length(b.forecast_thresholds) == length(distinct(b.forecast_thresholds)) && length(b.actual_thresholds) + length(b.forecast_thresholds) >= 1 && length(b.actual_thresholds) + length(b.forecast_thresholds) <= 10])
    error_message = "budgets: each budget needs 1-10 notifications in all (AWS Budgets allows 10), without a threshold repeated in actual_thresholds or in forecast_thresholds."
  }

  validation {
    condition     = alltrue(flatten([for b in values(var.budgets) : [for e in b.email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))]]))
    error_message = "budgets: every entry of email_addresses must be an e-mail address."
  }

  validation {
    condition     = alltrue([for b in values(var.budgets) : length(b.email_addresses) <= 10])
    error_message = "budgets: at most 10 email_addresses per budget (AWS Budgets allows 10 e-mail subscribers per notification, besides the SNS topic)."
  }

  validation {
    condition     = alltrue([for b in values(var.budgets) : b.services == null ? true : length(b.services) >= 1 && alltrue([for s in b.services : length(s) >= 1 && length(s) <= 256])])
    error_message = "budgets: services, when set, must name at least one Cost Explorer service (such as Amazon Bedrock and the Marketplace names of the Claude models used)."
  }

  validation {
    condition     = var.alarms.enabled || alltrue([for b in values(var.budgets) : length(b.email_addresses) > 0])
    error_message = "budgets: with alarms.enabled = false there is no SNS topic to notify, so every budget needs at least one address in email_addresses."
  }
}

# --- encryption, protection, tags -------------------------------------------------------------

variable "kms_key_arn" {
  description = "ARN of an existing customer managed KMS key for the table, the log groups, the function environments and the alarm topic. Its key policy must let CloudWatch Logs (logs.<region>.amazonaws.com) and CloudWatch alarms (cloudwatch.amazonaws.com) use it, and AWS Budgets (budgets.amazonaws.com) when budgets notify the topic. Null: see create_kms_key."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", coalesce(var.kms_key_arn, "-")))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>), not an alias."
  }
}

variable "create_kms_key" {
  description = "When kms_key_arn is null: create one customer managed key (rotated yearly) for the table, log groups, function environments and alarm topic. False: AWS managed encryption, and the created alarm topic is not encrypted (CloudWatch alarms cannot publish to a topic under the AWS managed SNS key)."
  type        = bool
  default     = true
}

variable "table_deletion_protection" {
  description = "Deletion protection of the limits table (counters, reservations, routes, limits). Set false before `terraform destroy`."
  type        = bool
  default     = true
}

variable "iam_role_path" {
  description = "Path of every IAM role the module creates (functions, state machine, and any other), for organisations whose guardrails (SCPs, permission sets) match roles by path."
  type        = string
  default     = "/"

  validation {
    condition     = length(var.iam_role_path) <= 512 && can(regex("^/([\\x21-\\x7E]+/)?$", var.iam_role_path)) && !strcontains(var.iam_role_path, "//")
    error_message = "iam_role_path must be `/` or start and end with `/` (for example /tollgate/), at most 512 printable ASCII characters without spaces or `//`."
  }
}

variable "iam_permissions_boundary_arn" {
  description = "ARN of an IAM managed policy set as the permissions boundary of every role the module creates (null: none). Organisations that require a boundary on every new role set it here."
  type        = string
  default     = null

  validation {
    condition     = var.iam_permissions_boundary_arn == null || can(regex("^arn:aws(-[a-z]+)*:iam::([0-9]{12}|aws):policy/[A-Za-z0-9+=,.@_/-]+$", coalesce(var.iam_permissions_boundary_arn, "-")))
    error_message = "iam_permissions_boundary_arn must be the ARN of an IAM managed policy (arn:aws:iam::<account>:policy/<path><name>)."
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
