# Cost allocation tags and budgets: what is created, what Budgets may publish, and the rules.

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

run "nothing_billing_related_by_default" {
  command = plan

  assert {
    condition     = length(aws_ce_cost_allocation_tag.this) == 0 && length(aws_budgets_budget.this) == 0
    error_message = "Activation is account-wide and payer-only: nothing may be activated or budgeted unless asked."
  }

  assert {
    condition     = module.alarms[0].sns_topic_policy == null && !strcontains(aws_kms_key.this[0].policy, "budgets.amazonaws.com")
    error_message = "Without budgets, neither the topic nor the key may grant anything to budgets.amazonaws.com."
  }
}

run "the_profile_tag_keys_are_activated" {
  command = plan

  variables {
    cost_allocation_tags = { enabled = true }
  }

  assert {
    condition     = toset(keys(aws_ce_cost_allocation_tag.this)) == toset(["costCenter", "applicationId", "environment"])
    error_message = "The default keys are the three tags a request and a profile carry."
  }

  assert {
    condition     = alltrue([for t in values(aws_ce_cost_allocation_tag.this) : t.status == "Active" && t.tag_key != ""])
    error_message = "Every key must be activated."
  }
}

run "a_budget_per_cost_center_filtered_to_the_tag" {
  command = plan

  variables {
    budgets = {
      sales = { amount_usd = 250 }
      team-a = {
        amount_usd          = 40.5
        tag_key             = "applicationId"
        tag_value           = "aws-documentation-helper"
        actual_thresholds   = [90]
        forecast_thresholds = []
        email_addresses     = ["finance@example.com"]
      }
    }
  }

  assert {
    condition     = aws_budgets_budget.this["sales"].name == "tollgate-sales" && aws_budgets_budget.this["sales"].limit_amount == "250" && aws_budgets_budget.this["sales"].time_unit == "MONTHLY" && aws_budgets_budget.this["sales"].budget_type == "COST"
    error_message = "A budget is a monthly USD cost budget named <name>-<key>."
  }

  assert {
    condition = toset([for f in aws_budgets_budget.this["sales"].cost_filter : "${f.name}=${join(",", f.values)}"]) == toset([
      "TagKeyValue=user:costCenter$sales",
    ])
    error_message = "The sales budget must count the spend tagged costCenter = sales, whatever service it bills under (Claude: AWS Marketplace names)."
  }

  assert {
    condition     = [for f in aws_budgets_budget.this["team-a"].cost_filter : join(",", f.values) if f.name == "TagKeyValue"] == ["user:applicationId$aws-documentation-helper"]
    error_message = "tag_key and tag_value choose the cost allocation tag of the filter."
  }

  assert {
    condition = toset([for n in aws_budgets_budget.this["sales"].notification : "${n.notification_type}:${n.threshold}"]) == toset([
      "ACTUAL:50", "ACTUAL:80", "ACTUAL:100", "FORECASTED:100",
    ])
    error_message = "The default notifications are 50, 80, 100 % of actual and 100 % of forecast spend."
  }

  assert {
    condition = alltrue([for n in aws_budgets_budget.this["sales"].notification :
      n.threshold_type == "PERCENTAGE" && n.comparison_operator == "GREATER_THAN" && length(n.subscriber_sns_topic_arns) == 1 && length(n.subscriber_email_addresses) == 0
    ])
    error_message = "Every notification of the sales budget goes to the module's topic."
  }

  assert {
    condition = [for n in aws_budgets_budget.this["team-a"].notification : "${n.notification_type}:${n.threshold}:${join(",", n.subscriber_email_addresses)}"] == [
      "ACTUAL:90:finance@example.com",
    ]
    error_message = "Own thresholds and e-mail addresses replace the defaults."
  }
}

# Issue 11, item 5: an encrypted topic drops Budgets' alerts unless both policies let it publish.
run "budgets_may_publish_to_the_encrypted_topic" {
  command = plan

  variables {
    budgets = { sales = { amount_usd = 100 } }
  }

  assert {
    condition = one([for s in jsondecode(aws_kms_key.this[0].policy).Statement : s if try(s.Principal.Service, "") == "budgets.amazonaws.com"]) == {
      Sid       = "BudgetsPublishToEncryptedTopic"
      Effect    = "Allow"
      Principal = { Service = "budgets.amazonaws.com" }
      Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
      Resource  = "*"
      Condition = {
        StringEquals = { "aws:SourceAccount" = "123456789012" }
        ArnLike      = { "aws:SourceArn" = "arn:aws:budgets::123456789012:*" }
      }
    }
    error_message = "The key policy must let budgets.amazonaws.com, from this account's budgets only, encrypt for the topic."
  }

  assert {
    condition = one([for s in jsondecode(module.alarms[0].sns_topic_policy).Statement : s if try(s.Principal.Service, "") == "budgets.amazonaws.com"]) == {
      Sid       = "BudgetsPublish"
      Effect    = "Allow"
      Principal = { Service = "budgets.amazonaws.com" }
      Action    = "SNS:Publish"
      Resource  = "arn:aws:sns:us-east-1:123456789012:tollgate-alarms"
      Condition = {
        StringEquals = { "aws:SourceAccount" = "123456789012" }
        ArnLike      = { "aws:SourceArn" = "arn:aws:budgets::123456789012:*" }
      }
    }
    error_message = "The topic's access policy must let budgets.amazonaws.com, from this account's budgets only, publish to this topic only."
  }

  assert {
    condition     = length([for s in jsondecode(module.alarms[0].sns_topic_policy).Statement : s if try(s.Principal.Service, "") == "cloudwatch.amazonaws.com" && s.Action == "SNS:Publish"]) == 1
    error_message = "Replacing the default topic policy must keep CloudWatch alarms able to publish."
  }

  assert {
    condition     = one([for s in jsondecode(module.alarms[0].sns_topic_policy).Statement : s.Principal.AWS if can(s.Principal.AWS)]) == "arn:aws:iam::123456789012:root"
    error_message = "The topic's owner statement must name this account, not everyone."
  }
}

run "an_existing_topic_keeps_its_policy" {
  command = plan

  variables {
    alarms  = { sns_topic_arn = "arn:aws:sns:us-east-1:123456789012:platform-alerts" }
    budgets = { sales = { amount_usd = 100 } }
  }

  assert {
    condition     = module.alarms[0].sns_topic_policy == null && alltrue([for n in aws_budgets_budget.this["sales"].notification : n.subscriber_sns_topic_arns == toset(["arn:aws:sns:us-east-1:123456789012:platform-alerts"])])
    error_message = "A given topic is notified, and its policy is left to its owner."
  }
}

# --- the rules --------------------------------------------------------------------------------

run "cost_allocation_tags_rejects_an_aws_key" {
  command = plan
  variables { cost_allocation_tags = { enabled = true, keys = ["aws:createdBy"] } }
  expect_failures = [var.cost_allocation_tags]
}

run "cost_allocation_tags_rejects_a_repeated_key" {
  command = plan
  variables { cost_allocation_tags = { keys = ["costCenter", "costCenter"] } }
  expect_failures = [var.cost_allocation_tags]
}

run "cost_allocation_tags_rejects_enabled_without_keys" {
  command = plan
  variables { cost_allocation_tags = { enabled = true, keys = [] } }
  expect_failures = [var.cost_allocation_tags]
}

run "budgets_rejects_a_bad_key" {
  command = plan
  variables { budgets = { "sales team" = { amount_usd = 10 } } }
  expect_failures = [var.budgets]
}

run "budgets_rejects_a_budget_name_over_100_characters" {
  command = plan
  variables {
    name    = "a123456789b123456789c123456789d123456789"
    budgets = { "${join("", [for i in range(60) : "x"])}" = { amount_usd = 10 } }
  }
  expect_failures = [aws_budgets_budget.this]
}

run "budgets_rejects_a_zero_amount" {
  command = plan
  variables { budgets = { sales = { amount_usd = 0 } } }
  expect_failures = [var.budgets]
}

run "budgets_rejects_an_aws_tag_key" {
  command = plan
  variables { budgets = { sales = { amount_usd = 10, tag_key = "aws:createdBy" } } }
  expect_failures = [var.budgets]
}

run "budgets_rejects_a_dollar_in_the_tag_value" {
  command = plan
  variables { budgets = { sales = { amount_usd = 10, tag_value = "a$b" } } }
  expect_failures = [var.budgets]
}

run "budgets_rejects_a_threshold_of_zero" {
  command = plan
  variables { budgets = { sales = { amount_usd = 10, actual_thresholds = [0, 50] } } }
  expect_failures = [var.budgets]
}

run "budgets_rejects_a_repeated_threshold" {
  command = plan
  variables { budgets = { sales = { amount_usd = 10, actual_thresholds = [80, 80] } } }
  expect_failures = [var.budgets]
}

run "budgets_rejects_no_notification" {
  command = plan
  variables { budgets = { sales = { amount_usd = 10, actual_thresholds = [], forecast_thresholds = [] } } }
  expect_failures = [var.budgets]
}

run "budgets_rejects_more_than_ten_notifications" {
  command = plan
  variables { budgets = { sales = { amount_usd = 10, actual_thresholds = [10, 20, 30, 40, 50, 60, 70, 80, 90], forecast_thresholds = [100, 110] } } }
  expect_failures = [var.budgets]
}

run "budgets_rejects_a_bad_email_address" {
  command = plan
  variables { budgets = { sales = { amount_usd = 10, email_addresses = ["finance"] } } }
  expect_failures = [var.budgets]
}

run "services_narrow_a_budget_to_those_service_names" {
  command = plan
  variables {
    budgets = { sales = { amount_usd = 10, services = ["Amazon Bedrock", "Claude 3 Haiku (Amazon Bedrock Edition)"] } }
  }

  assert {
    condition = toset([for f in aws_budgets_budget.this["sales"].cost_filter : "${f.name}=${join(",", f.values)}"]) == toset([
      "Service=Amazon Bedrock,Claude 3 Haiku (Amazon Bedrock Edition)", "TagKeyValue=user:costCenter$sales",
    ])
    error_message = "Given services, the budget also filters on those service names."
  }
}

run "budgets_rejects_no_service" {
  command = plan
  variables { budgets = { sales = { amount_usd = 10, services = [] } } }
  expect_failures = [var.budgets]
}

run "budgets_need_a_subscriber_without_alarms" {
  command = plan
  variables {
    alarms  = { enabled = false }
    budgets = { sales = { amount_usd = 10 } }
  }
  expect_failures = [aws_budgets_budget.this]
}
