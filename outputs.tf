output "state_machine_arn" {
  description = "ARN of the state machine: send every Bedrock request here."
  value       = aws_sfn_state_machine.this.arn
}

output "state_machine_name" {
  description = "Name of the state machine."
  value       = aws_sfn_state_machine.this.name
}

output "state_machine_role_arn" {
  description = "ARN of the state machine's role."
  value       = aws_iam_role.state_machine.arn
}

output "state_machine_log_group_name" {
  description = "Log group of the state machine's execution log."
  value       = aws_cloudwatch_log_group.state_machine.name
}

output "limits_table_name" {
  description = "Name of the DynamoDB table holding routes, limits, counters and reservations."
  value       = aws_dynamodb_table.this.name
}

output "limits_table_arn" {
  description = "ARN of the limits table."
  value       = aws_dynamodb_table.this.arn
}

output "function_arns" {
  description = "Function ARN by role: validate, rate_limit, invoke, record_metrics, sweeper."
  value       = { for k, f in module.function : k => f.function_arn }
}

output "function_names" {
  description = "Function name by role: validate, rate_limit, invoke, record_metrics, sweeper."
  value       = { for k, f in module.function : k => f.function_name }
}

output "function_role_arns" {
  description = "ARN of each function's own role, by role."
  value       = { for k, f in module.function : k => f.role_arn }
}

output "function_log_group_names" {
  description = "Log group of each function, by role (record_metrics logs one JSON line per execution)."
  value       = { for k, f in module.function : k => f.log_group_name }
}

output "inference_profile_arns" {
  description = "Application inference profile ARN by route name (sales, services, support, ...)."
  value       = module.inference_profiles.arns
}

output "inference_profile_ids" {
  description = "Application inference profile unique ID (the AWS/Bedrock ModelId of its metrics) by route name."
  value       = module.inference_profiles.ids
}

output "model_routes" {
  description = "What each route name sends to Converse: a model ID, a system profile ID or an application profile ARN."
  value       = { for name, r in local.routes : name => r.model_id }
}

output "limit_ids" {
  description = "IDs of the limits written to the table (the limitId of a denial)."
  value       = sort(keys(local.limit_items))
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard (null when create_dashboard is false)."
  value       = var.create_dashboard ? module.dashboard[0].dashboard_name : null
}

output "metrics_namespace" {
  description = "CloudWatch namespace of Tollgate's metrics."
  value       = var.metrics_namespace
}

output "sns_topic_arn" {
  description = "SNS topic the alarms notify (null when alarms are off)."
  value       = var.alarms.enabled ? module.alarms[0].sns_topic_arn : null
}

output "alarm_names" {
  description = "Alarm name by alarm (empty when alarms are off)."
  value       = var.alarms.enabled ? module.alarms[0].alarm_names : {}
}

output "kms_key_arn" {
  description = "KMS key of the table, logs, function environments and topic (null: AWS managed)."
  value       = local.kms_key_arn
}

output "cost_allocation_tag_keys" {
  description = "Tag keys activated as cost allocation tags (empty unless cost_allocation_tags.enabled)."
  value       = sort(keys(aws_ce_cost_allocation_tag.this))
}

output "budget_names" {
  description = "AWS Budgets budget name by budgets key."
  value       = { for k, b in aws_budgets_budget.this : k => b.name }
}

output "caller_policy_json" {
  description = "IAM policy (JSON) with only what a caller needs to run requests through the state machine."
  value = jsonencode({
    Version = "2012-10-17"
    Statement = var.workflow_type == "EXPRESS" ? [
      {
        Sid      = "RunTollgateSynchronously"
        Effect   = "Allow"
        Action   = ["states:StartSyncExecution"]
        Resource = [local.state_machine_arn]
      },
      ] : [
      {
        Sid      = "StartTollgateExecutions"
        Effect   = "Allow"
        Action   = ["states:StartExecution"]
        Resource = [local.state_machine_arn]
      },
      {
        Sid      = "ReadTollgateExecutions"
        Effect   = "Allow"
        Action   = ["states:DescribeExecution"]
        Resource = [local.state_machine_executions_arn]
      },
    ]
  })
}

output "cost_export" {
  description = "The CUR 2.0 export `tollgate report --source cur` reads; null when off."
  value = local.cost_export_on ? {
    bucket      = aws_s3_bucket.cost_export[0].bucket
    prefix      = var.cost_export.s3_prefix
    export_name = local.cost_export_name
    export_arn  = aws_bcmdataexports_export.this[0].export[0].export_arn
  } : null
}

output "stream_admit_state_machine_arn" {
  description = "EXPRESS machine that admits a streaming request (converse_stream)."
  value       = aws_sfn_state_machine.stream["admit"].arn
}

output "stream_settle_state_machine_arn" {
  description = "EXPRESS machine that settles a streamed request with its usage and records it."
  value       = aws_sfn_state_machine.stream["settle"].arn
}

output "stream_caller_policy_json" {
  description = "IAM policy (JSON) for a streaming caller: the stream machines and ConverseStream on routed models."
  value = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid      = "AdmitAndSettleStreams"
        Effect   = "Allow"
        Action   = ["states:StartSyncExecution"]
        Resource = [local.stream_state_machine_arns.admit, local.stream_state_machine_arns.settle]
      },
      {
        Sid      = "StreamRoutedModels"
        Effect   = "Allow"
        Action   = ["bedrock:InvokeModelWithResponseStream"]
        Resource = local.bedrock_invoke_arns
      },
      ], !local.attribution_enabled ? [] : [
      # With a registry, calls go through the attribution profiles (as InvokeAttributionProfiles).
      {
        Sid       = "StreamAttributionProfiles"
        Effect    = "Allow"
        Action    = ["bedrock:InvokeModelWithResponseStream"]
        Resource  = ["arn:${local.partition}:bedrock:${local.region}:${local.account_id}:application-inference-profile/*"]
        Condition = { StringEquals = { "aws:ResourceTag/${local.attribution_tag_key}" = var.name } }
      },
    ])
  })
}
