output "state_machine_arn" {
  description = "Send requests here: aws stepfunctions start-sync-execution --state-machine-arn <this> --input file://request.json"
  value       = module.tollgate.state_machine_arn
}

output "limits_table_name" {
  description = "The table holding routes, limits, counters and reservations."
  value       = module.tollgate.limits_table_name
}

output "inference_profile_arns" {
  description = "The cost-center profiles (sales, services, support)."
  value       = module.tollgate.inference_profile_arns
}

output "model_routes" {
  description = "Every route and what it calls."
  value       = module.tollgate.model_routes
}

output "dashboard_name" {
  description = "The CloudWatch dashboard."
  value       = module.tollgate.dashboard_name
}
