# The Lambda package: a local zip or an S3 object (a release), exactly one, with plan-time errors
# that say what to set (docs/deploying.md "The Lambda package").

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

run "a_released_zip_in_s3_deploys_every_function" {
  command = plan

  variables {
    lambda_package_s3 = { bucket = "acme-artifacts", key = "tollgate/tollgate-0.2.0.zip", object_version = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY" }
  }

  assert {
    condition = length(module.function) >= 4 && alltrue([for f in values(module.function) :
      f.package.filename == null &&
      f.package.s3_bucket == "acme-artifacts" &&
      f.package.s3_key == "tollgate/tollgate-0.2.0.zip" &&
      f.package.s3_object_version == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    ])
    error_message = "Every function must take its code from the S3 object, version pinned, and from no local file."
  }

  assert {
    condition     = local.package_path == null && local.package_hash == null
    error_message = "With an S3 package, no local path is read (the object version identifies the code)."
  }
}

run "an_s3_object_without_a_version_is_accepted" {
  command = plan

  variables {
    lambda_package_s3 = { bucket = "acme-artifacts", key = "tollgate.zip" }
  }

  assert {
    condition     = alltrue([for f in values(module.function) : f.package.s3_key == "tollgate.zip" && f.package.s3_object_version == null])
    error_message = "object_version is optional."
  }
}

run "a_local_zip_deploys_every_function" {
  command = plan

  variables {
    lambda_package_path = "tests/terraform/fixtures/lambda.zip"
  }

  assert {
    condition = alltrue([for f in values(module.function) :
      f.package.filename == "tests/terraform/fixtures/lambda.zip" && f.package.s3_bucket == null && f.package.s3_key == null
    ])
    error_message = "A local zip must be the only code source."
  }
}

run "both_ways_at_once_is_an_error" {
  command = plan

  variables {
    lambda_package_path = "tests/terraform/fixtures/lambda.zip"
    lambda_package_s3   = { bucket = "acme-artifacts", key = "tollgate/tollgate-0.2.0.zip" }
  }

  expect_failures = [var.lambda_package_path]
}

run "a_bucket_arn_is_not_a_bucket_name" {
  command = plan

  variables {
    lambda_package_s3 = { bucket = "arn:aws:s3:::acme-artifacts", key = "tollgate.zip" }
  }

  expect_failures = [var.lambda_package_s3]
}

run "the_key_must_name_a_zip" {
  command = plan

  variables {
    lambda_package_s3 = { bucket = "acme-artifacts", key = "/tollgate/" }
  }

  expect_failures = [var.lambda_package_s3]
}

run "an_empty_object_version_is_an_error" {
  command = plan

  variables {
    lambda_package_s3 = { bucket = "acme-artifacts", key = "tollgate.zip", object_version = "" }
  }

  expect_failures = [var.lambda_package_s3]
}
