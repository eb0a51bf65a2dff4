data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.id

  # --- patterns shared by the validation rules ---------------------------------------------
  # Tag characters as Bedrock accepts them (tags become metric dimensions and cost allocation tags).
  tag_pattern = "^[A-Za-z0-9 ._:/=+@-]*$"
  # Bedrock's rule for an inference profile description.
  profile_description_pattern = "^([0-9a-zA-Z:.][ _-]?)+$"
  route_name_pattern          = "^[A-Za-z0-9]+([-_.][A-Za-z0-9]+)*$"
  # A foundation-model ID (amazon.nova-lite-v1:0) or a system profile ID (us.anthropic....).
  model_id_pattern = "^[a-z0-9-]+\\.[A-Za-z0-9._:-]+$"
  # Geographic prefix of a system (cross-region) inference profile ID, for replace().
  geo_prefix_pattern           = "/^(us|us-gov|eu|apac|ca|jp|au|global)\\./"
  geo_prefix_pattern_plain     = "^(us|us-gov|eu|apac|ca|jp|au|global)\\."
  foundation_model_arn_pattern = "^arn:aws(-[a-z]+)*:bedrock:[a-z0-9-]+::foundation-model/[A-Za-z0-9._:-]+$"
  system_profile_arn_pattern   = "^arn:aws(-[a-z]+)*:bedrock:[a-z0-9-]+:[0-9]{12}:inference-profile/[A-Za-z0-9._:-]+$"
  any_bedrock_arn_pattern      = "^arn:aws(-[a-z]+)*:bedrock:[a-z0-9-]*:[0-9]{0,12}:(foundation-model|inference-profile|application-inference-profile)/[A-Za-z0-9._:-]+$"

  # The definition template as written (function ARNs still `$${<key>_function_arn}`), for rules
  # that compare its TimeoutSeconds with the function timeouts.
  asl_template = jsondecode(file("${path.module}/asl/tollgate.asl.json"))
  # The Invoke state's TimeoutSeconds. EXPRESS keeps the template's (248 s), which holds the
  # longest execution under the 5-minute limit (tools/workflow_bound.py). STANDARD has no such
  # limit: Invoke waits as long as the invoke function may run plus 5 s, so lambda_timeouts.invoke
  # (up to 900 s) is what bounds a generation there.
  invoke_state_timeout_seconds = (
    var.workflow_type == "STANDARD"
    ? max(local.asl_template.States.Invoke.TimeoutSeconds, var.lambda_timeouts.invoke + 5)
    : local.asl_template.States.Invoke.TimeoutSeconds
  )

  # --- the model catalogue: one price table, shared with the Python package ----------------
  catalogue = jsondecode(file("${path.module}/functions/tollgate/data/models.json"))

  # Default routes: the catalogue's aliases. Prices and max tokens are left to the catalogue
  # (the package reads it by baseModelId), so they are not copied into the route items.
  default_models = {
    for alias, id in local.catalogue.aliases : alias => {
      model_id               = id
      input_usd_per_1k       = null
      output_usd_per_1k      = null
      cache_read_usd_per_1k  = null
      cache_write_usd_per_1k = null
      max_tokens             = null
      default_max_tokens     = null
    }
  }
  models = var.models == null ? local.default_models : var.models

  # --- routes ------------------------------------------------------------------------------
  model_routes = {
    for alias, m in local.models : alias => {
      kind                   = "model"
      model_id               = m.model_id
      base_model_id          = m.model_id
      base_route             = null
      input_usd_per_1k       = m.input_usd_per_1k
      output_usd_per_1k      = m.output_usd_per_1k
      cache_read_usd_per_1k  = m.cache_read_usd_per_1k
      cache_write_usd_per_1k = m.cache_write_usd_per_1k
      max_tokens             = m.max_tokens
      default_max_tokens     = m.default_max_tokens
    }
  }

  # What each application inference profile copies from. `model` is an alias of local.models
  # or an ARN (validated in variables.tf; try() keeps a failed validation the only error).
  profile_sources = {
    for k, p in var.inference_profiles : k => {
      alias         = startswith(p.model, "arn:") ? null : p.model
      base_model_id = startswith(p.model, "arn:") ? replace(p.model, "/^.*//", "") : try(local.models[p.model].model_id, "")
    }
  }
  profiles = {
    for k, p in var.inference_profiles : k => {
      name        = "${var.name}-${k}"
      description = coalesce(p.description, "Tollgate ${var.name} route ${k}")
      copy_from = (
        startswith(p.model, "arn:") ? p.model :
        can(regex(local.geo_prefix_pattern_plain, local.profile_sources[k].base_model_id)) ?
        "arn:${local.partition}:bedrock:${local.region}:${local.account_id}:inference-profile/${local.profile_sources[k].base_model_id}" :
        "arn:${local.partition}:bedrock:${local.region}::foundation-model/${local.profile_sources[k].base_model_id}"
      )
      base_model_id          = local.profile_sources[k].base_model_id
      base_route             = local.profile_sources[k].alias
      input_usd_per_1k       = p.input_usd_per_1k != null ? p.input_usd_per_1k : try(local.models[p.model].input_usd_per_1k, null)
      output_usd_per_1k      = p.output_usd_per_1k != null ? p.output_usd_per_1k : try(local.models[p.model].output_usd_per_1k, null)
      cache_read_usd_per_1k  = p.cache_read_usd_per_1k != null ? p.cache_read_usd_per_1k : try(local.models[p.model].cache_read_usd_per_1k, null)
      cache_write_usd_per_1k = p.cache_write_usd_per_1k != null ? p.cache_write_usd_per_1k : try(local.models[p.model].cache_write_usd_per_1k, null)
      max_tokens             = p.max_tokens != null ? p.max_tokens : try(local.models[p.model].max_tokens, null)
      default_max_tokens     = try(local.models[p.model].default_max_tokens, null)
      tags                   = merge(var.tags, p.tags)
    }
  }
  profile_arns = module.inference_profiles.arns
  # The cache prices ride along outside the sub-module (it passes the other prices through).
  profile_routes = {
    for k, r in module.inference_profiles.routes : k => merge(r, {
      cache_read_usd_per_1k  = local.profiles[k].cache_read_usd_per_1k
      cache_write_usd_per_1k = local.profiles[k].cache_write_usd_per_1k
    })
  }
  routes      = merge(local.model_routes, local.profile_routes)
  route_names = concat(keys(local.models), keys(var.inference_profiles))
  # Values a limit's `model` scope may name without looking like a model ID or ARN.
  known_model_scopes = concat(["*"], local.route_names, [for m in values(local.models) : m.model_id])

  # ROUTE items, in the layout of docs/internals.md section 1 (DynamoDB JSON).
  route_items = {
    for name, r in local.routes : name => jsonencode(merge(
      {
        pk          = { S = "ROUTE" }
        sk          = { S = name }
        kind        = { S = r.kind }
        modelId     = { S = r.model_id }
        baseModelId = { S = r.base_model_id }
      },
      { for attr, v in { baseRoute = r.base_route } : attr => { S = v } if v != null },
      {
        for attr, v in {
          inputUsdPer1k      = r.input_usd_per_1k
          outputUsdPer1k     = r.output_usd_per_1k
          cacheReadUsdPer1k  = r.cache_read_usd_per_1k
          cacheWriteUsdPer1k = r.cache_write_usd_per_1k
          maxTokens          = r.max_tokens
          defaultMaxTokens   = r.default_max_tokens
        } : attr => { N = tostring(v) } if v != null
      },
    ))
  }

  # --- limits ------------------------------------------------------------------------------
  # Limit ID: `name`, or `<k=v sorted by key, joined with ','>|*` / window / unit.
  limit_ids = [
    for l in var.limits : l.name != null ? l.name : format("%s/%s/%s",
      length(l.scope) == 0 ? "*" : join(",", [for k in sort(keys(l.scope)) : "${k}=${l.scope[k]}"]),
      l.window,
      l.unit,
    )
  ]
  # Grouped (`...`) so that a duplicated ID fails only its validation rule, not this expression.
  limit_items = {
    for id, items in {
      for i, l in var.limits : local.limit_ids[i] => jsonencode(merge({
        pk      = { S = "LIMIT" }
        sk      = { S = local.limit_ids[i] }
        scope   = { M = { for k, v in l.scope : k => { S = v } } }
        window  = { S = l.window }
        unit    = { S = l.unit }
        limit   = { N = tostring(l.limit) }
        enforce = { BOOL = l.enforce }
        shards  = { N = tostring(l.shards) }
        # Written only when set, so that limits without alerts keep their items unchanged.
      }, length(l.alert_at) == 0 ? {} : { alertAt = { L = [for t in l.alert_at : { N = tostring(t) }] } }))...
    } : id => items[0]
  }

  # --- application registry (optional) -----------------------------------------------------
  # APPLICATION items: a list left null is not written (any value allowed; functions/tollgate/applications.py).
  # With attribution profiles, `profiles` maps "<model id>|<cost center>|<environment>" to the
  # profile that bills the application's calls to that model under those tags.
  application_items = {
    for id, a in(var.applications == null ? {} : var.applications) : id => jsonencode(merge(
      { pk = { S = "APPLICATION" }, sk = { S = id } },
      {
        for attr, v in {
          costCenters  = a.cost_centers
          environments = a.environments
          routes       = a.routes
        } : attr => { L = [for x in v : { S = x }] } if v != null
      },
      !local.attribution_enabled ? {} : {
        profiles = { M = {
          for c in local.attribution_combinations : "${c.model_id}|${c.cost_center}|${c.environment}" => {
            S = module.attribution_profiles.arns[c.key]
          } if c.application_id == id
        } }
      },
    ))
  }

  # --- attribution profiles (docs/reporting.md) --------------------------------------------
  # With a registry, one application inference profile per (model behind a model route the
  # application may use x application x cost center x environment), tagged with those values, so
  # that Bedrock bills every admitted call under its tags. A list the application leaves null (any
  # value allowed) contributes one value, `unassigned`. Cost-center routes (inference_profiles)
  # already go through their own profile and get none.
  attribution_enabled = var.applications != null && var.attribution_profiles.enabled
  attribution_tag_key = "TollgateDeployment"
  attribution_combinations = !local.attribution_enabled ? [] : flatten([
    for app_id, a in var.applications : [
      for model_id in distinct([
        for r in(a.routes == null ? keys(local.models) : a.routes) : local.models[r].model_id if contains(keys(local.models), r)
        ]) : [
        for cc in(a.cost_centers == null ? ["unassigned"] : a.cost_centers) : [
          for env in(a.environments == null ? ["unassigned"] : a.environments) : {
            key            = "${app_id}|${model_id}|${cc}|${env}"
            application_id = app_id
            model_id       = model_id
            cost_center    = cc
            environment    = env
          }
        ]
      ]
    ]
  ])
  attribution_profiles = {
    for c in local.attribution_combinations : c.key => {
      # Bedrock: 1-64 letters or digits with single separators; the combination is in the tags.
      name        = "${var.name}-${substr(sha256(c.key), 0, 16)}"
      description = "Tollgate ${var.name} attribution profile"
      copy_from = (
        can(regex(local.geo_prefix_pattern_plain, c.model_id)) ?
        "arn:${local.partition}:bedrock:${local.region}:${local.account_id}:inference-profile/${c.model_id}" :
        "arn:${local.partition}:bedrock:${local.region}::foundation-model/${c.model_id}"
      )
      tags = merge(var.tags, {
        costCenter                  = c.cost_center
        applicationId               = c.application_id
        environment                 = c.environment
        (local.attribution_tag_key) = var.name
      })
      base_model_id = c.model_id
    }
  }
  # Every application inference profile this deployment creates (the account's quota counts them all).
  application_profile_count = length(local.profiles) + length(local.attribution_profiles)

  # --- Bedrock resources the invoke function may call --------------------------------------
  # A system profile routes to its model in several Regions (global profiles: any Region, and
  # the Region-less ARN), so the model behind it is allowed in every Region.
  system_profile_model_arns = {
    for id in distinct(concat(
      [for m in values(local.models) : m.model_id],
      [for p in values(local.profiles) : p.base_model_id],
      )) : id => concat(
      ["arn:${local.partition}:bedrock:*::foundation-model/${replace(id, local.geo_prefix_pattern, "")}"],
      startswith(id, "global.") ? ["arn:${local.partition}:bedrock:::foundation-model/${replace(id, local.geo_prefix_pattern, "")}"] : [],
    ) if can(regex(local.geo_prefix_pattern_plain, id))
  }
  model_route_invoke_arns = flatten([
    for m in values(local.models) : can(regex(local.geo_prefix_pattern_plain, m.model_id)) ? concat(
      ["arn:${local.partition}:bedrock:${local.region}:${local.account_id}:inference-profile/${m.model_id}"],
      local.system_profile_model_arns[m.model_id],
    ) : ["arn:${local.partition}:bedrock:${local.region}::foundation-model/${m.model_id}"]
  ])
  profile_source_invoke_arns = flatten([
    for p in values(local.profiles) : concat(
      [p.copy_from],
      lookup(local.system_profile_model_arns, p.base_model_id, []),
    )
  ])
  bedrock_invoke_arns = distinct(concat(
    local.model_route_invoke_arns,
    local.profile_source_invoke_arns,
    [for k in keys(local.profiles) : local.profile_arns[k]],
  ))

  # CountTokens answers for foundation models (not profiles) of the Anthropic family: the models
  # behind the routes, in this Region.
  count_tokens_arns = var.input_token_estimate != "count_tokens" ? [] : distinct([
    for id in concat([for m in values(local.models) : m.model_id], [for p in values(local.profiles) : p.base_model_id]) :
    "arn:${local.partition}:bedrock:${local.region}::foundation-model/${replace(id, local.geo_prefix_pattern, "")}"
    if startswith(replace(id, local.geo_prefix_pattern, ""), "anthropic.")
  ])

  # --- names and ARNs (built, so that policies and the definition are known at plan time) -----
  table_name = "${var.name}-limits"
  table_arn  = "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${local.table_name}"

  function_names = {
    validate       = "${var.name}-validate"
    rate_limit     = "${var.name}-rate-limit"
    invoke         = "${var.name}-invoke"
    record_metrics = "${var.name}-record-metrics"
    sweeper        = "${var.name}-sweeper"
  }
  # The functions the state machine calls (the sweeper runs on its schedule).
  workflow_function_arns = { for k, a in local.function_arns : k => a if k != "sweeper" }
  function_arns = {
    for k, n in local.function_names : k => "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${n}"
  }

  state_machine_arn            = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${var.name}"
  state_machine_executions_arn = "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${var.name}:*"
  state_machine_log_group_name = "/aws/vendedlogs/states/${var.name}"

  # The package: a local zip, or an S3 object (exactly one; see the lambda_package_* rules).
  package_s3   = var.lambda_package_s3
  package_path = local.package_s3 != null ? null : coalesce(var.lambda_package_path, "${path.module}/dist/tollgate.zip")
  # Guarded: a missing package is reported by the lambda_package_path validation alone. An S3
  # object's code changes with its object_version.
  package_hash = local.package_path != null && fileexists(coalesce(local.package_path, "-")) ? filebase64sha256(local.package_path) : null

  kms_key_arn = var.kms_key_arn != null ? var.kms_key_arn : (var.create_kms_key ? aws_kms_key.this[0].arn : null)

  # --- function environment (docs/internals.md section 3) -----------------------------------
  function_environment = {
    TOLLGATE_TABLE_NAME                   = aws_dynamodb_table.this.name
    TOLLGATE_CONFIG_CACHE_SECONDS         = tostring(var.config_cache_seconds)
    TOLLGATE_ALLOWED_ENVIRONMENTS         = join(",", var.allowed_environments)
    TOLLGATE_MAX_PROMPT_CHARS             = tostring(var.max_prompt_chars)
    TOLLGATE_MAX_REQUEST_BYTES            = tostring(var.max_request_bytes)
    TOLLGATE_INPUT_TOKEN_ESTIMATE         = var.input_token_estimate
    TOLLGATE_ALLOW_DIRECT_MODEL_IDS       = tostring(var.allow_direct_model_ids)
    TOLLGATE_FAIL_OPEN                    = tostring(var.fail_open)
    TOLLGATE_IDEMPOTENCY_SECONDS          = tostring(var.idempotency_seconds)
    TOLLGATE_BEDROCK_READ_TIMEOUT_SECONDS = var.bedrock_read_timeout_seconds == null ? "" : tostring(var.bedrock_read_timeout_seconds)
    TOLLGATE_LEASE_SECONDS                = tostring(local.lease_seconds)
    TOLLGATE_LOG_PROMPTS                  = tostring(var.log_prompts)
    TOLLGATE_METRICS_SINK                 = var.metrics_sink
    TOLLGATE_ALERT_TOPIC_ARN              = local.alert_topic_arn == null ? "" : local.alert_topic_arn
    POWERTOOLS_METRICS_NAMESPACE          = var.metrics_namespace
    POWERTOOLS_SERVICE_NAME               = var.service_name
    POWERTOOLS_LOG_LEVEL                  = var.log_level
    POWERTOOLS_TRACE_DISABLED             = tostring(!var.tracing_enabled)
  }

  # --- leases and timeouts (docs/ledger.md) -------------------------------------------------
  # The longest an execution can run: EXPRESS stops at 5 minutes; a STANDARD run is bounded by
  # every task's timeout times its attempts (4 per task, 7 with the ledger's own retries).
  workflow_max_seconds = var.workflow_type == "EXPRESS" ? 300 : (
    4 * var.lambda_timeouts.validate + 4 * 7 * var.lambda_timeouts.rate_limit +
    4 * var.lambda_timeouts.invoke + 4 * var.lambda_timeouts.record_metrics + 600
  )
  # A rate-limit call in flight when the execution stops may still close the reservation.
  lease_seconds = coalesce(var.reservation_lease_seconds, local.workflow_max_seconds + var.lambda_timeouts.rate_limit)

  # --- least-privilege statements per function ---------------------------------------------
  # DynamoDB encrypts with the table's key on the caller's behalf (decrypt to read, data keys to write).
  kms_table_read = local.kms_key_arn == null ? [] : [{
    sid        = "ReadEncryptedTable"
    actions    = ["kms:Decrypt", "kms:DescribeKey"]
    resources  = [local.kms_key_arn]
    conditions = []
  }]
  kms_table_write = local.kms_key_arn == null ? [] : [{
    sid        = "WriteEncryptedTable"
    actions    = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
    resources  = [local.kms_key_arn]
    conditions = []
  }]

  function_statements = {
    validate = concat([{
      sid        = "ReadRoutes"
      actions    = ["dynamodb:GetItem", "dynamodb:Query"]
      resources  = [local.table_arn]
      conditions = []
      }], local.kms_table_read, length(local.count_tokens_arns) == 0 ? [] : [{
      sid        = "CountInputTokens"
      actions    = ["bedrock:CountTokens"]
      resources  = local.count_tokens_arns
      conditions = []
    }])

    rate_limit = concat([{
      sid = "ReadLimitsWriteCounters"
      actions = [
        "dynamodb:BatchGetItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
      ]
      resources  = [local.table_arn]
      conditions = []
    }], local.kms_table_write, local.alert_statements)

    invoke = concat([
      {
        sid        = "InvokeRoutedModels"
        actions    = ["bedrock:InvokeModel"]
        resources  = local.bedrock_invoke_arns
        conditions = []
      },
      ], !local.attribution_enabled ? [] : [
      # The attribution profiles, too many to list by ARN within the policy size limit: this
      # Region's application profiles that carry this deployment's tag (the models behind them
      # are in InvokeRoutedModels).
      {
        sid        = "InvokeAttributionProfiles"
        actions    = ["bedrock:InvokeModel"]
        resources  = ["arn:${local.partition}:bedrock:${local.region}:${local.account_id}:application-inference-profile/*"]
        conditions = [{ test = "StringEquals", variable = "aws:ResourceTag/${local.attribution_tag_key}", values = [var.name] }]
      },
      ], [
      # The invoking mark and the settle on the request's own reservation.
      {
        sid        = "MarkReservationInvoking"
        actions    = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
        resources  = [local.table_arn]
        conditions = [{ test = "ForAllValues:StringLike", variable = "dynamodb:LeadingKeys", values = ["REQUEST#*"] }]
      },
      # The settle right after the answer moves the reservation's counters to the real usage (and,
      # with threshold alerts, reads them back and claims the threshold on them): counter items only.
      {
        sid        = "SettleCounters"
        actions    = local.alert_topic_arn == null ? ["dynamodb:UpdateItem"] : ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"]
        resources  = [local.table_arn]
        conditions = [{ test = "ForAllValues:StringLike", variable = "dynamodb:LeadingKeys", values = ["COUNTER#*"] }]
      },
    ], local.kms_table_write, local.alert_statements)

    # PutMetricData has no resource type: "*" with the namespace condition is the narrowest.
    record_metrics = concat(
      local.record_mark_statement,
      local.kms_table_write,
      var.metrics_sink != "cloudwatch_api" ? [] : local.put_metrics_statement,
    )

    # Closes expired reservations (the lease index, the counters) and records their outcome.
    sweeper = concat(
      [
        {
          sid        = "FindExpiredLeases"
          actions    = ["dynamodb:Query"]
          resources  = ["${local.table_arn}/index/leases"]
          conditions = []
        },
        {
          sid        = "CloseReservations"
          actions    = ["dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:UpdateItem"]
          resources  = [local.table_arn]
          conditions = []
        },
      ],
      local.record_mark_statement,
      local.kms_table_write,
      var.metrics_sink != "cloudwatch_api" ? [] : local.put_metrics_statement,
    )
  }
  # Threshold alerts (docs/reporting.md): the rate-limit function publishes to the alarm topic,
  # only when some limit has alert_at and alarms are on. A topic the module creates is encrypted
  # with the module's key; SNS needs the publisher to be allowed to use it.
  alert_topic_arn = anytrue([for l in var.limits : length(l.alert_at) > 0]) ? local.budget_topic_arn : null
  alert_statements = local.alert_topic_arn == null ? [] : concat([{
    sid        = "PublishThresholdAlerts"
    actions    = ["sns:Publish"]
    resources  = [local.alert_topic_arn]
    conditions = []
    }], var.alarms.sns_topic_arn != null || local.kms_key_arn == null ? [] : [{
    sid        = "EncryptThresholdAlerts"
    actions    = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources  = [local.kms_key_arn]
    conditions = []
  }])
  # The record mark: one item per execution, keyed by the execution ARN.
  record_mark_statement = [{
    sid        = "ClaimRecordMark"
    actions    = ["dynamodb:PutItem"]
    resources  = [local.table_arn]
    conditions = [{ test = "ForAllValues:StringLike", variable = "dynamodb:LeadingKeys", values = ["arn:${local.partition}:states:*"] }]
  }]
  put_metrics_statement = [{
    sid        = "PutTollgateMetrics"
    actions    = ["cloudwatch:PutMetricData"]
    resources  = ["*"]
    conditions = [{ test = "StringEquals", variable = "cloudwatch:namespace", values = [var.metrics_namespace] }]
  }]

  functions = {
    validate = {
      handler     = "tollgate.handlers.validate.handler"
      description = "Tollgate: validate and tag a request, resolve its route"
      timeout     = var.lambda_timeouts.validate
    }
    rate_limit = {
      handler     = "tollgate.handlers.rate_limit.handler"
      description = "Tollgate: reserve, settle and release budget against the limits"
      timeout     = var.lambda_timeouts.rate_limit
    }
    invoke = {
      handler     = "tollgate.handlers.invoke.handler"
      description = "Tollgate: call the model with Bedrock Converse, settle its usage"
      timeout     = var.lambda_timeouts.invoke
    }
    record_metrics = {
      handler     = "tollgate.handlers.record_metrics.handler"
      description = "Tollgate: record the outcome, metrics and the Fail cause"
      timeout     = var.lambda_timeouts.record_metrics
    }
    sweeper = {
      handler     = "tollgate.handlers.sweeper.handler"
      description = "Tollgate: close reservations whose lease expired, record their outcome"
      timeout     = var.lambda_timeouts.sweeper
    }
  }

  # --- Bedrock metric IDs for the dashboard (AWS/Bedrock ModelId dimension) ------------------
  # Application profiles report under their unique ID, the last segment of the ARN.
  bedrock_metric_ids = distinct(concat(
    [for m in values(local.models) : m.model_id],
    [for k in keys(local.profiles) : module.inference_profiles.ids[k]],
  ))
}
