# Alarms on denials, invocation failures and failed executions, sent to an SNS topic.

resource "aws_sns_topic" "this" {
  count = var.sns_topic_arn == null ? 1 : 0

  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.email_addresses)

  topic_arn = local.topic_arn
  protocol  = "email"
  endpoint  = each.value
}

locals {
  topic_arn = var.sns_topic_arn != null ? var.sns_topic_arn : aws_sns_topic.this[0].arn

  # Each alarm reads the metric's total: its aggregate series with no dimensions (docs/metrics.md),
  # complete however many applications and models there are.
  total_alarms = {
    denied = {
      metric      = "RateLimitDenied"
      threshold   = var.denied_threshold
      description = "Tollgate ${var.name}: requests denied by a limit reached ${var.denied_threshold} in ${var.period_seconds} s. See the dashboard's 'Denials by limit and model'."
    }
    invocation_failed = {
      metric      = "InvocationFailed"
      threshold   = var.invocation_failed_threshold
      description = "Tollgate ${var.name}: admitted requests whose model call failed reached ${var.invocation_failed_threshold} in ${var.period_seconds} s."
    }
  }
}

# Before the aggregate series, these alarms were Metrics Insights queries named "insights".
moved {
  from = aws_cloudwatch_metric_alarm.insights
  to   = aws_cloudwatch_metric_alarm.total
}

resource "aws_cloudwatch_metric_alarm" "total" {
  for_each = local.total_alarms

  alarm_name          = "${var.name}-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = each.value.threshold
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.evaluation_periods
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic_arn]
  ok_actions          = [local.topic_arn]

  namespace   = var.metrics_namespace
  metric_name = each.value.metric
  statistic   = "Sum"
  period      = var.period_seconds

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "executions_failed" {
  alarm_name          = "${var.name}-executions-failed"
  alarm_description   = "Tollgate ${var.name}: failed workflow executions (denied, failed or invalid requests) reached ${var.executions_failed_threshold} in ${var.period_seconds} s."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsFailed"
  dimensions          = { StateMachineArn = var.state_machine_arn }
  statistic           = "Sum"
  period              = var.period_seconds
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.executions_failed_threshold
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.evaluation_periods
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic_arn]
  ok_actions          = [local.topic_arn]
  tags                = var.tags
}
