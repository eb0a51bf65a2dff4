# The Tollgate dashboard: outcomes, tokens and cost by model / cost center / application /
# environment, the limits that were hit, Amazon Bedrock's own metrics, the workflow and the
# functions. It reads only Tollgate's aggregate series (docs/metrics.md): totals are the series
# with no dimensions, and per-dimension views query the series that carry that one dimension, so
# no view depends on how many five-dimension combinations exist (SEARCH and Metrics Insights see
# at most 500 series).

locals {
  ns     = var.metrics_namespace
  period = var.period_seconds
  # The series that carry exactly one dimension: one per model, cost center, ...
  schema = { for d in ["Model", "CostCenter", "Application", "Environment"] : d => "SCHEMA(\"${local.ns}\", ${d})" }

  # A metric's total: its series with no dimensions.
  total = { for m in ["TotalRequests", "RateLimitApproved", "RateLimitDenied", "InvocationFailed", "InputTokens", "OutputTokens", "EstimatedCostUSD"] :
    m => [local.ns, m, { stat = "Sum", label = m }]
  }

  dimensions = [
    { key = "Model", label = "model" },
    { key = "CostCenter", label = "cost center" },
    { key = "Application", label = "application" },
    { key = "Environment", label = "environment" },
  ]
  per_dimension = [
    { metric = "InputTokens", fn = "SUM", title = "Input tokens" },
    { metric = "OutputTokens", fn = "SUM", title = "Output tokens" },
    { metric = "EstimatedCostUSD", fn = "SUM", title = "Estimated cost (USD)" },
  ]

  # Metrics Insights widgets: tokens and cost by each dimension, then the limits that were hit.
  insights_widgets = concat(
    flatten([
      for i, d in local.dimensions : [
        for j, m in local.per_dimension : {
          x       = 8 * j
          y       = 8 + 6 * i
          title   = "${m.title} by ${d.label}"
          query   = "SELECT ${m.fn}(${m.metric}) FROM ${local.schema[d.key]} GROUP BY ${d.key} ORDER BY ${m.fn}() DESC LIMIT 20"
          stacked = true
        }
      ]
    ]),
    [
      { x = 0, y = 32, title = "Denials by model (limit hit)", query = "SELECT SUM(RateLimitDenied) FROM ${local.schema.Model} GROUP BY Model ORDER BY SUM() DESC LIMIT 20", stacked = true },
      { x = 0, y = 38, title = "Denials by cost center", query = "SELECT SUM(RateLimitDenied) FROM ${local.schema.CostCenter} GROUP BY CostCenter ORDER BY SUM() DESC LIMIT 20", stacked = true },
      { x = 8, y = 38, title = "Invocation failures by model", query = "SELECT SUM(InvocationFailed) FROM ${local.schema.Model} GROUP BY Model ORDER BY SUM() DESC LIMIT 20", stacked = true },
      { x = 16, y = 38, title = "Invocation latency by model (ms, average)", query = "SELECT AVG(InvocationLatency) FROM ${local.schema.Model} GROUP BY Model ORDER BY AVG() DESC LIMIT 20", stacked = false },
    ],
  )

  bedrock_metrics = [
    { name = "Invocations", stat = "Sum" },
    { name = "InvocationLatency", stat = "Average" },
    { name = "InputTokenCount", stat = "Sum" },
    { name = "OutputTokenCount", stat = "Sum" },
    { name = "InvocationThrottles", stat = "Sum" },
    { name = "InvocationClientErrors", stat = "Sum" },
    { name = "InvocationServerErrors", stat = "Sum" },
  ]

  widgets = concat(
    [
      {
        type   = "text"
        x      = 0
        y      = 0
        width  = 24
        height = 2
        properties = {
          markdown = "# Tollgate `${var.dashboard_name}`\nEvery Bedrock call through the state machine: outcomes, then tokens and estimated cost by model, cost center, application and environment (namespace `${local.ns}`), the limits that were hit, Amazon Bedrock's own metrics, the workflow and its functions."
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 2
        width  = 16
        height = 6
        properties = {
          title   = "Outcomes"
          region  = var.region
          view    = "timeSeries"
          period  = local.period
          metrics = [for m in ["TotalRequests", "RateLimitApproved", "RateLimitDenied", "InvocationFailed"] : local.total[m]]
        }
      },
      {
        type   = "metric"
        x      = 16
        y      = 2
        width  = 8
        height = 6
        properties = {
          title                = "Totals over the time range"
          region               = var.region
          view                 = "singleValue"
          period               = local.period
          setPeriodToTimeRange = true
          metrics              = [for m in ["TotalRequests", "RateLimitDenied", "InvocationFailed", "InputTokens", "OutputTokens", "EstimatedCostUSD"] : local.total[m]]
        }
      },
    ],
    [for w in local.insights_widgets : {
      type   = "metric"
      x      = w.x
      y      = w.y
      width  = 8
      height = 6
      properties = {
        title   = w.title
        region  = var.region
        view    = "timeSeries"
        stacked = w.stacked
        period  = local.period
        metrics = [[{ expression = w.query, label = "", id = "q1" }]]
      }
    }],
    [
      {
        type   = "log"
        x      = 8
        y      = 32
        width  = 16
        height = 6
        properties = {
          title  = "Denials by limit and model"
          region = var.region
          view   = "table"
          query  = "SOURCE '${var.record_metrics_log_group_name}' | fields @timestamp, limitId, reason, route, modelId | filter outcome = \"denied\" | stats count(*) as denials, latest(@timestamp) as lastDenied by limitId, reason, route, modelId | sort denials desc | limit 50"
        }
      },
    ],
    # Amazon Bedrock's own metrics for every routed model and profile. An application profile
    # reports under its unique ID (the last segment of its ARN).
    length(var.bedrock_model_ids) == 0 ? [] : [for i, m in local.bedrock_metrics : {
      type   = "metric"
      x      = 8 * (i % 3)
      y      = 44 + 6 * floor(i / 3)
      width  = 8
      height = 6
      properties = {
        title   = "Bedrock ${m.name} (${m.stat})"
        region  = var.region
        view    = "timeSeries"
        stat    = m.stat
        period  = local.period
        metrics = [for id in var.bedrock_model_ids : ["AWS/Bedrock", m.name, "ModelId", id, { label = id }]]
      }
    }],
    [
      {
        type   = "metric"
        x      = 8
        y      = 56
        width  = 8
        height = 6
        properties = {
          title  = "Workflow executions"
          region = var.region
          view   = "timeSeries"
          stat   = "Sum"
          period = local.period
          metrics = [for m in ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut"] :
            ["AWS/States", m, "StateMachineArn", var.state_machine_arn, { label = m }]
          ]
        }
      },
      {
        type   = "metric"
        x      = 16
        y      = 56
        width  = 8
        height = 6
        properties = {
          title  = "Workflow execution time (ms)"
          region = var.region
          view   = "timeSeries"
          period = local.period
          metrics = [for s in ["Average", "p99"] :
            ["AWS/States", "ExecutionTime", "StateMachineArn", var.state_machine_arn, { stat = s, label = s }]
          ]
        }
      },
    ],
    [for i, m in [
      { name = "Errors", stat = "Sum" },
      { name = "Throttles", stat = "Sum" },
      { name = "Duration", stat = "p99" },
      ] : {
      type   = "metric"
      x      = 8 * i
      y      = 62
      width  = 8
      height = 6
      properties = {
        title   = "Functions: ${m.name} (${m.stat})"
        region  = var.region
        view    = "timeSeries"
        stat    = m.stat
        period  = local.period
        metrics = [for k in sort(keys(var.function_names)) : ["AWS/Lambda", m.name, "FunctionName", var.function_names[k], { label = k }]]
      }
    }],
  )

  body = jsonencode({ widgets = concat(local.widgets, local.budget_widgets, local.alert_widgets) })
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.dashboard_name
  dashboard_body = local.body
}
