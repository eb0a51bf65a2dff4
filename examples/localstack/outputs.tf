# Every output of the module, under the same name.

output "state_machine_arn" {
  description = "ARN of the Tollgate state machine."
  value       = module.tollgate.state_machine_arn
}

output "state_machine_name" {
  description = "Name of the state machine."
  value       = module.tollgate.state_machine_name
}

output "state_machine_role_arn" {
  description = "ARN of the state machine's role."
  value       = module.tollgate.state_machine_role_arn
}

output "state_machine_log_group_name" {
  description = "Log group of the state machine's execution log."
  value       = module.tollgate.state_machine_log_group_name
}

output "limits_table_name" {
  description = "Name of the limits table."
  value       = module.tollgate.limits_table_name
}

output "limits_table_arn" {
  description = "ARN of the limits table."
  value       = module.tollgate.limits_table_arn
}

output "function_arns" {
  description = "Function ARN by role: validate, rate_limit, invoke, record_metrics."
  value       = module.tollgate.function_arns
}

output "function_names" {
  description = "Function name by role."
  value       = module.tollgate.function_names
}

output "function_role_arns" {
  description = "Role ARN of each function, by role."
  value       = module.tollgate.function_role_arns
}

output "function_log_group_names" {
  description = "Log group of each function, by role."
  value       = module.tollgate.function_log_group_names
}

output "inference_profile_arns" {
  description = "Application inference profile ARN by route name."
  value       = module.tollgate.inference_profile_arns
}

output "inference_profile_ids" {
  description = "Application inference profile unique ID by route name."
  value       = module.tollgate.inference_profile_ids
}

output "model_routes" {
  description = "Route name -> model ID or profile ARN."
  value       = module.tollgate.model_routes
}

output "limit_ids" {
  description = "IDs of the limits written to the table."
  value       = module.tollgate.limit_ids
}

output "dashboard_name" {
  description = "Name of the dashboard."
  value       = module.tollgate.dashboard_name
}

output "metrics_namespace" {
  description = "Namespace of Tollgate's metrics."
  value       = module.tollgate.metrics_namespace
}

output "sns_topic_arn" {
  description = "Topic the alarms notify."
  value       = module.tollgate.sns_topic_arn
}

output "alarm_names" {
  description = "Alarm name by alarm."
  value       = module.tollgate.alarm_names
}

output "kms_key_arn" {
  description = "KMS key in use (null: AWS managed encryption)."
  value       = module.tollgate.kms_key_arn
}

output "cost_allocation_tag_keys" {
  description = "Tag keys activated as cost allocation tags."
  value       = module.tollgate.cost_allocation_tag_keys
}

output "budget_names" {
  description = "Budget name by budgets key."
  value       = module.tollgate.budget_names
}

output "caller_policy_json" {
  description = "IAM policy (JSON) an application's role needs to call the state machine."
  value       = module.tollgate.caller_policy_json
}

output "cost_export" {
  description = "The CUR 2.0 export that tollgate report --source cur reads."
  value       = module.tollgate.cost_export
}
