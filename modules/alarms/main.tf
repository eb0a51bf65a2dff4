# Alarms on denials, invocation failures, failed and timed-out executions and sweeper actions,
# sent to an SNS topic.

resource "aws_sns_topic" "this" {
  count = var.sns_topic_arn == null ? 1 : 0

  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

# The default topic policy lets only the account publish; AWS Budgets is a service principal
# and needs its own statement (scoped to this account's budgets), or its alerts are dropped.
resource "aws_sns_topic_policy" "this" {
  count = var.sns_topic_arn == null && var.budgets_publish ? 1 : 0

  arn    = aws_sns_topic.this[0].arn
  policy = local.topic_policy
}

locals {
  # Built, so that the policy is known at plan time.
  created_topic_arn = "arn:${var.partition}:sns:${var.region}:${var.account_id}:${var.name}-alarms"
  topic_policy = !var.budgets_publish || var.sns_topic_arn != null ? null : jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountManagesAndPublishes"
        Effect    = "Allow"
        Principal = { AWS = "arn:${var.partition}:iam::${var.account_id}:root" }
        Action = [
          "SNS:AddPermission", "SNS:DeleteTopic", "SNS:GetTopicAttributes", "SNS:ListSubscriptionsByTopic",
          "SNS:Publish", "SNS:RemovePermission", "SNS:SetTopicAttributes", "SNS:Subscribe",
        ]
        Resource = local.created_topic_arn
      },
      {
        Sid       = "CloudWatchAlarmsPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = "SNS:Publish"
        Resource  = local.created_topic_arn
        Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
      },
      {
        Sid       = "BudgetsPublish"
        Effect    = "Allow"
        Principal = { Service = "budgets.amazonaws.com" }
        Action    = "SNS:Publish"
        Resource  = local.created_topic_arn
        Condition = {
          StringEquals = { "aws:SourceAccount" = var.account_id }
          ArnLike      = { "aws:SourceArn" = var.budgets_source_arn }
        }
      },
    ]
  })
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

# An execution that times out never reaches its own Settle/Release/Record: the sweeper closes its
# reservation once the lease expires, but the timeout itself is worth a look.
resource "aws_cloudwatch_metric_alarm" "executions_timed_out" {
  alarm_name          = "${var.name}-executions-timed-out"
  alarm_description   = "Tollgate ${var.name}: workflow executions timed out (${var.executions_timed_out_threshold} or more in ${var.period_seconds} s). Their reservations are closed by the sweeper when their lease expires; see docs/ledger.md."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsTimedOut"
  dimensions          = { StateMachineArn = var.state_machine_arn }
  statistic           = "Sum"
  period              = var.period_seconds
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.executions_timed_out_threshold
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.evaluation_periods
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic_arn]
  ok_actions          = [local.topic_arn]
  tags                = var.tags
}

# Every reservation the sweeper closes belonged to an execution that died without closing it.
resource "aws_cloudwatch_metric_alarm" "swept_reservations" {
  alarm_name          = "${var.name}-swept-reservations"
  alarm_description   = "Tollgate ${var.name}: the sweeper closed ${var.swept_reservations_threshold} or more reservations whose execution died, in ${var.period_seconds} s. Its log (/aws/lambda/${var.name}-sweeper) names each request."
  namespace           = var.metrics_namespace
  metric_name         = "SweptReservations"
  statistic           = "Sum"
  period              = var.period_seconds
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.swept_reservations_threshold
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.evaluation_periods
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic_arn]
  ok_actions          = [local.topic_arn]
  tags                = var.tags
}
