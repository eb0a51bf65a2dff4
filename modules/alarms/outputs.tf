output "sns_topic_arn" {
  description = "ARN of the topic the alarms notify."
  value       = local.topic_arn
}

output "alarm_arns" {
  description = "Alarm ARN by alarm (denied, invocation_failed, executions_failed)."
  value = merge(
    { for k, a in aws_cloudwatch_metric_alarm.total : k => a.arn },
    { executions_failed = aws_cloudwatch_metric_alarm.executions_failed.arn },
  )
}

output "alarm_names" {
  description = "Alarm name by alarm (denied, invocation_failed, executions_failed)."
  value = merge(
    { for k, a in aws_cloudwatch_metric_alarm.total : k => a.alarm_name },
    { executions_failed = aws_cloudwatch_metric_alarm.executions_failed.alarm_name },
  )
}

output "alarm_metrics" {
  description = "What each Tollgate metric alarm reads: namespace, metric name and dimensions (none: the total series)."
  value = {
    for k, a in aws_cloudwatch_metric_alarm.total : k => {
      namespace   = a.namespace
      metric_name = a.metric_name
      dimensions  = a.dimensions
      statistic   = a.statistic
    }
  }
}
