# Organisation guardrails (docs/deploying.md): every role the module creates gets the role path
# and the permissions boundary, and the resources carry `tags`. tests/unit/test_terraform_guardrails.py
# checks every resource block of the source, whatever they are; this checks the planned values.

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
  lambda_package_path          = "tests/terraform/fixtures/lambda.zip"
  iam_role_path                = "/platform/tollgate/"
  iam_permissions_boundary_arn = "arn:aws:iam::123456789012:policy/boundaries/workload"
  tags                         = { team = "platform", costCenter = "shared" }
}

run "every_role_has_the_path_and_the_boundary" {
  command = plan

  assert {
    condition = (
      aws_iam_role.state_machine.path == "/platform/tollgate/" &&
      aws_iam_role.state_machine.permissions_boundary == "arn:aws:iam::123456789012:policy/boundaries/workload"
    )
    error_message = "The state machine's role must have the role path and the permissions boundary."
  }

  assert {
    condition = length(module.function) >= 4 && alltrue([for f in values(module.function) :
      f.role_path == "/platform/tollgate/" && f.role_permissions_boundary == "arn:aws:iam::123456789012:policy/boundaries/workload"
    ])
    error_message = "Every function's role must have the role path and the permissions boundary."
  }
}

run "every_taggable_resource_carries_the_tags" {
  command = plan

  assert {
    condition = alltrue([for t in [
      aws_kms_key.this[0].tags,
      aws_dynamodb_table.this.tags,
      aws_cloudwatch_log_group.state_machine.tags,
      aws_iam_role.state_machine.tags,
      aws_sfn_state_machine.this.tags,
    ] : t == var.tags])
    error_message = "The key, the table, the state machine, its role and its log group must carry var.tags."
  }

  assert {
    condition     = alltrue(flatten([for f in values(module.function) : [for t in values(f.resource_tags) : t == var.tags]]))
    error_message = "Every function, its role and its log group must carry var.tags."
  }
}

run "defaults_are_the_root_path_and_no_boundary" {
  command = plan

  variables {
    iam_role_path                = "/"
    iam_permissions_boundary_arn = null
  }

  assert {
    condition = (
      aws_iam_role.state_machine.path == "/" && aws_iam_role.state_machine.permissions_boundary == null &&
      alltrue([for f in values(module.function) : f.role_path == "/" && f.role_permissions_boundary == null])
    )
    error_message = "Without the variables, roles are at / with no boundary."
  }
}

run "iam_role_path_must_start_and_end_with_a_slash" {
  command = plan
  variables { iam_role_path = "platform/tollgate" }
  expect_failures = [var.iam_role_path]
}

run "iam_permissions_boundary_arn_must_be_a_managed_policy" {
  command = plan
  variables { iam_permissions_boundary_arn = "arn:aws:iam::123456789012:role/boundary" }
  expect_failures = [var.iam_permissions_boundary_arn]
}
