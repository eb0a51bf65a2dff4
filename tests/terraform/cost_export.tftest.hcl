# The CUR 2.0 export: off by default; when on, a private TLS-only encrypted bucket that only Data
# Exports of this account may write, a daily Parquet export with caller identity, and principal
# tags on the invoke role only.

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

run "no_export_by_default" {
  command = plan

  assert {
    condition     = length(aws_bcmdataexports_export.this) == 0 && length(aws_s3_bucket.cost_export) == 0 && output.cost_export == null
    error_message = "The export and its bucket exist only when cost_export.enabled."
  }

  assert {
    condition     = !contains(keys(module.function["invoke"].role_tags), "TollgateModule")
    error_message = "Without the export, the invoke role carries no principal tags."
  }
}

run "a_daily_parquet_export_with_caller_identity" {
  command = plan

  variables {
    cost_export = { enabled = true, principal_tags = { costCenter = "platform" } }
    tags        = { team = "ml" }
  }

  assert {
    condition     = aws_s3_bucket.cost_export[0].bucket == "tollgate-cur2-123456789012-us-east-1"
    error_message = "The default bucket name is <name>-cur2-<account>-<region>."
  }

  assert {
    condition = (
      aws_bcmdataexports_export.this[0].export[0].name == "tollgate-cur2" &&
      aws_bcmdataexports_export.this[0].export[0].data_query[0].table_configurations["COST_AND_USAGE_REPORT"]["INCLUDE_CALLER_IDENTITY"] == "TRUE" &&
      aws_bcmdataexports_export.this[0].export[0].data_query[0].table_configurations["COST_AND_USAGE_REPORT"]["TIME_GRANULARITY"] == "DAILY" &&
      strcontains(aws_bcmdataexports_export.this[0].export[0].data_query[0].query_statement, "line_item_iam_principal") &&
      strcontains(aws_bcmdataexports_export.this[0].export[0].data_query[0].query_statement, "resource_tags")
    )
    error_message = "The export is CUR 2.0, daily, with the caller identity column and the tags the report groups by."
  }

  assert {
    condition = (
      aws_bcmdataexports_export.this[0].export[0].destination_configurations[0].s3_destination[0].s3_output_configurations[0].format == "PARQUET" &&
      aws_bcmdataexports_export.this[0].export[0].destination_configurations[0].s3_destination[0].s3_prefix == "cur2" &&
      aws_bcmdataexports_export.this[0].export[0].destination_configurations[0].s3_destination[0].s3_output_configurations[0].overwrite == "OVERWRITE_REPORT"
    )
    error_message = "Parquet under the prefix, each billing period overwritten (the reader never sees two copies)."
  }

  assert {
    condition = (
      aws_s3_bucket_public_access_block.cost_export[0].block_public_policy &&
      aws_s3_bucket_public_access_block.cost_export[0].restrict_public_buckets &&
      one(aws_s3_bucket_server_side_encryption_configuration.cost_export[0].rule).apply_server_side_encryption_by_default[0].sse_algorithm == "AES256"
    )
    error_message = "The bill's bucket is private and encrypted."
  }

  assert {
    condition = (
      jsondecode(aws_s3_bucket_policy.cost_export[0].policy).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012" &&
      toset(jsondecode(aws_s3_bucket_policy.cost_export[0].policy).Statement[0].Action) == toset(["s3:PutObject", "s3:GetBucketPolicy"]) &&
      jsondecode(aws_s3_bucket_policy.cost_export[0].policy).Statement[1].Effect == "Deny"
    )
    error_message = "Only this account's Data Exports may write (PutObject, GetBucketPolicy), and nobody without TLS."
  }

  assert {
    condition     = module.function["invoke"].role_tags == tomap({ TollgateModule = "tollgate", costCenter = "platform", team = "ml" })
    error_message = "The invoke role carries the module's name and the principal tags given."
  }

  assert {
    condition     = module.function["validate"].role_tags == tomap({ team = "ml" })
    error_message = "Only the invoke role calls Bedrock: no other role gets principal tags."
  }

  assert {
    condition     = output.cost_export.bucket == "tollgate-cur2-123456789012-us-east-1" && output.cost_export.export_name == "tollgate-cur2" && output.cost_export.prefix == "cur2"
    error_message = "The output names where tollgate report --source cur reads."
  }
}

run "without_caller_identity_the_column_is_not_asked_for" {
  command = plan

  variables {
    cost_export = { enabled = true, caller_identity = false }
  }

  assert {
    condition     = !strcontains(aws_bcmdataexports_export.this[0].export[0].data_query[0].query_statement, "line_item_iam_principal") && !contains(keys(aws_bcmdataexports_export.this[0].export[0].data_query[0].table_configurations["COST_AND_USAGE_REPORT"]), "INCLUDE_CALLER_IDENTITY")
    error_message = "caller_identity = false leaves the column and the table property out."
  }
}

run "a_bad_bucket_name_is_refused" {
  command = plan

  variables {
    cost_export = { enabled = true, bucket_name = "Not_A_Bucket" }
  }

  expect_failures = [var.cost_export]
}

run "a_default_bucket_name_too_long_for_s3_is_refused" {
  command = plan

  variables {
    name        = "a-very-long-tollgate-deployment-name"
    cost_export = { enabled = true }
  }

  expect_failures = [aws_s3_bucket.cost_export]
}
