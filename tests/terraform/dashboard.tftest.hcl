# The dashboard body is valid JSON, reads the configured namespace, charts every routed model
# and profile in AWS/Bedrock, and shows which limit and model denied requests.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }
  mock_data "aws_region" {
    defaults = { id = "eu-west-1", name = "eu-west-1" }
  }
}

override_resource {
  target          = aws_sfn_state_machine.this
  override_during = plan
  values          = { arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:budget" }
}

override_resource {
  target          = module.inference_profiles.aws_bedrock_inference_profile.this["sales"]
  override_during = plan
  values          = { arn = "arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/sales0000001" }
}

variables {
  lambda_package_path = "tests/terraform/fixtures/lambda.zip"
  name                = "budget"
  metrics_namespace   = "Acme/GenAI-Budget"
  models = {
    haiku = { model_id = "eu.anthropic.claude-haiku-4-5-20251001-v1:0" }
    lite  = { model_id = "amazon.nova-lite-v1:0" }
  }
  inference_profiles = {
    sales = { model = "haiku", tags = { costCenter = "sales" } }
  }
}

run "dashboard_body_is_json_and_uses_the_namespace" {
  command = plan

  assert {
    condition     = can(jsondecode(module.dashboard[0].dashboard_body).widgets)
    error_message = "The dashboard body must be valid JSON with widgets."
  }

  assert {
    condition     = output.dashboard_name == "budget"
    error_message = "The dashboard must be named after the module."
  }

  assert {
    condition = alltrue(flatten([for w in jsondecode(module.dashboard[0].dashboard_body).widgets : [
      for m in w.properties.metrics : strcontains(m[0].expression, "\"Acme/GenAI-Budget\"") if can(m[0].expression)
    ] if w.type == "metric"]))
    error_message = "Every expression must read the configured namespace."
  }

  assert {
    condition     = !strcontains(module.dashboard[0].dashboard_body, "GenAIRateLimiting")
    error_message = "The default namespace must not appear when another is configured."
  }

  assert {
    condition = alltrue([for m in ["TotalRequests", "RateLimitApproved", "RateLimitDenied", "InvocationFailed", "InputTokens", "OutputTokens", "EstimatedCostUSD"] :
      strcontains(module.dashboard[0].dashboard_body, m)
    ])
    error_message = "The dashboard must chart every Tollgate metric."
  }

  assert {
    condition = alltrue([for d in ["Model", "CostCenter", "Application", "Environment"] :
      strcontains(module.dashboard[0].dashboard_body, "GROUP BY ${d}")
    ])
    error_message = "Tokens and cost must be broken down by model, cost center, application and environment."
  }

  assert {
    condition = alltrue([for w in jsondecode(module.dashboard[0].dashboard_body).widgets :
      w.x >= 0 && w.y >= 0 && w.width >= 1 && w.x + w.width <= 24 && w.height >= 1 if w.type != "text"
    ])
    error_message = "Every widget must fit the 24-column grid."
  }
}

run "dashboard_charts_bedrock_for_every_route_and_profile" {
  command = plan

  assert {
    condition = alltrue([for w in jsondecode(module.dashboard[0].dashboard_body).widgets :
      toset([for m in w.properties.metrics : m[3]]) == toset(["eu.anthropic.claude-haiku-4-5-20251001-v1:0", "amazon.nova-lite-v1:0", "sales0000001"])
      if w.type == "metric" && strcontains(try(w.properties.title, ""), "Bedrock")
    ])
    error_message = "Every AWS/Bedrock widget must chart each routed model ID and each profile's unique ID."
  }

  assert {
    condition = toset(flatten([for w in jsondecode(module.dashboard[0].dashboard_body).widgets : [for m in w.properties.metrics : m[1]]
      if w.type == "metric" && strcontains(try(w.properties.title, ""), "Bedrock")])) == toset([
      "Invocations", "InvocationLatency", "InputTokenCount", "OutputTokenCount", "InvocationThrottles", "InvocationClientErrors", "InvocationServerErrors",
    ])
    error_message = "The AWS/Bedrock built-in metrics must all be charted."
  }

  assert {
    condition = toset(flatten([for w in jsondecode(module.dashboard[0].dashboard_body).widgets : [for m in w.properties.metrics : "${m[1]}=${m[3]}"]
      if w.type == "metric" && strcontains(try(w.properties.title, ""), "Workflow")])) == toset([
      for m in ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionTime"] : "${m}=arn:aws:states:eu-west-1:123456789012:stateMachine:budget"
    ])
    error_message = "The state machine widgets must chart its executions and execution time."
  }

  assert {
    condition = one([for w in jsondecode(module.dashboard[0].dashboard_body).widgets : w.properties.query if w.type == "log"]) != null && startswith(
      one([for w in jsondecode(module.dashboard[0].dashboard_body).widgets : w.properties.query if w.type == "log"]),
      "SOURCE '/aws/lambda/budget-record-metrics'"
    )
    error_message = "The Logs Insights widget must read the record-metrics log group."
  }

  assert {
    condition = alltrue([for f in ["limitId", "route", "modelId", "outcome = \"denied\""] :
      strcontains(one([for w in jsondecode(module.dashboard[0].dashboard_body).widgets : w.properties.query if w.type == "log"]), f)
    ])
    error_message = "The Logs Insights widget must show denials by limit and model."
  }

  assert {
    condition     = alltrue([for w in jsondecode(module.dashboard[0].dashboard_body).widgets : w.properties.region == "eu-west-1" if w.type != "text"])
    error_message = "Every widget must read the module's Region."
  }
}

run "no_dashboard_when_turned_off" {
  command = plan

  variables {
    create_dashboard = false
  }

  assert {
    condition     = length(module.dashboard) == 0 && output.dashboard_name == null
    error_message = "create_dashboard = false must create no dashboard."
  }
}

run "spend_per_cost_center_against_budget_and_limit" {
  command = plan

  variables {
    budgets = { sales = { amount_usd = 250 }, ops = { amount_usd = 40, tag_value = "operations" } }
    limits = [
      { scope = { costCenter = "sales" }, window = "month", unit = "usd", limit = 200 },
      { scope = { costCenter = "sales" }, window = "day", unit = "usd", limit = 20 },
      { scope = { costCenter = "support" }, window = "month", unit = "usd", limit = 75, name = "support-monthly" },
    ]
  }

  assert {
    condition = {
      for w in jsondecode(module.dashboard[0].dashboard_body).widgets : w.properties.title => [for a in w.properties.annotations.horizontal : "${a.label}=${a.value}"]
      if startswith(try(w.properties.title, ""), "Spend of ")
      } == {
      "Spend of operations against budget and limit (USD)" = ["monthly budget=40"]
      "Spend of sales against budget and limit (USD)"      = ["monthly budget=250", "monthly limit=200"]
      "Spend of support against budget and limit (USD)"    = ["monthly limit=75"]
    }
    error_message = "Each cost center with a budget or a monthly USD limit gets a widget with its lines (daily limits are not monthly lines)."
  }

  assert {
    condition = alltrue([for w in jsondecode(module.dashboard[0].dashboard_body).widgets :
      jsonencode(w.properties.metrics[0]) == jsonencode(["Acme/GenAI-Budget", "EstimatedCostUSD", "CostCenter", regex("^Spend of (.*) against", w.properties.title)[0], { id = "m1", stat = "Sum", visible = false }])
      && w.properties.metrics[1][0].expression == "RUNNING_SUM(m1)"
      if startswith(try(w.properties.title, ""), "Spend of ")
    ])
    error_message = "The widgets read the one aggregate series EstimatedCostUSD{CostCenter} per cost center (no SEARCH), accumulated."
  }
}

run "dashboard_reads_only_aggregate_series" {
  command = plan

  assert {
    condition     = !strcontains(module.dashboard[0].dashboard_body, "SEARCH(")
    error_message = "No SEARCH: it sees at most 500 series, and the five-dimension space grows with every application."
  }

  assert {
    condition = alltrue(flatten([for w in jsondecode(module.dashboard[0].dashboard_body).widgets : [
      for m in w.properties.metrics : can(regex("FROM SCHEMA\\(\"[^\"]+\", (Model|CostCenter|Application|Environment)\\) ", m[0].expression)) if can(m[0].expression)
    ] if w.type == "metric"]))
    error_message = "Every Metrics Insights query must read the series of one dimension alone (an aggregate set)."
  }

  assert {
    condition = alltrue(flatten([for w in jsondecode(module.dashboard[0].dashboard_body).widgets : [
      for m in w.properties.metrics : length(m) == 3 if !can(m[0].expression) && m[0] == var.metrics_namespace
    ] if w.type == "metric"]))
    error_message = "A Tollgate metric charted directly must be its total series: namespace, name, options, no dimensions."
  }
}
