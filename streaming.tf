# --- streaming: the admit and settle state machines around a caller's own ConverseStream -------
# StartSyncExecution cannot stream, so a streaming caller admits through stream-admit, streams
# ConverseStream from the routed model itself (stream_caller_policy_json) and settles the stream's
# usage through stream-settle (docs/requests.md). Both are EXPRESS whatever workflow_type is: they
# are run with StartSyncExecution, which STANDARD machines do not offer.

locals {
  stream_state_machine_names = {
    admit  = "${var.name}-stream-admit"
    settle = "${var.name}-stream-settle"
  }
  stream_state_machine_arns = {
    for k, n in local.stream_state_machine_names : k => "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${n}"
  }
  # The functions each stream machine calls: never the invoke function (the caller calls the model).
  stream_function_arns = [
    local.function_arns.validate,
    local.function_arns.rate_limit,
    local.function_arns.record_metrics,
  ]
  stream_state_machine_definitions = {
    for k in keys(local.stream_state_machine_names) : k => templatefile("${path.module}/asl/stream_${k}.asl.json", {
      validate_function_arn       = local.function_arns.validate
      rate_limit_function_arn     = local.function_arns.rate_limit
      record_metrics_function_arn = local.function_arns.record_metrics
    })
  }

  stream_state_machine_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "InvokeStreamSteps"
          Effect   = "Allow"
          Action   = ["lambda:InvokeFunction"]
          Resource = concat(local.stream_function_arns, [for a in local.stream_function_arns : "${a}:*"])
        },
        local.state_machine_log_delivery_statement,
      ],
      local.state_machine_trace_statements,
    )
  })
}

resource "aws_iam_role" "stream_state_machine" {
  name                 = "${var.name}-stream-state-machines"
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
        ArnLike = { "aws:SourceArn" = concat(
          values(local.stream_state_machine_arns),
          [for n in values(local.stream_state_machine_names) : "arn:${local.partition}:states:${local.region}:${local.account_id}:express:${n}:*"],
        ) }
      }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "stream_state_machine" {
  #checkov:skip=CKV_AWS_290:Only the CloudWatch Logs delivery and X-Ray actions use Resource "*"; neither supports resource-level permissions.
  #checkov:skip=CKV_AWS_355:Only the CloudWatch Logs delivery and X-Ray actions use Resource "*"; neither supports resource-level permissions.
  name   = "least-privilege"
  role   = aws_iam_role.stream_state_machine.id
  policy = local.stream_state_machine_policy
}

resource "aws_sfn_state_machine" "stream" {
  #checkov:skip=CKV_AWS_285:Execution logging is on (level ALL by default) but without execution data, which holds prompts; state_machine_include_execution_data turns it on.
  for_each = local.stream_state_machine_names

  name       = each.value
  type       = "EXPRESS"
  role_arn   = aws_iam_role.stream_state_machine.arn
  definition = local.stream_state_machine_definitions[each.key]

  # The main machine's log group (and so its KMS key and retention): one place for every execution.
  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    level                  = var.state_machine_log_level
    include_execution_data = var.state_machine_include_execution_data
  }

  tracing_configuration {
    enabled = var.tracing_enabled
  }

  tags = var.tags

  depends_on = [module.function, aws_iam_role_policy.stream_state_machine]
}
