# The four functions: names, handlers, one zip, the environment of docs/internals.md section 3,
# and the missing-package check.

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

run "four_functions_from_one_zip" {
  command = plan

  assert {
    condition = { for k, f in local.functions : k => f.handler } == {
      validate       = "tollgate.handlers.validate.handler"
      rate_limit     = "tollgate.handlers.rate_limit.handler"
      invoke         = "tollgate.handlers.invoke.handler"
      record_metrics = "tollgate.handlers.record_metrics.handler"
      sweeper        = "tollgate.handlers.sweeper.handler"
    }
    error_message = "The handlers must be tollgate.handlers.<name>.handler."
  }

  assert {
    condition     = local.package_hash == filebase64sha256("tests/terraform/fixtures/lambda.zip")
    error_message = "source_code_hash must be the zip's filebase64sha256."
  }

  assert {
    condition     = toset([for f in values(module.function) : f.log_group_name]) == toset([for n in values(local.function_names) : "/aws/lambda/${n}"])
    error_message = "Every function must have its own log group."
  }
}

run "environment_is_the_documented_one" {
  command = plan

  variables {
    allowed_environments         = ["dev", "prod"]
    config_cache_seconds         = 5
    max_prompt_chars             = 5000
    max_request_bytes            = 65536
    input_token_estimate         = "utf8_bytes"
    allow_direct_model_ids       = true
    fail_open                    = true
    idempotency_seconds          = 3600
    bedrock_read_timeout_seconds = 30
    log_prompts                  = true
    metrics_sink                 = "cloudwatch_api"
    metrics_namespace            = "Acme/GenAI"
    log_level                    = "DEBUG"
    tracing_enabled              = false
  }

  assert {
    condition = local.function_environment == {
      TOLLGATE_TABLE_NAME                   = "tollgate-limits"
      TOLLGATE_CONFIG_CACHE_SECONDS         = "5"
      TOLLGATE_ALLOWED_ENVIRONMENTS         = "dev,prod"
      TOLLGATE_MAX_PROMPT_CHARS             = "5000"
      TOLLGATE_MAX_REQUEST_BYTES            = "65536"
      TOLLGATE_INPUT_TOKEN_ESTIMATE         = "utf8_bytes"
      TOLLGATE_ALLOW_DIRECT_MODEL_IDS       = "true"
      TOLLGATE_FAIL_OPEN                    = "true"
      TOLLGATE_IDEMPOTENCY_SECONDS          = "3600"
      TOLLGATE_BEDROCK_READ_TIMEOUT_SECONDS = "30"
      TOLLGATE_LEASE_SECONDS                = "308"
      TOLLGATE_LOG_PROMPTS                  = "true"
      TOLLGATE_METRICS_SINK                 = "cloudwatch_api"
      TOLLGATE_ALERT_TOPIC_ARN              = ""
      POWERTOOLS_METRICS_NAMESPACE          = "Acme/GenAI"
      POWERTOOLS_SERVICE_NAME               = "tollgate"
      POWERTOOLS_LOG_LEVEL                  = "DEBUG"
      POWERTOOLS_TRACE_DISABLED             = "true"
    }
    error_message = "The function environment must be exactly the variables of docs/internals.md section 3."
  }
}

run "environment_defaults" {
  command = plan

  assert {
    condition = local.function_environment == {
      TOLLGATE_TABLE_NAME                   = "tollgate-limits"
      TOLLGATE_CONFIG_CACHE_SECONDS         = "60"
      TOLLGATE_ALLOWED_ENVIRONMENTS         = "dev,staging,prod,production"
      TOLLGATE_MAX_PROMPT_CHARS             = "100000"
      TOLLGATE_MAX_REQUEST_BYTES            = "98304"
      TOLLGATE_INPUT_TOKEN_ESTIMATE         = "heuristic"
      TOLLGATE_ALLOW_DIRECT_MODEL_IDS       = "false"
      TOLLGATE_FAIL_OPEN                    = "false"
      TOLLGATE_IDEMPOTENCY_SECONDS          = "86400"
      TOLLGATE_BEDROCK_READ_TIMEOUT_SECONDS = ""
      TOLLGATE_LEASE_SECONDS                = "308"
      TOLLGATE_LOG_PROMPTS                  = "false"
      TOLLGATE_METRICS_SINK                 = "emf"
      TOLLGATE_ALERT_TOPIC_ARN              = ""
      POWERTOOLS_METRICS_NAMESPACE          = "GenAIRateLimiting"
      POWERTOOLS_SERVICE_NAME               = "tollgate"
      POWERTOOLS_LOG_LEVEL                  = "INFO"
      POWERTOOLS_TRACE_DISABLED             = "false"
    }
    error_message = "The defaults must match docs/internals.md section 3."
  }
}

run "lease_and_read_timeout_follow_the_workflow" {
  command = plan

  assert {
    condition     = local.lease_seconds == 300 + 8
    error_message = "EXPRESS: the lease must be 5 minutes plus the rate-limit timeout."
  }

  assert {
    condition     = var.bedrock_read_timeout_seconds == null && module.function["invoke"].function_name == "tollgate-invoke"
    error_message = "By default the read timeout is sized from each request's max_tokens (capped by the invoke function's time left)."
  }
}

run "lease_can_be_set" {
  command = plan

  variables {
    workflow_type             = "STANDARD"
    reservation_lease_seconds = 900
  }

  assert {
    condition     = local.function_environment.TOLLGATE_LEASE_SECONDS == "900"
    error_message = "reservation_lease_seconds must become TOLLGATE_LEASE_SECONDS."
  }
}

run "sweeper_runs_on_its_schedule" {
  command = plan

  assert {
    condition = (
      aws_scheduler_schedule.sweeper.schedule_expression == "rate(1 minute)" &&
      aws_scheduler_schedule.sweeper.target[0].arn == "arn:aws:lambda:us-east-1:123456789012:function:tollgate-sweeper" &&
      jsondecode(aws_iam_role_policy.scheduler.policy).Statement[0].Action == ["lambda:InvokeFunction"] &&
      jsondecode(aws_iam_role_policy.scheduler.policy).Statement[0].Resource == [
        "arn:aws:lambda:us-east-1:123456789012:function:tollgate-sweeper",
        "arn:aws:lambda:us-east-1:123456789012:function:tollgate-sweeper:*",
      ]
    )
    error_message = "EventBridge Scheduler must invoke the sweeper (and only it) every minute."
  }
}

run "missing_package_fails_at_plan_time" {
  command = plan

  variables {
    lambda_package_path = "dist/no-such-package.zip"
  }

  # The rule's message: "lambda_package_path: the Lambda package <path> does not exist; run
  # `make package` to build dist/tollgate.zip (or point lambda_package_path at an existing zip)."
  expect_failures = [var.lambda_package_path]
}
