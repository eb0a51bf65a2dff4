output "sns_topic_arn" {
  description = "ARN of the topic the alarms notify."
  value       = local.topic_arn
}

output "alarm_arns" {
  description = "Alarm ARN by alarm (denied, invocation_failed, executions_failed, executions_timed_out, swept_reservations)."
  value = merge(
    { for k, a in aws_cloudwatch_metric_alarm.total : k => a.arn },
    {
      executions_failed    = aws_cloudwatch_metric_alarm.executions_failed.arn
      executions_timed_out = aws_cloudwatch_metric_alarm.executions_timed_out.arn
      swept_reservations   = aws_cloudwatch_metric_alarm.swept_reservations.arn
    },
  )
}

output "alarm_names" {
  description = "Alarm name by alarm (denied, invocation_failed, executions_failed, executions_timed_out, swept_reservations)."
  value = merge(
    { for k, a in aws_cloudwatch_metric_alarm.total : k => a.alarm_name },
    {
      executions_failed    = aws_cloudwatch_metric_alarm.executions_failed.alarm_name
      executions_timed_out = aws_cloudwatch_metric_alarm.executions_timed_out.alarm_name
      swept_reservations   = aws_cloudwatch_metric_alarm.swept_reservations.alarm_name
    },
  )
}

output "sns_topic_policy" {
  description = "The access policy the module set on the created topic (null: SNS's default policy)."
  value       = length(aws_sns_topic_policy.this) > 0 ? local.topic_policy : null
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
