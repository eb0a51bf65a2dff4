# Alarms on denials, invocation failures and failed executions, to an SNS topic.

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

variables {
  lambda_package_path = "tests/terraform/fixtures/lambda.zip"
}

run "alarms_to_a_created_topic" {
  command = plan

  variables {
    metrics_namespace = "Acme/GenAI"
    alarms            = { email_addresses = ["platform@example.com"], denied_threshold = 25 }
  }

  assert {
    condition = module.alarms[0].alarm_names == {
      denied               = "tollgate-denied"
      invocation_failed    = "tollgate-invocation-failed"
      executions_failed    = "tollgate-executions-failed"
      executions_timed_out = "tollgate-executions-timed-out"
      swept_reservations   = "tollgate-swept-reservations"
    }
    error_message = "There must be alarms on denials, invocation failures, failed and timed-out executions and sweeper actions."
  }
}

run "alarms_can_be_turned_off" {
  command = plan

  variables {
    alarms = { enabled = false }
  }

  assert {
    condition     = length(module.alarms) == 0 && output.sns_topic_arn == null && output.alarm_names == {}
    error_message = "alarms.enabled = false must create no alarm and no topic."
  }
}

run "an_existing_topic_is_used_as_given" {
  command = plan

  variables {
    alarms = { sns_topic_arn = "arn:aws:sns:us-east-1:123456789012:platform-alerts" }
  }

  assert {
    condition     = output.sns_topic_arn == "arn:aws:sns:us-east-1:123456789012:platform-alerts"
    error_message = "A given topic must be used and none created."
  }
}

run "alarms_read_the_total_series" {
  command = plan

  variables {
    metrics_namespace = "Acme/GenAI"
  }

  assert {
    condition = (
      { for k, a in module.alarms[0].alarm_metrics : k => a.metric_name } == { denied = "RateLimitDenied", invocation_failed = "InvocationFailed" } &&
      alltrue([for a in values(module.alarms[0].alarm_metrics) : a.namespace == "Acme/GenAI" && length(coalesce(a.dimensions, {})) == 0 && a.statistic == "Sum"])
    )
    error_message = "The denial and failure alarms must sum the metric's total series (no dimensions), not a query over the five-dimension space."
  }
}
