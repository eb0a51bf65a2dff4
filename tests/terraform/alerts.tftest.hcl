# Threshold alerts (limits[].alert_at): the variable's checks, the LIMIT items, and the rate-limit
# function's right to publish to the alarm topic (and only that topic), with the topic's key.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }
  mock_data "aws_region" {
    defaults = { id = "us-east-1", name = "us-east-1" }
  }
}

override_resource {
  target          = aws_kms_key.this[0]
  override_during = plan
  values          = { arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555", key_id = "11111111-2222-3333-4444-555555555555" }
}

override_resource {
  target          = aws_sfn_state_machine.this
  override_during = plan
  values          = { arn = "arn:aws:states:us-east-1:123456789012:stateMachine:tollgate" }
}

variables {
  lambda_package_path = "tests/terraform/fixtures/lambda.zip"
  models              = { lite = { model_id = "amazon.nova-lite-v1:0" } }
  limits = [
    { name = "sales-usd", scope = { costCenter = "sales" }, window = "month", unit = "usd", limit = 100, alert_at = [0.5, 0.8, 1] },
    { name = "requests", window = "day", unit = "requests", limit = 1000 },
  ]
}

run "alert_at_is_written_into_the_limit_item_only_when_set" {
  command = plan

  assert {
    condition     = [for t in jsondecode(aws_dynamodb_table_item.limit["sales-usd"].item).alertAt.L : tonumber(t.N)] == [0.5, 0.8, 1]
    error_message = "The LIMIT item must carry alertAt as a list of numbers."
  }

  assert {
    condition     = !contains(keys(jsondecode(aws_dynamodb_table_item.limit["requests"].item)), "alertAt")
    error_message = "A limit without alert_at must not get an alertAt attribute."
  }
}

run "rate_limit_publishes_to_the_alarm_topic_only" {
  command = plan

  assert {
    condition = one([
      for s in jsondecode(module.function["rate_limit"].policy).Statement : s if s.Sid == "PublishThresholdAlerts"
    ]) == { Sid = "PublishThresholdAlerts", Effect = "Allow", Action = ["sns:Publish"], Resource = ["arn:aws:sns:us-east-1:123456789012:tollgate-alarms"] }
    error_message = "rate_limit must be allowed sns:Publish on the module's alarm topic, and nothing else in SNS."
  }

  assert {
    condition = one([
      for s in jsondecode(module.function["rate_limit"].policy).Statement : s if s.Sid == "EncryptThresholdAlerts"
    ]) == { Sid = "EncryptThresholdAlerts", Effect = "Allow", Action = ["kms:Decrypt", "kms:GenerateDataKey"], Resource = [aws_kms_key.this[0].arn] }
    error_message = "The created topic is encrypted with the module's key: rate_limit needs kms:GenerateDataKey and kms:Decrypt on that key only."
  }

  # Issue 18: invoke settles the answer itself, and a settle that raises a counter may reach a threshold.
  assert {
    condition = one([
      for s in jsondecode(module.function["invoke"].policy).Statement : s if s.Sid == "PublishThresholdAlerts"
    ]) == { Sid = "PublishThresholdAlerts", Effect = "Allow", Action = ["sns:Publish"], Resource = ["arn:aws:sns:us-east-1:123456789012:tollgate-alarms"] }
    error_message = "invoke (its settle) must be allowed sns:Publish on the module's alarm topic, and nothing else in SNS."
  }

  assert {
    condition = alltrue(flatten([for k, f in module.function : [
      for s in jsondecode(f.policy).Statement : !anytrue([for a in s.Action : startswith(a, "sns:")])
    ] if !contains(["rate_limit", "invoke"], k)]))
    error_message = "Only rate_limit and invoke (the ledger's reserve and settle) may publish alerts."
  }

  assert {
    condition     = local.function_environment.TOLLGATE_ALERT_TOPIC_ARN == "arn:aws:sns:us-east-1:123456789012:tollgate-alarms"
    error_message = "The functions must be told the alert topic."
  }
}

run "a_given_topic_gets_publish_and_no_key_statement" {
  command = plan

  variables {
    alarms = { sns_topic_arn = "arn:aws:sns:us-east-1:123456789012:ops" }
  }

  assert {
    condition = one([
      for s in jsondecode(module.function["rate_limit"].policy).Statement : s.Resource if s.Sid == "PublishThresholdAlerts"
    ]) == ["arn:aws:sns:us-east-1:123456789012:ops"]
    error_message = "Alerts go to the given topic."
  }

  assert {
    condition     = length([for s in jsondecode(module.function["rate_limit"].policy).Statement : s if s.Sid == "EncryptThresholdAlerts"]) == 0
    error_message = "A topic the module did not create is not known to use the module's key."
  }
}

run "no_alert_at_no_sns_access" {
  command = plan

  variables {
    limits = [{ window = "day", unit = "requests", limit = 1000 }]
  }

  assert {
    condition = (
      length([for s in jsondecode(module.function["rate_limit"].policy).Statement : s if startswith(s.Sid, "PublishThreshold") || startswith(s.Sid, "EncryptThreshold")]) == 0 &&
      local.function_environment.TOLLGATE_ALERT_TOPIC_ARN == ""
    )
    error_message = "Without alert_at, rate_limit gets no SNS access and alerts are off."
  }
}

run "alerts_without_alarms_warn_and_stay_off" {
  command         = plan
  expect_failures = [check.alerts_need_a_topic]

  variables {
    alarms = { enabled = false }
  }

  assert {
    condition     = local.function_environment.TOLLGATE_ALERT_TOPIC_ARN == ""
    error_message = "With alarms off there is no topic: alerts are off."
  }
}

run "alert_at_rejects_zero" {
  command = plan
  variables {
    limits = [{ window = "day", unit = "requests", limit = 10, alert_at = [0, 0.5] }]
  }
  expect_failures = [var.limits]
}

run "alert_at_rejects_above_one" {
  command = plan
  variables {
    limits = [{ window = "day", unit = "requests", limit = 10, alert_at = [0.5, 1.2] }]
  }
  expect_failures = [var.limits]
}

run "alert_at_rejects_unsorted" {
  command = plan
  variables {
    limits = [{ window = "day", unit = "requests", limit = 10, alert_at = [0.8, 0.5] }]
  }
  expect_failures = [var.limits]
}

run "alert_at_rejects_repeats" {
  command = plan
  variables {
    limits = [{ window = "day", unit = "requests", limit = 10, alert_at = [0.5, 0.5] }]
  }
  expect_failures = [var.limits]
}

run "the_dashboard_lists_alert_events_from_the_rate_limit_log_group" {
  command = plan

  assert {
    condition = startswith(one([
      for w in jsondecode(module.dashboard[0].dashboard_body).widgets : w.properties.query if w.type == "log" && startswith(try(w.properties.title, ""), "Alert events")
    ]), "SOURCE '/aws/lambda/tollgate-rate-limit' |")
    error_message = "The alert events widget must read the rate-limit function's log group."
  }

  assert {
    condition = strcontains(one([
      for w in jsondecode(module.dashboard[0].dashboard_body).widgets : w.properties.query if w.type == "log" && startswith(try(w.properties.title, ""), "Alert events")
    ]), "filter message = \"Threshold alert sent\"")
    error_message = "The widget must select the alert log lines (tollgate.alerts.SENT_LOG_MESSAGE)."
  }
}

run "no_alert_widget_without_alerts" {
  command = plan

  variables {
    limits = [{ window = "day", unit = "requests", limit = 1000 }]
  }

  assert {
    condition     = length([for w in jsondecode(module.dashboard[0].dashboard_body).widgets : w if startswith(try(w.properties.title, ""), "Alert events")]) == 0
    error_message = "Without alerts there is no alert widget."
  }
}
