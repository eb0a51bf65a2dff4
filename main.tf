# Tollgate: a proactive budget in front of every Amazon Bedrock call.
# Contracts between this module and the Python package: docs/internals.md.

# --- encryption -------------------------------------------------------------------------------

resource "aws_kms_key" "this" {
  count = var.kms_key_arn == null && var.create_kms_key ? 1 : 0

  description             = "Tollgate ${var.name}: limits table, log groups, function environments, alarm topic"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = local.kms_key_policy
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  count = var.kms_key_arn == null && var.create_kms_key ? 1 : 0

  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this[0].key_id
}

locals {
  # A key policy's Resource "*" means "this key". The account statement delegates use of the key
  # to IAM policies (the function roles name the key ARN); the service statements let CloudWatch
  # Logs encrypt this module's log groups, and CloudWatch alarms and AWS Budgets (when budgets
  # are configured) publish to the encrypted topic.
  kms_key_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid       = "AccountAdministersAndDelegatesToIAM"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action = [
          "kms:CancelKeyDeletion", "kms:Create*", "kms:Decrypt", "kms:Delete*", "kms:Describe*",
          "kms:Disable*", "kms:Enable*", "kms:Encrypt", "kms:GenerateDataKey*", "kms:Get*",
          "kms:List*", "kms:Put*", "kms:ReEncrypt*", "kms:Revoke*", "kms:RotateKeyOnDemand",
          "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource", "kms:Update*",
        ]
        Resource = "*"
      },
      {
        Sid       = "CloudWatchLogsEncryptsTollgateLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:Describe*", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = [
              "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${var.name}-*",
              "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.state_machine_log_group_name}",
            ]
          }
        }
      },
      {
        Sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
      ], length(var.budgets) == 0 ? [] : [
      # Without this, AWS Budgets cannot publish to the encrypted topic and drops its alerts silently.
      {
        Sid       = "BudgetsPublishToEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = "budgets.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnLike      = { "aws:SourceArn" = local.budgets_source_arn }
        }
      },
    ])
  })
}

# --- the limits table: routes, limits, counters, reservations ---------------------------------

resource "aws_dynamodb_table" "this" {
  name                        = local.table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  # The sparse lease index: only open reservations carry `lease` and `leaseExpiresAt`.
  attribute {
    name = "lease"
    type = "S"
  }

  attribute {
    name = "leaseExpiresAt"
    type = "N"
  }

  global_secondary_index {
    name               = "leases"
    hash_key           = "lease"
    range_key          = "leaseExpiresAt"
    projection_type    = "INCLUDE"
    non_key_attributes = ["requestId", "applicationId", "executionId", "state"]
  }

  ttl {
    attribute_name = "expiresAt"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = local.kms_key_arn
  }

  tags = var.tags

  lifecycle {
    # Bedrock refuses profiles past the account's quota halfway through an apply: refuse the plan.
    precondition {
      condition     = local.application_profile_count <= var.attribution_profiles.quota
      error_message = "attribution_profiles: this deployment needs ${local.application_profile_count} application inference profiles (${length(local.attribution_profiles)} for the registry: model x application x cost center x environment, plus ${length(local.profiles)} cost-center routes), more than the quota of ${var.attribution_profiles.quota}. Narrow the registry's routes, cost centers or environments, or raise the Bedrock quota (Service Quotas) and set attribution_profiles.quota."
    }
  }
}

resource "aws_dynamodb_table_item" "route" {
  for_each = local.route_items

  table_name = aws_dynamodb_table.this.name
  hash_key   = aws_dynamodb_table.this.hash_key
  range_key  = aws_dynamodb_table.this.range_key
  item       = each.value

  lifecycle {
    # Both would become the same ROUTE item, and one would silently replace the other.
    precondition {
      condition     = !(contains(keys(local.models), each.key) && contains(keys(var.inference_profiles), each.key))
      error_message = "inference_profiles: ${each.key} is also an alias in models; a route name must be one or the other."
    }
  }
}

resource "aws_dynamodb_table_item" "limit" {
  for_each = local.limit_items

  table_name = aws_dynamodb_table.this.name
  hash_key   = aws_dynamodb_table.this.hash_key
  range_key  = aws_dynamodb_table.this.range_key
  item       = each.value

  lifecycle {
    # A scope that no request can carry counts nothing, so the limit would never apply.
    precondition {
      condition     = contains(local.known_model_scopes, local.limit_scopes[each.key].model) || can(regex(local.model_id_pattern, local.limit_scopes[each.key].model)) || can(regex(local.any_bedrock_arn_pattern, local.limit_scopes[each.key].model))
      error_message = "limits: ${each.key} has model scope ${local.limit_scopes[each.key].model}, which is not `*`, a route (${join(", ", sort(local.route_names))}), a model ID or a Bedrock ARN."
    }
    precondition {
      condition     = contains(concat(var.allowed_environments, ["*"]), local.limit_scopes[each.key].environment)
      error_message = "limits: ${each.key} has environment scope ${local.limit_scopes[each.key].environment}, which is not `*` or one of allowed_environments (${join(", ", var.allowed_environments)})."
    }
  }
}

locals {
  # Limit ID -> the model and the environment its scope names (`*`: any), for the preconditions.
  limit_scopes = {
    for id, item in local.limit_items : id => {
      for k in ["model", "environment"] : k => try(jsondecode(item).scope.M[k].S, "*")
    }
  }
}

resource "aws_dynamodb_table_item" "application" {
  for_each = local.application_items

  table_name = aws_dynamodb_table.this.name
  hash_key   = aws_dynamodb_table.this.hash_key
  range_key  = aws_dynamodb_table.this.range_key
  item       = each.value

  lifecycle {
    # A value the validate function can never accept would refuse every request of the application.
    precondition {
      condition     = length(setsubtract(coalesce(var.applications[each.key].environments, []), var.allowed_environments)) == 0
      error_message = "applications: ${each.key} lists environments outside allowed_environments (${join(", ", var.allowed_environments)}): ${join(", ", setsubtract(coalesce(var.applications[each.key].environments, []), var.allowed_environments))}."
    }
    precondition {
      condition     = length(setsubtract(coalesce(var.applications[each.key].routes, []), local.route_names)) == 0
      error_message = "applications: ${each.key} lists routes this deployment does not have (routes: ${join(", ", sort(local.route_names))}): ${join(", ", setsubtract(coalesce(var.applications[each.key].routes, []), local.route_names))}."
    }
  }
}

# --- application inference profiles (cost allocation tags per cost center) ---------------------

module "inference_profiles" {
  source = "./modules/inference-profiles"

  profiles = local.profiles
}

# One per (model x application x cost center x environment) the registry allows: every admitted
# call is billed under its tags (locals.tf, attribution profiles; docs/reporting.md).
module "attribution_profiles" {
  source = "./modules/inference-profiles"

  profiles = local.attribution_profiles
}

# --- the functions: four for the workflow, and the sweeper ------------------------------------

module "function" {
  source   = "./modules/function"
  for_each = local.functions

  function_name      = local.function_names[each.key]
  description        = each.value.description
  handler            = each.value.handler
  timeout            = each.value.timeout
  package_path       = local.package_path
  package_s3         = local.package_s3
  source_code_hash   = local.package_hash
  architecture       = var.lambda_architecture
  memory_size        = var.lambda_memory_size
  environment        = local.function_environment
  policy_statements  = local.function_statements[each.key]
  log_retention_days = var.log_retention_days
  kms_key_arn        = local.kms_key_arn
  tracing_enabled    = var.tracing_enabled
  partition          = local.partition
  region             = local.region
  account_id         = local.account_id

  iam_role_path                = var.iam_role_path
  iam_permissions_boundary_arn = var.iam_permissions_boundary_arn
  tags                         = var.tags
  role_tags                    = each.key == "invoke" ? local.invoke_principal_tags : {}
}

# --- the state machine ------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "state_machine" {
  name              = local.state_machine_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = var.tags
}

locals {
  # Statements every state machine role needs (the main one and the stream machines'): log delivery
  # and, when tracing, X-Ray writes. Neither kind of action supports resource-level permissions.
  state_machine_log_delivery_statement = {
    Sid    = "DeliverExecutionLogs"
    Effect = "Allow"
    Action = [
      "logs:CreateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:DescribeLogGroups",
      "logs:DescribeResourcePolicies",
      "logs:GetLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:UpdateLogDelivery",
    ]
    Resource = "*"
  }
  state_machine_trace_statements = var.tracing_enabled ? [{
    Sid      = "WriteTraces"
    Effect   = "Allow"
    Action   = ["xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    Resource = "*"
  }] : []
}

resource "aws_iam_role" "state_machine" {
  name                 = "${var.name}-state-machine"
  path                 = var.iam_role_path
  permissions_boundary = var.iam_permissions_boundary_arn

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "StepFunctionsAssumesRole"
      Effect    = "Allow"
      Principal = { Service = "states.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike = { "aws:SourceArn" = [
          local.state_machine_arn,
          "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${var.name}:*",
          "arn:${local.partition}:states:${local.region}:${local.account_id}:express:${var.name}:*",
        ] }
      }
    }]
  })

  tags = var.tags
}

locals {
  state_machine_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "InvokeTollgateFunctions"
          Effect   = "Allow"
          Action   = ["lambda:InvokeFunction"]
          Resource = concat(values(local.workflow_function_arns), [for a in values(local.workflow_function_arns) : "${a}:*"])
        },
        # RecordFallback: the record mark (keyed by the execution ARN) and the metrics Record would
        # have emitted.
        {
          Sid      = "ClaimRecordMark"
          Effect   = "Allow"
          Action   = ["dynamodb:PutItem"]
          Resource = [local.table_arn]
          Condition = {
            "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["arn:${local.partition}:states:*"] }
          }
        },
        {
          Sid       = "PutTollgateMetrics"
          Effect    = "Allow"
          Action    = ["cloudwatch:PutMetricData"]
          Resource  = "*"
          Condition = { StringEquals = { "cloudwatch:namespace" = var.metrics_namespace } }
        },
        local.state_machine_log_delivery_statement,
      ],
      local.kms_key_arn == null ? [] : [{
        Sid      = "WriteEncryptedTable"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
        Resource = local.kms_key_arn
      }],
      local.state_machine_trace_statements,
    )
  })

  rendered_definition = templatefile("${path.module}/asl/tollgate.asl.json", {
    validate_function_arn       = local.function_arns.validate
    rate_limit_function_arn     = local.function_arns.rate_limit
    invoke_function_arn         = local.function_arns.invoke
    record_metrics_function_arn = local.function_arns.record_metrics
    table_name                  = local.table_name
    metrics_namespace           = var.metrics_namespace
  })
  # The template as written, unless the Invoke state's timeout differs from it (STANDARD with a
  # longer invoke function: locals.tf, invoke_state_timeout_seconds).
  state_machine_definition = (
    local.invoke_state_timeout_seconds == local.asl_template.States.Invoke.TimeoutSeconds
    ? local.rendered_definition
    : jsonencode(merge(jsondecode(local.rendered_definition), {
      States = merge(jsondecode(local.rendered_definition).States, {
        Invoke = merge(jsondecode(local.rendered_definition).States.Invoke, {
          TimeoutSeconds = local.invoke_state_timeout_seconds
        })
      })
    }))
  )
}

resource "aws_iam_role_policy" "state_machine" {
  #checkov:skip=CKV_AWS_290:Only the CloudWatch Logs delivery, X-Ray and PutMetricData (namespace-conditioned) actions use Resource "*"; none supports resource-level permissions.
  #checkov:skip=CKV_AWS_355:Only the CloudWatch Logs delivery, X-Ray and PutMetricData (namespace-conditioned) actions use Resource "*"; none supports resource-level permissions.
  name   = "least-privilege"
  role   = aws_iam_role.state_machine.id
  policy = local.state_machine_policy
}

locals {
  # "<function> <t> s >= <state> <TimeoutSeconds> s" for every state a function would outlive
  # (STANDARD sizes the Invoke state from lambda_timeouts.invoke, so it is left out there).
  timeouts_over_their_state = flatten([for k, t in var.lambda_timeouts : [
    for n, s in local.asl_template.States : "${k} ${t} s >= ${n} ${s.TimeoutSeconds} s"
    if try(s.Resource == "$${${k}_function_arn}" && t >= s.TimeoutSeconds && !(n == "Invoke" && var.workflow_type == "STANDARD"), false)
  ]])
}

resource "aws_sfn_state_machine" "this" {
  #checkov:skip=CKV_AWS_285:Execution logging is on (level ALL by default) but without execution data, which holds prompts and responses; state_machine_include_execution_data turns it on.
  name       = var.name
  type       = var.workflow_type
  role_arn   = aws_iam_role.state_machine.arn
  definition = local.state_machine_definition

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    level                  = var.state_machine_log_level
    include_execution_data = var.state_machine_include_execution_data
  }

  tracing_configuration {
    enabled = var.tracing_enabled
  }

  tags = var.tags

  # The definition names the functions by ARN; they and the role's policy must exist first.
  depends_on = [module.function, aws_iam_role_policy.state_machine]

  lifecycle {
    # A function that outlives its state's TimeoutSeconds keeps running after the workflow has
    # moved on (a model call billed after its reservation was released).
    precondition {
      condition     = length(local.timeouts_over_their_state) == 0
      error_message = "lambda_timeouts: a function's timeout must be shorter than the TimeoutSeconds of every state that calls it (asl/tollgate.asl.json): ${join(", ", local.timeouts_over_their_state)}; under EXPRESS the Invoke state's 248 s holds the 5-minute bound, STANDARD sizes it from lambda_timeouts.invoke."
    }
    # The invoke function must outlive its model call, to settle the usage and report.
    precondition {
      condition     = var.bedrock_read_timeout_seconds == null || try(var.bedrock_read_timeout_seconds >= 1 && var.bedrock_read_timeout_seconds < var.lambda_timeouts.invoke && floor(var.bedrock_read_timeout_seconds) == var.bedrock_read_timeout_seconds, false)
      error_message = "bedrock_read_timeout_seconds must be null (sized from max_tokens) or a whole number of at least 1 and less than lambda_timeouts.invoke (${var.lambda_timeouts.invoke})."
    }
    # A retry with the same requestId after its record expired but inside the reservation's lease
    # would reserve and call the model a second time (the functions refuse it at start as well).
    precondition {
      condition     = var.idempotency_seconds >= local.lease_seconds
      error_message = "idempotency_seconds (${var.idempotency_seconds}) must be at least the reservation lease (${local.lease_seconds} s: reservation_lease_seconds, or the workflow's longest run plus the rate-limit timeout), or a retry inside the lease is charged twice."
    }
  }
}

# --- the sweeper's schedule -------------------------------------------------------------------

resource "aws_iam_role" "scheduler" {
  name                 = "${var.name}-sweeper-schedule"
  path                 = var.iam_role_path
  permissions_boundary = var.iam_permissions_boundary_arn

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "SchedulerAssumesRole"
      Effect    = "Allow"
      Principal = { Service = "scheduler.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "scheduler" {
  name = "least-privilege"
  role = aws_iam_role.scheduler.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "InvokeSweeper"
      Effect   = "Allow"
      Action   = ["lambda:InvokeFunction"]
      Resource = [local.function_arns.sweeper, "${local.function_arns.sweeper}:*"]
    }]
  })
}

resource "aws_scheduler_schedule" "sweeper" {
  #checkov:skip=CKV_AWS_297:The schedule's only input is the constant {"source":"schedule"}; there is nothing to encrypt with a customer managed key.
  name                = "${var.name}-sweeper"
  description         = "Tollgate ${var.name}: close reservations whose lease expired"
  schedule_expression = var.sweeper_schedule_expression

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = local.function_arns.sweeper
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ source = "schedule" })

    retry_policy {
      maximum_event_age_in_seconds = 300
      maximum_retry_attempts       = 2
    }
  }

  depends_on = [aws_iam_role_policy.scheduler, module.function]
}


# --- dashboard and alarms ---------------------------------------------------------------------

module "dashboard" {
  source = "./modules/dashboard"
  count  = var.create_dashboard ? 1 : 0

  dashboard_name                = var.name
  region                        = local.region
  metrics_namespace             = var.metrics_namespace
  bedrock_model_ids             = local.bedrock_metric_ids
  state_machine_arn             = aws_sfn_state_machine.this.arn
  function_names                = local.function_names
  record_metrics_log_group_name = module.function["record_metrics"].log_group_name
  cost_centers                  = local.dashboard_cost_centers
  alert_log_group_name          = local.alert_topic_arn == null ? null : "/aws/lambda/${local.function_names.rate_limit}"
}

module "alarms" {
  source = "./modules/alarms"
  count  = var.alarms.enabled ? 1 : 0

  name                        = var.name
  metrics_namespace           = var.metrics_namespace
  state_machine_arn           = aws_sfn_state_machine.this.arn
  sns_topic_arn               = var.alarms.sns_topic_arn
  email_addresses             = var.alarms.email_addresses
  kms_key_arn                 = local.kms_key_arn
  period_seconds              = var.alarms.period_seconds
  evaluation_periods          = var.alarms.evaluation_periods
  denied_threshold            = var.alarms.denied_threshold
  invocation_failed_threshold = var.alarms.invocation_failed_threshold
  executions_failed_threshold = var.alarms.executions_failed_threshold
  budgets_publish             = length(var.budgets) > 0
  budgets_source_arn          = local.budgets_source_arn
  account_id                  = local.account_id
  partition                   = local.partition
  region                      = local.region
  tags                        = var.tags

  executions_timed_out_threshold = var.alarms.executions_timed_out_threshold
  swept_reservations_threshold   = var.alarms.swept_reservations_threshold
}
