# IAM: one least-privilege role per function and one for the state machine. No statement has
# a "*" action; Resource "*" appears only where the action has no resource type (X-Ray writes,
# CloudWatch Logs delivery, PutMetricData with its namespace condition); the invoke role names
# exactly the configured models and profiles.

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
  target          = module.inference_profiles.aws_bedrock_inference_profile.this["sales"]
  override_during = plan
  values          = { arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/sales0000001" }
}

override_resource {
  target          = module.inference_profiles.aws_bedrock_inference_profile.this["services"]
  override_during = plan
  values          = { arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/services0002" }
}

override_resource {
  target          = module.inference_profiles.aws_bedrock_inference_profile.this["support"]
  override_during = plan
  values          = { arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/support00003" }
}

variables {
  lambda_package_path = "tests/terraform/fixtures/lambda.zip"
  inference_profiles = {
    # an alias, a foundation-model ARN, a system (cross-region) profile ARN
    sales    = { model = "claude-haiku-4-5", tags = { costCenter = "sales" } }
    services = { model = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0", tags = { costCenter = "services" } }
    support  = { model = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0", tags = { costCenter = "support" } }
  }
}

run "no_wildcard_actions_and_wildcard_resources_only_where_required" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for doc in concat([for f in values(module.function) : f.policy], [aws_iam_role_policy.state_machine.policy, aws_kms_key.this[0].policy]) : [
        for s in jsondecode(doc).Statement : [for a in flatten([s.Action]) : a != "*" && !endswith(a, ":*")]
      ]
    ]))
    error_message = "No IAM or key policy statement may allow \"*\" or \"<service>:*\"."
  }

  assert {
    condition = alltrue(flatten([
      for doc in concat([for f in values(module.function) : f.policy], [aws_iam_role_policy.state_machine.policy]) : [
        for s in jsondecode(doc).Statement : contains(["WriteTraces", "DeliverExecutionLogs", "PutTollgateMetrics"], s.Sid) if contains(flatten([s.Resource]), "*")
      ]
    ]))
    error_message = "Resource \"*\" is allowed only for X-Ray writes, CloudWatch Logs delivery and PutMetricData."
  }

  assert {
    condition = alltrue(flatten([
      for doc in concat([for f in values(module.function) : f.policy], [aws_iam_role_policy.state_machine.policy]) : [
        for s in jsondecode(doc).Statement : s.Effect == "Allow" && can(regex("^[A-Za-z0-9]+$", s.Sid))
      ]
    ]))
    error_message = "Every statement must be an Allow with an alphanumeric Sid."
  }

  assert {
    condition = alltrue([for s in jsondecode(aws_kms_key.this[0].policy).Statement :
      !contains(values(s.Principal), "*")
    ])
    error_message = "The key policy must not name a \"*\" principal."
  }
}

run "invoke_may_call_exactly_the_routed_models_and_profiles" {
  command = plan

  assert {
    condition = toset(one([for s in jsondecode(module.function["invoke"].policy).Statement : s.Resource if s.Sid == "InvokeRoutedModels"])) == toset([
      # the catalogue's default aliases
      "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
      "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0",
      "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
      "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0",
      "arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
      # what the profiles copy is already allowed: through its alias, or as an alias's model
      # the application profiles
      "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/sales0000001",
      "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/services0002",
      "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/support00003",
    ])
    error_message = "The invoke role must name exactly the routed model, system profile and application profile ARNs."
  }

  assert {
    condition     = one([for s in jsondecode(module.function["invoke"].policy).Statement : s.Action if s.Sid == "InvokeRoutedModels"]) == ["bedrock:InvokeModel"]
    error_message = "The invoke role may only call bedrock:InvokeModel (Converse)."
  }

  assert {
    condition = one([for s in jsondecode(module.function["invoke"].policy).Statement : s if s.Sid == "MarkReservationInvoking"]) == {
      Sid       = "MarkReservationInvoking", Effect = "Allow", Action = ["dynamodb:GetItem", "dynamodb:UpdateItem"],
      Resource  = ["arn:aws:dynamodb:us-east-1:123456789012:table/tollgate-limits"],
      Condition = { "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["REQUEST#*"] } }
    }
    error_message = "The invoke role may only read and update reservations (the invoking mark)."
  }

  assert {
    condition = one([for s in jsondecode(module.function["invoke"].policy).Statement : s if s.Sid == "SettleCounters"]) == {
      Sid       = "SettleCounters", Effect = "Allow", Action = ["dynamodb:UpdateItem"],
      Resource  = ["arn:aws:dynamodb:us-east-1:123456789012:table/tollgate-limits"],
      Condition = { "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["COUNTER#*"] } }
    }
    error_message = "The invoke role's settle may only update counter items (no alerts here: no reads)."
  }

  assert {
    condition     = !strcontains(module.function["invoke"].policy, "cloudwatch:")
    error_message = "The invoke role must not touch CloudWatch metrics."
  }
}

run "invoke_policy_follows_custom_models" {
  command = plan

  variables {
    models = {
      nova   = { model_id = "amazon.nova-pro-v1:0" }
      global = { model_id = "global.anthropic.claude-haiku-4-5-20251001-v1:0" }
    }
    inference_profiles = {}
  }

  assert {
    condition = toset(one([for s in jsondecode(module.function["invoke"].policy).Statement : s.Resource if s.Sid == "InvokeRoutedModels"])) == toset([
      "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
      "arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.anthropic.claude-haiku-4-5-20251001-v1:0",
      "arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
      "arn:aws:bedrock:::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
    ])
    error_message = "A global profile needs its model in every Region and the Region-less model ARN; nothing else may be named."
  }
}

run "table_access_is_scoped_to_the_table" {
  command = plan

  assert {
    condition = one([for s in jsondecode(module.function["validate"].policy).Statement : s if s.Sid == "ReadRoutes"]) == {
      Sid      = "ReadRoutes", Effect = "Allow", Action = ["dynamodb:GetItem", "dynamodb:Query"],
      Resource = ["arn:aws:dynamodb:us-east-1:123456789012:table/tollgate-limits"]
    }
    error_message = "validate may only read (GetItem, Query) the table."
  }

  assert {
    condition = toset(one([for s in jsondecode(module.function["rate_limit"].policy).Statement : s.Action if s.Sid == "ReadLimitsWriteCounters"])) == toset([
      "dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem",
    ])
    error_message = "rate_limit may only read and conditionally write items."
  }

  assert {
    condition     = one([for s in jsondecode(module.function["rate_limit"].policy).Statement : s.Resource if s.Sid == "ReadLimitsWriteCounters"]) == ["arn:aws:dynamodb:us-east-1:123456789012:table/tollgate-limits"]
    error_message = "rate_limit's table access must name only the table."
  }

  assert {
    condition = alltrue([for k, f in module.function : one([for s in jsondecode(f.policy).Statement : s.Resource if s.Sid == "WriteOwnLogs"]) == [
      "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/${local.function_names[k]}:*"
    ]])
    error_message = "Each function may write only to its own log group."
  }

  assert {
    condition = alltrue(flatten([for f in values(module.function) : [
      for s in jsondecode(f.policy).Statement : s.Resource == ["arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"] if startswith(s.Action[0], "kms:")
    ]]))
    error_message = "KMS permissions must name only the module's key."
  }

  assert {
    condition = one([for s in jsondecode(module.function["record_metrics"].policy).Statement : s if s.Sid == "ClaimRecordMark"]) == {
      Sid       = "ClaimRecordMark", Effect = "Allow", Action = ["dynamodb:PutItem"],
      Resource  = ["arn:aws:dynamodb:us-east-1:123456789012:table/tollgate-limits"],
      Condition = { "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["arn:aws:states:*"] } }
    }
    error_message = "record_metrics may only put its record marks (keyed by execution ARN) in the table."
  }

  assert {
    condition     = !strcontains(module.function["record_metrics"].policy, "bedrock:") && !strcontains(module.function["sweeper"].policy, "bedrock:")
    error_message = "record_metrics and the sweeper must not touch Bedrock."
  }

  assert {
    condition = (
      one([for s in jsondecode(module.function["sweeper"].policy).Statement : s.Resource if s.Sid == "FindExpiredLeases"]) == ["arn:aws:dynamodb:us-east-1:123456789012:table/tollgate-limits/index/leases"] &&
      toset(one([for s in jsondecode(module.function["sweeper"].policy).Statement : s.Action if s.Sid == "CloseReservations"])) == toset(["dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:UpdateItem"])
    )
    error_message = "The sweeper may query only the lease index and only read and update items."
  }
}

run "put_metric_data_only_for_the_cloudwatch_api_sink" {
  command = plan

  assert {
    condition     = !strcontains(module.function["record_metrics"].policy, "cloudwatch:PutMetricData")
    error_message = "With the EMF sink, record_metrics needs no PutMetricData."
  }
}

run "put_metric_data_is_limited_to_the_namespace" {
  command = plan

  variables {
    metrics_sink      = "cloudwatch_api"
    metrics_namespace = "Acme/GenAI"
  }

  assert {
    condition = one([for s in jsondecode(module.function["record_metrics"].policy).Statement : s if s.Sid == "PutTollgateMetrics"]) == {
      Sid       = "PutTollgateMetrics", Effect = "Allow", Action = ["cloudwatch:PutMetricData"], Resource = ["*"],
      Condition = { StringEquals = { "cloudwatch:namespace" = ["Acme/GenAI"] } }
    }
    error_message = "PutMetricData must be conditioned on the configured namespace."
  }
}

run "no_tracing_no_key_no_wildcard_resource" {
  command = plan

  variables {
    tracing_enabled = false
    create_kms_key  = false
  }

  assert {
    condition = alltrue(flatten([for f in values(module.function) : [
      for s in jsondecode(f.policy).Statement : !contains(s.Resource, "*") && !startswith(s.Action[0], "xray:") && !startswith(s.Action[0], "kms:")
    ]]))
    error_message = "Without tracing and without a key, no function statement may have Resource \"*\", X-Ray or KMS actions."
  }

  assert {
    condition     = !strcontains(aws_iam_role_policy.state_machine.policy, "xray:")
    error_message = "Without tracing, the state machine role needs no X-Ray."
  }

  assert {
    condition     = length(aws_kms_key.this) == 0 && aws_dynamodb_table.this.server_side_encryption[0].enabled
    error_message = "create_kms_key = false creates no key; the table stays encrypted (AWS managed key)."
  }
}

run "state_machine_role_invokes_only_the_four_functions" {
  command = plan

  assert {
    condition = toset(one([for s in jsondecode(aws_iam_role_policy.state_machine.policy).Statement : s.Resource if s.Sid == "InvokeTollgateFunctions"])) == toset(flatten([
      for n in ["validate", "rate-limit", "invoke", "record-metrics"] : [
        "arn:aws:lambda:us-east-1:123456789012:function:tollgate-${n}",
        "arn:aws:lambda:us-east-1:123456789012:function:tollgate-${n}:*",
      ]
    ]))
    error_message = "The state machine may invoke only the four functions (and their versions)."
  }

  assert {
    condition = jsondecode(aws_iam_role.state_machine.assume_role_policy).Statement[0].Condition == {
      StringEquals = { "aws:SourceAccount" = "123456789012" }
      ArnLike = { "aws:SourceArn" = [
        "arn:aws:states:us-east-1:123456789012:stateMachine:tollgate",
        "arn:aws:states:us-east-1:123456789012:execution:tollgate:*",
        "arn:aws:states:us-east-1:123456789012:express:tollgate:*",
      ] }
    }
    error_message = "Only this state machine may assume its role."
  }
}

run "a_customer_key_is_used_everywhere" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/99999999-8888-7777-6666-555555555555"
  }

  assert {
    condition = (
      length(aws_kms_key.this) == 0 &&
      aws_dynamodb_table.this.server_side_encryption[0].kms_key_arn == var.kms_key_arn &&
      aws_cloudwatch_log_group.state_machine.kms_key_id == var.kms_key_arn
    )
    error_message = "A given kms_key_arn must encrypt the table and the log groups, and no key may be created."
  }

  assert {
    condition = alltrue(flatten([for f in values(module.function) : [
      for s in jsondecode(f.policy).Statement : s.Resource == [var.kms_key_arn] if startswith(s.Action[0], "kms:")
    ]]))
    error_message = "KMS permissions must name only the given key."
  }
}

run "validate_has_no_bedrock_access_unless_it_counts_tokens" {
  command = plan

  assert {
    condition     = length([for s in jsondecode(module.function["validate"].policy).Statement : s if s.Sid == "CountInputTokens"]) == 0
    error_message = "With the default input_token_estimate, validate must not call Bedrock."
  }
}

run "count_tokens_is_granted_on_the_anthropic_foundation_models_only" {
  command = plan

  variables {
    input_token_estimate = "count_tokens"
    inference_profiles = {
      sales = { model = "claude-haiku-4-5", tags = { costCenter = "sales" } }
      nova  = { model = "nova-lite", tags = { costCenter = "services" } }
    }
  }

  assert {
    condition     = one([for s in jsondecode(module.function["validate"].policy).Statement : s.Action if s.Sid == "CountInputTokens"]) == ["bedrock:CountTokens"]
    error_message = "The CountInputTokens statement must allow bedrock:CountTokens only."
  }

  assert {
    condition = toset(one([for s in jsondecode(module.function["validate"].policy).Statement : s.Resource if s.Sid == "CountInputTokens"])) == toset([
      "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
    ])
    error_message = "validate may count tokens only on the foundation models of the Anthropic routes, in this Region."
  }
}
