# Streaming (docs/requests.md): two EXPRESS machines around the caller's own ConverseStream, with a
# role that may call only the validate, rate-limit and record-metrics functions, and a caller policy
# that allows StartSyncExecution on the two machines and ConverseStream on the routed models only.

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
  target          = aws_sfn_state_machine.stream["admit"]
  override_during = plan
  values          = { arn = "arn:aws:states:us-east-1:123456789012:stateMachine:tollgate-stream-admit" }
}

override_resource {
  target          = aws_sfn_state_machine.stream["settle"]
  override_during = plan
  values          = { arn = "arn:aws:states:us-east-1:123456789012:stateMachine:tollgate-stream-settle" }
}

override_resource {
  target          = aws_cloudwatch_log_group.state_machine
  override_during = plan
  values          = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/tollgate" }
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

variables {
  lambda_package_path = "tests/terraform/fixtures/lambda.zip"
  inference_profiles = {
    sales = { model = "claude-haiku-4-5", tags = { costCenter = "sales" } }
  }
}

run "two_express_stream_machines_logged_like_the_main_one" {
  command = plan

  variables {
    state_machine_log_level = "ERROR"
    tracing_enabled         = true
  }

  assert {
    condition     = { for k, m in aws_sfn_state_machine.stream : k => [m.name, m.type] } == { admit = ["tollgate-stream-admit", "EXPRESS"], settle = ["tollgate-stream-settle", "EXPRESS"] }
    error_message = "Two EXPRESS machines, tollgate-stream-admit and tollgate-stream-settle."
  }

  assert {
    condition = alltrue([for m in values(aws_sfn_state_machine.stream) :
      m.logging_configuration[0].log_destination == "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/tollgate:*" &&
      m.logging_configuration[0].level == "ERROR" &&
      m.logging_configuration[0].include_execution_data == false &&
      m.tracing_configuration[0].enabled == true
    ])
    error_message = "The stream machines log into the main machine's (encrypted) log group, at its level, without execution data, traced like it."
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.stream["admit"].definition).States.Validate.Resource == "arn:aws:lambda:us-east-1:123456789012:function:tollgate-validate" && jsondecode(aws_sfn_state_machine.stream["settle"].definition).States.Settle.Parameters.action == "settle_stream"
    error_message = "The definitions are the asl/stream_*.asl.json templates, rendered with the function ARNs."
  }

  assert {
    condition = alltrue([for m in values(aws_sfn_state_machine.stream) :
      !strcontains(m.definition, "tollgate-invoke") && !strcontains(m.definition, "$${")
    ])
    error_message = "No stream machine calls the invoke function (the caller calls the model), and no placeholder is left."
  }
}

run "the_stream_role_may_call_only_the_three_steps" {
  command = plan

  variables {
    tracing_enabled = false
  }

  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.stream_state_machine.policy).Statement : s if s.Sid == "InvokeStreamSteps"]) == {
      Sid    = "InvokeStreamSteps"
      Effect = "Allow"
      Action = ["lambda:InvokeFunction"]
      Resource = [
        "arn:aws:lambda:us-east-1:123456789012:function:tollgate-validate",
        "arn:aws:lambda:us-east-1:123456789012:function:tollgate-rate-limit",
        "arn:aws:lambda:us-east-1:123456789012:function:tollgate-record-metrics",
        "arn:aws:lambda:us-east-1:123456789012:function:tollgate-validate:*",
        "arn:aws:lambda:us-east-1:123456789012:function:tollgate-rate-limit:*",
        "arn:aws:lambda:us-east-1:123456789012:function:tollgate-record-metrics:*",
      ]
    }
    error_message = "The stream machines may invoke validate, rate-limit and record-metrics, nothing else."
  }

  assert {
    condition = alltrue([for s in jsondecode(aws_iam_role_policy.stream_state_machine.policy).Statement :
      s.Sid == "DeliverExecutionLogs" if contains(flatten([s.Resource]), "*")
    ]) && length(jsondecode(aws_iam_role_policy.stream_state_machine.policy).Statement) == 2
    error_message = "Without tracing: the function statement and CloudWatch Logs delivery (the only Resource \"*\"), nothing else."
  }

  assert {
    condition = alltrue([for a in flatten([for s in jsondecode(aws_iam_role_policy.stream_state_machine.policy).Statement : s.Action]) :
      !startswith(a, "bedrock:") && !startswith(a, "dynamodb:") && !startswith(a, "cloudwatch:") && !endswith(a, "*")
    ])
    error_message = "No Bedrock, DynamoDB or CloudWatch metrics access, and no wildcard action, for the stream machines' role."
  }

  assert {
    condition = jsondecode(aws_iam_role.stream_state_machine.assume_role_policy).Statement[0].Condition == {
      StringEquals = { "aws:SourceAccount" = "123456789012" }
      ArnLike = { "aws:SourceArn" = [
        "arn:aws:states:us-east-1:123456789012:stateMachine:tollgate-stream-admit",
        "arn:aws:states:us-east-1:123456789012:stateMachine:tollgate-stream-settle",
        "arn:aws:states:us-east-1:123456789012:express:tollgate-stream-admit:*",
        "arn:aws:states:us-east-1:123456789012:express:tollgate-stream-settle:*",
      ] }
    }
    error_message = "Only the two stream machines (and their executions) of this account may assume the role."
  }
}

run "stream_outputs_and_the_streaming_caller_policy" {
  command = plan

  assert {
    condition     = output.stream_admit_state_machine_arn == "arn:aws:states:us-east-1:123456789012:stateMachine:tollgate-stream-admit" && output.stream_settle_state_machine_arn == "arn:aws:states:us-east-1:123456789012:stateMachine:tollgate-stream-settle"
    error_message = "The outputs name the two stream machines."
  }

  assert {
    condition = jsondecode(output.stream_caller_policy_json).Statement[0] == {
      Sid      = "AdmitAndSettleStreams"
      Effect   = "Allow"
      Action   = ["states:StartSyncExecution"]
      Resource = ["arn:aws:states:us-east-1:123456789012:stateMachine:tollgate-stream-admit", "arn:aws:states:us-east-1:123456789012:stateMachine:tollgate-stream-settle"]
    }
    error_message = "A streaming caller may start sync executions of the two stream machines only."
  }

  assert {
    condition = toset(jsondecode(output.stream_caller_policy_json).Statement[1].Resource) == toset([
      "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
      "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0",
      "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
      "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0",
      "arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
      "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/sales0000001",
    ]) && jsondecode(output.stream_caller_policy_json).Statement[1].Action == ["bedrock:InvokeModelWithResponseStream"]
    error_message = "ConverseStream (bedrock:InvokeModelWithResponseStream) on exactly the routed models, system profiles and application profiles."
  }

  assert {
    condition     = toset(jsondecode(output.stream_caller_policy_json).Statement[1].Resource) == toset(one([for s in jsondecode(module.function["invoke"].policy).Statement : s.Resource if s.Sid == "InvokeRoutedModels"]))
    error_message = "A streaming caller may reach exactly the models the invoke function may."
  }

  assert {
    condition     = length(jsondecode(output.stream_caller_policy_json).Statement) == 2 && !strcontains(output.stream_caller_policy_json, "\"*\"") && !strcontains(output.stream_caller_policy_json, "bedrock:InvokeModel\"")
    error_message = "Nothing else: no wildcard resource, no non-streaming InvokeModel."
  }
}

run "stream_machines_stay_express_under_a_standard_workflow" {
  command = plan

  variables {
    workflow_type = "STANDARD"
  }

  assert {
    condition     = aws_sfn_state_machine.this.type == "STANDARD" && alltrue([for m in values(aws_sfn_state_machine.stream) : m.type == "EXPRESS"])
    error_message = "StartSyncExecution needs EXPRESS: the stream machines stay EXPRESS when the main one is STANDARD."
  }

  assert {
    condition     = jsondecode(output.stream_caller_policy_json).Statement[0].Action == ["states:StartSyncExecution"]
    error_message = "Streaming callers use StartSyncExecution whatever workflow_type is."
  }
}
