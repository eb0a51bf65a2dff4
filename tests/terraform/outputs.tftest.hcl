# The outputs have the documented names and values.

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
  target          = aws_sfn_state_machine.this
  override_during = plan
  values          = { arn = "arn:aws:states:us-east-1:123456789012:stateMachine:tollgate" }
}

override_resource {
  target          = aws_dynamodb_table.this
  override_during = plan
  values          = { arn = "arn:aws:dynamodb:us-east-1:123456789012:table/tollgate-limits" }
}

override_resource {
  target          = aws_kms_key.this[0]
  override_during = plan
  values          = { arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555", key_id = "11111111-2222-3333-4444-555555555555" }
}

override_resource {
  target          = module.function["validate"].aws_lambda_function.this
  override_during = plan
  values          = { arn = "arn:aws:lambda:us-east-1:123456789012:function:tollgate-validate" }
}

override_resource {
  target          = module.function["rate_limit"].aws_lambda_function.this
  override_during = plan
  values          = { arn = "arn:aws:lambda:us-east-1:123456789012:function:tollgate-rate-limit" }
}

override_resource {
  target          = module.function["invoke"].aws_lambda_function.this
  override_during = plan
  values          = { arn = "arn:aws:lambda:us-east-1:123456789012:function:tollgate-invoke" }
}

override_resource {
  target          = module.function["record_metrics"].aws_lambda_function.this
  override_during = plan
  values          = { arn = "arn:aws:lambda:us-east-1:123456789012:function:tollgate-record-metrics" }
}

override_resource {
  target          = module.function["sweeper"].aws_lambda_function.this
  override_during = plan
  values          = { arn = "arn:aws:lambda:us-east-1:123456789012:function:tollgate-sweeper" }
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

override_resource {
  target          = module.alarms[0].aws_sns_topic.this[0]
  override_during = plan
  values          = { arn = "arn:aws:sns:us-east-1:123456789012:tollgate-alarms" }
}

variables {
  lambda_package_path = "tests/terraform/fixtures/lambda.zip"
  inference_profiles = {
    sales    = { model = "claude-haiku-4-5", tags = { costCenter = "sales", applicationId = "aws-documentation-helper", environment = "production" } }
    services = { model = "claude-haiku-4-5", tags = { costCenter = "services", applicationId = "aws-documentation-helper", environment = "production" } }
    support  = { model = "claude-haiku-4-5", tags = { costCenter = "support", applicationId = "aws-documentation-helper", environment = "production" } }
  }
  limits = [
    { scope = { costCenter = "sales" }, window = "day", unit = "usd", limit = 50 },
  ]
}

run "outputs_have_the_documented_names_and_values" {
  command = plan

  assert {
    condition     = output.state_machine_arn == "arn:aws:states:us-east-1:123456789012:stateMachine:tollgate" && output.state_machine_name == "tollgate"
    error_message = "state_machine_arn and state_machine_name must describe the state machine."
  }

  assert {
    condition     = output.limits_table_name == "tollgate-limits" && output.limits_table_arn == "arn:aws:dynamodb:us-east-1:123456789012:table/tollgate-limits"
    error_message = "limits_table_name and limits_table_arn must describe the table."
  }

  assert {
    condition = output.function_arns == {
      validate       = "arn:aws:lambda:us-east-1:123456789012:function:tollgate-validate"
      rate_limit     = "arn:aws:lambda:us-east-1:123456789012:function:tollgate-rate-limit"
      invoke         = "arn:aws:lambda:us-east-1:123456789012:function:tollgate-invoke"
      record_metrics = "arn:aws:lambda:us-east-1:123456789012:function:tollgate-record-metrics"
      sweeper        = "arn:aws:lambda:us-east-1:123456789012:function:tollgate-sweeper"
    }
    error_message = "function_arns must be keyed validate, rate_limit, invoke, record_metrics, sweeper."
  }

  assert {
    condition = output.function_names == {
      validate       = "tollgate-validate"
      rate_limit     = "tollgate-rate-limit"
      invoke         = "tollgate-invoke"
      record_metrics = "tollgate-record-metrics"
      sweeper        = "tollgate-sweeper"
    }
    error_message = "The functions must be named <name>-validate, -rate-limit, -invoke, -record-metrics, -sweeper."
  }

  assert {
    condition = output.inference_profile_arns == {
      sales    = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/sales0000001"
      services = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/services0002"
      support  = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/support00003"
    }
    error_message = "inference_profile_arns must map each route name to its profile ARN."
  }

  assert {
    condition     = output.inference_profile_ids == { sales = "sales0000001", services = "services0002", support = "support00003" }
    error_message = "inference_profile_ids must be the last segment of each profile ARN."
  }

  assert {
    condition = output.model_routes == {
      "nova-lite"        = "amazon.nova-lite-v1:0"
      "nova-micro"       = "amazon.nova-micro-v1:0"
      "nova-pro"         = "amazon.nova-pro-v1:0"
      "claude-haiku-4-5" = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
      sales              = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/sales0000001"
      services           = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/services0002"
      support            = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/support00003"
    }
    error_message = "model_routes must map every route (aliases and profiles) to what Converse is called with."
  }

  assert {
    condition     = output.dashboard_name == "tollgate" && output.metrics_namespace == "GenAIRateLimiting"
    error_message = "dashboard_name and metrics_namespace must be set."
  }

  assert {
    condition     = output.limit_ids == tolist(["costCenter=sales/day/usd"])
    error_message = "limit_ids must list the limit IDs."
  }

  assert {
    condition     = output.sns_topic_arn == "arn:aws:sns:us-east-1:123456789012:tollgate-alarms" && keys(output.alarm_names) == tolist(["denied", "executions_failed", "executions_timed_out", "invocation_failed", "swept_reservations"])
    error_message = "The alarm topic and the three alarms must be output."
  }

  assert {
    condition     = output.kms_key_arn == "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    error_message = "kms_key_arn must be the created key."
  }

  assert {
    condition     = output.function_log_group_names.record_metrics == "/aws/lambda/tollgate-record-metrics" && output.state_machine_log_group_name == "/aws/vendedlogs/states/tollgate"
    error_message = "The log group outputs must name the module's log groups."
  }
}

run "profiles_carry_their_cost_allocation_tags" {
  command = plan

  variables {
    tags = { project = "tollgate", owner = "platform" }
  }

  assert {
    condition = module.inference_profiles.routes.services.base_route == "claude-haiku-4-5" && local.profiles.services.tags == tomap({
      project = "tollgate", owner = "platform", costCenter = "services", applicationId = "aws-documentation-helper", environment = "production"
    })
    error_message = "A profile must carry its own tags merged with the module's tags."
  }

  assert {
    condition     = aws_dynamodb_table.this.tags == tomap({ project = "tollgate", owner = "platform" }) && aws_sfn_state_machine.this.tags == tomap({ project = "tollgate", owner = "platform" })
    error_message = "The module's tags must be on every resource."
  }
}
