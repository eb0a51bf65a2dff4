# One Lambda function with its own role, its own least-privilege policy and its own log group.

locals {
  log_group_name = "/aws/lambda/${var.function_name}"
  log_group_arn  = "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:${local.log_group_name}"

  statements = concat(
    [{
      sid        = "WriteOwnLogs"
      actions    = ["logs:CreateLogStream", "logs:PutLogEvents"]
      resources  = ["${local.log_group_arn}:*"]
      conditions = []
    }],
    var.policy_statements,
    var.kms_key_arn == null ? [] : [{
      sid        = "DecryptEnvironment"
      actions    = ["kms:Decrypt"]
      resources  = [var.kms_key_arn]
      conditions = []
    }],
    # X-Ray write actions support no resource-level permissions.
    var.tracing_enabled ? [{
      sid        = "WriteTraces"
      actions    = ["xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords", "xray:PutTraceSegments"]
      resources  = ["*"]
      conditions = []
    }] : [],
  )

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      for s in local.statements : merge(
        { Sid = s.sid, Effect = "Allow", Action = s.actions, Resource = s.resources },
        {
          for key, condition in {
            Condition = {
              for test in distinct([for c in s.conditions : c.test]) : test => {
                for c in s.conditions : c.variable => c.values if c.test == test
              }
            }
          } : key => condition if length(s.conditions) > 0
        },
      )
    ]
  })
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_iam_role" "this" {
  name                 = var.function_name
  path                 = var.iam_role_path
  permissions_boundary = var.iam_permissions_boundary_arn

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "LambdaAssumesRole"
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = merge(var.tags, var.role_tags)
}

resource "aws_iam_role_policy" "this" {
  name   = "least-privilege"
  role   = aws_iam_role.this.id
  policy = local.policy
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_115:Called only by the state machine; Tollgate's own limits bound the traffic, and reserving concurrency would take it from the account pool and throttle the request path.
  #checkov:skip=CKV_AWS_116:Invoked synchronously by Step Functions only; a dead-letter queue applies to asynchronous invocations, and the state machine catches and records every failure.
  #checkov:skip=CKV_AWS_117:Calls only AWS APIs (DynamoDB, Bedrock, CloudWatch) and reaches no private resources; a VPC would add NAT or endpoints and cold-start cost for nothing.
  #checkov:skip=CKV_AWS_272:The zip is built reproducibly by `make package` and pinned by source_code_hash; code signing needs an AWS Signer profile, outside this module.
  function_name     = var.function_name
  description       = var.description
  role              = aws_iam_role.this.arn
  handler           = var.handler
  runtime           = var.runtime
  architectures     = [var.architecture]
  filename          = var.package_path
  s3_bucket         = try(var.package_s3.bucket, null)
  s3_key            = try(var.package_s3.key, null)
  s3_object_version = try(var.package_s3.object_version, null)
  source_code_hash  = var.source_code_hash
  memory_size       = var.memory_size
  timeout           = var.timeout
  kms_key_arn       = var.kms_key_arn

  environment {
    variables = var.environment
  }

  tracing_config {
    mode = var.tracing_enabled ? "Active" : "PassThrough"
  }

  tags = var.tags

  # The log group and the policy first: otherwise Lambda creates the group itself (no
  # retention, no key) and the first invocations run without permissions.
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}
