# The caller's side (docs/deploying.md): caller_policy_json names only this state machine and the
# actions its workflow type needs; every Task of the definition has a TimeoutSeconds that the
# function it calls stops before. tests/unit/test_workflow_bound.py adds up the longest path.

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

run "express_callers_may_only_start_sync_executions_of_this_machine" {
  command = plan

  assert {
    condition = jsondecode(output.caller_policy_json) == {
      Version = "2012-10-17"
      Statement = [{
        Sid      = "RunTollgateSynchronously"
        Effect   = "Allow"
        Action   = ["states:StartSyncExecution"]
        Resource = ["arn:aws:states:us-east-1:123456789012:stateMachine:tollgate"]
      }]
    }
    error_message = "EXPRESS: the caller policy must allow exactly states:StartSyncExecution on this state machine."
  }
}

run "standard_callers_may_start_and_describe_only_this_machines_executions" {
  command = plan

  variables {
    name          = "budget"
    workflow_type = "STANDARD"
  }

  assert {
    condition = jsondecode(output.caller_policy_json).Statement == [
      {
        Sid      = "StartTollgateExecutions"
        Effect   = "Allow"
        Action   = ["states:StartExecution"]
        Resource = ["arn:aws:states:us-east-1:123456789012:stateMachine:budget"]
      },
      {
        Sid      = "ReadTollgateExecutions"
        Effect   = "Allow"
        Action   = ["states:DescribeExecution"]
        Resource = ["arn:aws:states:us-east-1:123456789012:execution:budget:*"]
      },
    ]
    error_message = "STANDARD: StartExecution on the machine, DescribeExecution on its executions only."
  }

  assert {
    condition     = !strcontains(output.caller_policy_json, "StartSyncExecution") && !strcontains(output.caller_policy_json, "\"*\"")
    error_message = "STANDARD: no StartSyncExecution (Express only) and no wildcard resource."
  }
}

run "every_task_has_a_timeout_its_function_stops_before" {
  command = plan

  assert {
    condition = alltrue([for s in values(jsondecode(aws_sfn_state_machine.this.definition).States) :
      try(s.TimeoutSeconds >= 1, false) if s.Type == "Task"
    ])
    error_message = "Every Task state needs TimeoutSeconds, or one attempt could run as long as the execution."
  }

  assert {
    condition = alltrue(flatten([for k, arn in local.function_arns : [
      for s in values(jsondecode(aws_sfn_state_machine.this.definition).States) : local.functions[k].timeout < s.TimeoutSeconds if try(s.Resource, "") == arn
    ]]))
    error_message = "Every function's timeout must be shorter than the TimeoutSeconds of the states that call it."
  }

  assert {
    # Issue 18: the model may read for at least 240 s under EXPRESS (was 40 s and 35 s).
    condition     = local.functions.invoke.timeout == 247 && var.bedrock_read_timeout_seconds == null
    error_message = "The defaults: invoke stops at 247 s; its Converse call is sized from max_tokens and capped at the time the function has left less 5 s (about 240 s)."
  }
}
