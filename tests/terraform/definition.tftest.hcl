# The state machine: the rendered definition is valid JSON, names the four functions, and has
# the data flow, retries, catches and ends of docs/internals.md section 4 and docs/ledger.md.

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

run "definition_names_the_four_functions" {
  command = plan

  assert {
    condition = toset([for s in values(jsondecode(aws_sfn_state_machine.this.definition).States) : s.Resource if startswith(try(s.Resource, ""), "arn:aws:lambda:")]) == toset([
      "arn:aws:lambda:us-east-1:123456789012:function:tollgate-validate",
      "arn:aws:lambda:us-east-1:123456789012:function:tollgate-rate-limit",
      "arn:aws:lambda:us-east-1:123456789012:function:tollgate-invoke",
      "arn:aws:lambda:us-east-1:123456789012:function:tollgate-record-metrics",
    ])
    error_message = "The Task states must call exactly the four functions by ARN."
  }

  assert {
    condition = toset([for s in values(jsondecode(aws_sfn_state_machine.this.definition).States) : s.Resource if s.Type == "Task" && !startswith(try(s.Resource, ""), "arn:aws:lambda:")]) == toset([
      "arn:aws:states:::dynamodb:putItem",
      "arn:aws:states:::aws-sdk:cloudwatch:putMetricData",
    ])
    error_message = "Besides the functions, only RecordFallback's record mark and metrics are service integrations."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).States.FallbackClaim.Parameters.TableName == "tollgate-limits" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.FallbackClaim.Parameters.ConditionExpression == "attribute_not_exists(pk)" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.FallbackClaim.Parameters.Item.pk == { "S.$" = "$$.Execution.Id" } &&
      jsondecode(aws_sfn_state_machine.this.definition).States.FallbackClaim.Catch[0].Next == "RecordFallback" &&
      alltrue([for k in ["FallbackMetricsInvoked", "FallbackMetricsReplayed", "FallbackMetricsDenied", "FallbackMetricsFailed", "FallbackMetricsTotal"] :
        jsondecode(aws_sfn_state_machine.this.definition).States[k].Parameters.Namespace == "GenAIRateLimiting" &&
      jsondecode(aws_sfn_state_machine.this.definition).States[k].Parameters.MetricData[0].MetricName == "TotalRequests"])
    )
    error_message = "RecordFallback must claim the execution's record mark (the same item Record claims) before it emits TotalRequests and the outcome's metrics."
  }

  assert {
    condition     = !strcontains(aws_sfn_state_machine.this.definition, "$${")
    error_message = "The definition must have no unrendered placeholder."
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this.definition).StartAt == "Validate"
    error_message = "The workflow must start at Validate."
  }
}

run "definition_has_the_documented_data_flow" {
  command = plan

  assert {
    condition = jsondecode(aws_sfn_state_machine.this.definition).States.Validate.Parameters == {
      "request.$" = "$", "executionId.$" = "$$.Execution.Id"
    }
    error_message = "Validate must receive {request, executionId}."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).States.Validate.ResultSelector == { "context.$" = "$" } &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Validate.ResultPath == "$"
    )
    error_message = "Validate's result must become $.context."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).States.Reserve.Parameters == { action = "reserve", "context.$" = "$.context", "executionId.$" = "$$.Execution.Id" } &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Reserve.ResultPath == "$.reservation"
    )
    error_message = "Reserve must send {action: reserve, context, executionId} and store $.reservation."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).States.Invoke.Parameters == { "context.$" = "$.context", "reservation.$" = "$.reservation", "executionId.$" = "$$.Execution.Id" } &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Invoke.ResultPath == "$.invocation" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Invoke.Next == "DropPrompt"
    )
    error_message = "Invoke must send {context, reservation, executionId} (the invoking mark), store $.invocation and go on to DropPrompt."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).States.DropPrompt.Type == "Pass" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.DropPrompt.Result == {} &&
      jsondecode(aws_sfn_state_machine.this.definition).States.DropPrompt.ResultPath == "$.context.converse" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.DropPrompt.Next == "Settled"
    )
    error_message = "DropPrompt must replace $.context.converse (the prompt) with {} before Settled, so that no later state carries both the prompt and the response."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).States.Settled.Type == "Choice" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Settled.Choices == [{ Variable = "$.invocation.settlement", IsPresent = true, Next = "SetSucceeded" }] &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Settled.Default == "Settle"
    )
    error_message = "Settled must skip Settle when Invoke settled the reservation itself ($.invocation.settlement), and run it otherwise."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).States.Settle.Parameters == { action = "settle", "context.$" = "$.context", "reservation.$" = "$.reservation", "invocation.$" = "$.invocation", "executionId.$" = "$$.Execution.Id" } &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Settle.ResultPath == "$.settlement"
    )
    error_message = "Settle must send {action: settle, context, reservation, invocation, executionId} and store $.settlement."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).States.Release.Parameters == { action = "release", "context.$" = "$.context", "reservation.$" = "$.reservation", "error.$" = "$.error", "executionId.$" = "$$.Execution.Id" } &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Release.ResultPath == "$.release"
    )
    error_message = "Release must send {action: release, context, reservation, error, executionId} and store $.release."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).States.Record.Parameters == { "state.$" = "$", "executionId.$" = "$$.Execution.Id" } &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Record.ResultSelector == { "record.$" = "$", "outcome.$" = "$.outcome" } &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Record.ResultPath == "$"
    )
    error_message = "Record must receive the whole state and the execution ID (its record mark) and replace the state with {record, outcome}, so that the response is carried once."
  }

  assert {
    condition = { for k in ["SetSucceeded", "SetReplayed", "SetDenied", "SetFailed", "SetInvalid"] : k => [
      jsondecode(aws_sfn_state_machine.this.definition).States[k].Type,
      jsondecode(aws_sfn_state_machine.this.definition).States[k].ResultPath,
      jsondecode(aws_sfn_state_machine.this.definition).States[k].Result,
      jsondecode(aws_sfn_state_machine.this.definition).States[k].Next,
      ] } == {
      SetSucceeded = ["Pass", "$.outcome", "succeeded", "Record"]
      SetReplayed  = ["Pass", "$.outcome", "succeeded", "Record"]
      SetDenied    = ["Pass", "$.outcome", "denied", "Record"]
      SetFailed    = ["Pass", "$.outcome", "failed", "Record"]
      SetInvalid   = ["Pass", "$.outcome", "invalid", "Record"]
    }
    error_message = "The Set* Pass states must set $.outcome and go to Record."
  }
}

run "definition_retries_and_catches_safely" {
  command = plan

  assert {
    # Issue 18: a throttled Invoke call never ran (its retry costs only its wait); the Lambda
    # service errors may come after the function ran, so on a path with the model call a retry would
    # cost a whole attempt the Express bound does not have (tools/workflow_bound.py). They are caught.
    condition = alltrue([for s in values(jsondecode(aws_sfn_state_machine.this.definition).States) :
      contains(flatten([for r in s.Retry : r.ErrorEquals]), "Lambda.TooManyRequestsException")
    if startswith(try(s.Resource, ""), "arn:aws:lambda:")])
    error_message = "Every function Task must retry Lambda.TooManyRequestsException (the function did not run)."
  }

  assert {
    condition = alltrue(flatten([for s in values(jsondecode(aws_sfn_state_machine.this.definition).States) : [
      for r in try(s.Retry, []) : !contains(r.ErrorEquals, "States.ALL") && !contains(r.ErrorEquals, "ModelInvocationError") && !contains(r.ErrorEquals, "ModelOutcomeUnknown") && !contains(r.ErrorEquals, "States.TaskFailed")
    ] if s.Type == "Task"]))
    error_message = "No Retry may cover States.ALL, States.TaskFailed, ModelInvocationError or ModelOutcomeUnknown (a call that may have run is never sent again)."
  }

  assert {
    condition = alltrue(flatten([for s in values(jsondecode(aws_sfn_state_machine.this.definition).States) : [
      for r in try(s.Retry, []) : r.MaxAttempts >= 1 && r.MaxAttempts <= 5 && r.BackoffRate > 1 && r.JitterStrategy == "FULL"
    ] if s.Type == "Task"]))
    error_message = "Every Retry must be bounded (1-5 attempts) with exponential backoff and full jitter."
  }

  assert {
    # Issue 18: the invoke function retries a throttled or unavailable model itself, within its time left.
    condition     = toset(flatten([for r in jsondecode(aws_sfn_state_machine.this.definition).States.Invoke.Retry : r.ErrorEquals])) == toset(["Lambda.TooManyRequestsException"])
    error_message = "Invoke may retry only a throttled Invoke call (which never ran): the state machine never sends a model call again."
  }

  assert {
    # Issue 18: on the paths with the model call the ledger retries inside the function (its own
    # transaction retries and the SDK's); a reservation left open is closed by the sweeper at its lease.
    condition = alltrue([for k in ["ReleaseUnconfirmed"] :
      contains(flatten([for r in jsondecode(aws_sfn_state_machine.this.definition).States[k].Retry : r.ErrorEquals]), "LedgerBusy")
    ])
    error_message = "ReleaseUnconfirmed (no model call on its path) must retry LedgerBusy."
  }

  assert {
    condition = alltrue([for k in ["ReleaseUnconfirmed"] :
      contains(flatten([for r in jsondecode(aws_sfn_state_machine.this.definition).States[k].Retry : r.ErrorEquals]), "LedgerUnavailable")
    ])
    error_message = "ReleaseUnconfirmed must retry LedgerUnavailable: one transient DynamoDB error must not leave a reservation open."
  }

  assert {
    condition = alltrue([for s in values(jsondecode(aws_sfn_state_machine.this.definition).States) :
      length(s.Catch) > 0 && alltrue([for c in s.Catch : startswith(c.ResultPath, "$.")]) && s.Catch[length(s.Catch) - 1].ErrorEquals == ["States.ALL"]
    if s.Type == "Task"])
    error_message = "Every Task must catch States.ALL into a field of the state (ResultPath $.<field>), so no path ends in States.Runtime and the state is kept."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).States.Invoke.Catch[0].ErrorEquals == ["ModelThrottled", "ModelUnavailable", "ModelInvocationError"] &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Invoke.Catch[0].Next == "InvokeError" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.InvokeError.Next == "Release" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Invoke.Catch[1].Next == "InvokeUnknown" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.InvokeUnknown.Next == "Resolve" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Resolve.Parameters.action == "resolve" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Resolve.Next == "SetFailed" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Release.Next == "SetFailed" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Release.Catch[0].Next == "SetFailed" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Settle.Catch[0].Next == "SetSucceeded" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Record.Catch[0].Next == "FallbackClaim"
    )
    error_message = "A did-not-run invoke error must release its reservation, any other invoke error must be resolved (charged when the model may have run), and both still be recorded; a failed settle still succeeds; a failed record falls back."
  }

  assert {
    condition = alltrue(flatten([for name, s in jsondecode(aws_sfn_state_machine.this.definition).States : [
      for target in concat(
        can(s.Next) ? [s.Next] : [],
        can(s.Default) ? [s.Default] : [],
        can(s.Catch) ? [for c in s.Catch : c.Next] : [],
        can(s.Choices) ? [for c in s.Choices : c.Next] : [],
      ) : contains(keys(jsondecode(aws_sfn_state_machine.this.definition).States), target)
    ]]))
    error_message = "Every Next, Default and Catch target must be a state of the definition."
  }
}

run "definition_ends_in_the_documented_outcomes" {
  command = plan

  assert {
    condition     = toset([for s in values(jsondecode(aws_sfn_state_machine.this.definition).States) : s.Error if s.Type == "Fail"]) == toset(["RateLimitExceeded", "InvocationFailed", "ValidationError"])
    error_message = "The Fail states must use exactly the errors RateLimitExceeded, InvocationFailed and ValidationError."
  }

  assert {
    condition = { for k in ["Denied", "Failed", "Invalid"] : k => [
      jsondecode(aws_sfn_state_machine.this.definition).States[k].Error,
      jsondecode(aws_sfn_state_machine.this.definition).States[k].CausePath,
      ] } == {
      Denied  = ["RateLimitExceeded", "$.record.cause"]
      Failed  = ["InvocationFailed", "$.record.cause"]
      Invalid = ["ValidationError", "$.record.cause"]
    }
    error_message = "Denied, Failed and Invalid must fail with the cause recorded by record-metrics."
  }

  assert {
    condition = alltrue([for k in ["FallbackDenied", "FallbackFailed", "FallbackInvalid"] :
      can(jsondecode(jsondecode(aws_sfn_state_machine.this.definition).States[k].Cause).error)
    ])
    error_message = "The fallback Fail states must carry a static JSON cause."
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this.definition).States.Succeeded.OutputPath == "$.record.output"
    error_message = "Succeeded must output the recorded success output."
  }
}

run "express_by_default_with_logging_and_tracing" {
  command = plan

  assert {
    condition     = aws_sfn_state_machine.this.type == "EXPRESS"
    error_message = "The workflow must be EXPRESS by default."
  }

  assert {
    condition = (
      aws_sfn_state_machine.this.logging_configuration[0].level == "ALL" &&
      aws_sfn_state_machine.this.logging_configuration[0].include_execution_data == false
    )
    error_message = "Execution logging must be on, without execution data, by default."
  }

  assert {
    condition     = aws_sfn_state_machine.this.tracing_configuration[0].enabled
    error_message = "Tracing must be on by default."
  }

  assert {
    condition     = aws_cloudwatch_log_group.state_machine.name == "/aws/vendedlogs/states/tollgate" && aws_cloudwatch_log_group.state_machine.retention_in_days == 365
    error_message = "The state machine must log to its own log group with retention."
  }
}

run "standard_when_chosen" {
  command = plan

  variables {
    name                                 = "budget"
    workflow_type                        = "STANDARD"
    state_machine_log_level              = "ERROR"
    state_machine_include_execution_data = true
    tracing_enabled                      = false
  }

  assert {
    condition = (
      aws_sfn_state_machine.this.type == "STANDARD" &&
      aws_sfn_state_machine.this.name == "budget" &&
      aws_sfn_state_machine.this.logging_configuration[0].level == "ERROR" &&
      aws_sfn_state_machine.this.logging_configuration[0].include_execution_data &&
      !aws_sfn_state_machine.this.tracing_configuration[0].enabled
    )
    error_message = "workflow_type, the log level, execution data and tracing must follow the variables."
  }

  assert {
    condition     = strcontains(aws_sfn_state_machine.this.definition, "arn:aws:lambda:us-east-1:123456789012:function:budget-rate-limit")
    error_message = "The function ARNs must follow the name."
  }
}

# --- the Invoke state's timeout: the template's under EXPRESS, sized from the function under STANDARD

run "express_keeps_the_templates_invoke_timeout" {
  command = plan
  variables {
    lambda_timeouts = { invoke = 44 }
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this.definition).States.Invoke.TimeoutSeconds == 248
    error_message = "EXPRESS keeps Invoke's 248 s, which holds the longest path under the 5-minute limit."
  }
}

run "standard_waits_as_long_as_the_invoke_function_may_run" {
  command = plan
  variables {
    workflow_type   = "STANDARD"
    lambda_timeouts = { invoke = 600 }
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this.definition).States.Invoke.TimeoutSeconds == 605
    error_message = "Under STANDARD the Invoke state must wait the invoke function's timeout plus 5 s."
  }

  assert {
    condition = alltrue([
      for name, state in jsondecode(aws_sfn_state_machine.this.definition).States :
      try(state.TimeoutSeconds == local.asl_template.States[name].TimeoutSeconds, true) if name != "Invoke"
    ])
    error_message = "Only the Invoke state's timeout changes; every other state keeps the template's."
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this.definition).States.Invoke.Retry == local.asl_template.States.Invoke.Retry
    error_message = "The Invoke state's retries are the template's."
  }
}

run "standard_with_the_default_invoke_timeout_renders_the_template" {
  command = plan
  variables {
    workflow_type = "STANDARD"
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this.definition).States.Invoke.TimeoutSeconds == 252
    error_message = "Under STANDARD the default invoke timeout (247 s) waits 247 + 5 s."
  }
}

run "express_refuses_an_invoke_function_that_outlives_its_state" {
  command = plan
  variables {
    lambda_timeouts              = { invoke = 600 }
    bedrock_read_timeout_seconds = 60
  }
  expect_failures = [aws_sfn_state_machine.this]
}
