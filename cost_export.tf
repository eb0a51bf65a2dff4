# The bill as data: an optional CUR 2.0 export (AWS Data Exports) with caller identity, delivered
# daily as Parquet into a bucket of the module's. `tollgate report --source cur` reads it (DuckDB
# over the objects, or Athena over a table on them). See docs/reporting.md.
#
# Data Exports' API is served from us-east-1 only: a module whose provider is in another region
# plans this resource but CreateExport fails; create the export from a us-east-1 stack (the bucket
# may be anywhere, s3_region says where).

locals {
  cost_export_on   = var.cost_export.enabled
  cost_export_name = "${var.name}-cur2"
  cost_export_bucket = coalesce(
    var.cost_export.bucket_name, lower(replace("${var.name}-cur2-${local.account_id}-${local.region}", "_", "-"))
  )
  # The columns the report reads, and what a finance reader needs to trace a line item.
  cost_export_columns = concat(
    [
      "bill_billing_period_start_date",
      "identity_line_item_id",
      "identity_time_interval",
      "line_item_line_item_type",
      "line_item_product_code",
      "line_item_usage_type",
      "line_item_operation",
      "line_item_usage_start_date",
      "line_item_usage_end_date",
      "line_item_usage_amount",
      "line_item_unblended_cost",
      "line_item_usage_account_id",
      "product",
      "resource_tags",
    ],
    var.cost_export.caller_identity ? ["line_item_iam_principal"] : [],
  )
  # The invoke role calls Bedrock for every request Tollgate admits: its principal tags reach the
  # bill as iamPrincipal/<key> (CUR 2.0 with caller identity, and Cost Explorer once activated).
  cost_export_bucket_arn = "arn:${local.partition}:s3:::${local.cost_export_bucket}"
  invoke_principal_tags = local.cost_export_on ? merge(
    { TollgateModule = var.name }, var.cost_export.principal_tags
  ) : {}
}

resource "aws_s3_bucket" "cost_export" {
  count = local.cost_export_on ? 1 : 0

  bucket        = local.cost_export_bucket
  force_destroy = var.cost_export.force_destroy
  tags          = var.tags

  lifecycle {
    precondition {
      condition     = length(local.cost_export_bucket) <= 63
      error_message = "cost_export: the default bucket name ${local.cost_export_bucket} is longer than S3's 63 characters; set cost_export.bucket_name."
    }
  }

  #checkov:skip=CKV_AWS_144:the bill is re-derivable from AWS Billing; cross-region replication is the owner's choice
  #checkov:skip=CKV_AWS_18:access logging needs a log bucket of the owner's; the bucket policy allows only Data Exports to write
  #checkov:skip=CKV2_AWS_62:nothing reacts to new export objects
  #checkov:skip=CKV_AWS_145:Data Exports delivers with SSE-S3; SSE-KMS needs a key policy for the billing service principals (docs/reporting.md)
  #checkov:skip=CKV_AWS_21:Data Exports overwrites each billing period's objects (OVERWRITE_REPORT); versions would only keep stale copies
}

resource "aws_s3_bucket_public_access_block" "cost_export" {
  count = local.cost_export_on ? 1 : 0

  bucket                  = aws_s3_bucket.cost_export[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "cost_export" {
  count = local.cost_export_on ? 1 : 0

  bucket = aws_s3_bucket.cost_export[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "cost_export" {
  count = local.cost_export_on ? 1 : 0

  bucket = aws_s3_bucket.cost_export[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "cost_export" {
  count = local.cost_export_on ? 1 : 0

  bucket = aws_s3_bucket.cost_export[0].id
  rule {
    id     = "expire-old-billing-periods"
    status = "Enabled"
    filter {}
    expiration {
      days = var.cost_export.expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_policy" "cost_export" {
  count = local.cost_export_on ? 1 : 0

  bucket = aws_s3_bucket.cost_export[0].id
  # Data Exports (and the CUR service it runs on) write here, for this account's exports only
  # (the Data Exports user guide's bucket policy); nobody reads or writes without TLS.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DataExportsWrite"
        Effect    = "Allow"
        Principal = { Service = ["billingreports.amazonaws.com", "bcm-data-exports.amazonaws.com"] }
        Action    = ["s3:PutObject", "s3:GetBucketPolicy"]
        Resource  = [local.cost_export_bucket_arn, "${local.cost_export_bucket_arn}/*"]
        Condition = {
          StringLike = {
            "aws:SourceArn" = [
              "arn:${local.partition}:cur:us-east-1:${local.account_id}:definition/*",
              "arn:${local.partition}:bcm-data-exports:us-east-1:${local.account_id}:export/*",
            ]
          }
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
      {
        Sid       = "TlsOnly"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [local.cost_export_bucket_arn, "${local.cost_export_bucket_arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.cost_export]
}

resource "aws_bcmdataexports_export" "this" {
  count = local.cost_export_on ? 1 : 0

  export {
    name        = local.cost_export_name
    description = "Tollgate ${var.name}: CUR 2.0, daily, for tollgate report --source cur"
    data_query {
      query_statement = "SELECT ${join(", ", local.cost_export_columns)} FROM COST_AND_USAGE_REPORT"
      table_configurations = {
        COST_AND_USAGE_REPORT = merge(
          {
            TIME_GRANULARITY                      = "DAILY"
            INCLUDE_RESOURCES                     = "FALSE"
            INCLUDE_MANUAL_DISCOUNT_COMPATIBILITY = "FALSE"
            INCLUDE_SPLIT_COST_ALLOCATION_DATA    = "FALSE"
          },
          # The caller identity (IAM principal) column and the iamPrincipal/ tags.
          var.cost_export.caller_identity ? { INCLUDE_CALLER_IDENTITY = "TRUE" } : {},
          var.cost_export.table_properties,
        )
      }
    }
    destination_configurations {
      s3_destination {
        s3_bucket = aws_s3_bucket.cost_export[0].bucket
        s3_prefix = var.cost_export.s3_prefix
        s3_region = local.region
        s3_output_configurations {
          overwrite   = "OVERWRITE_REPORT"
          format      = "PARQUET"
          compression = "PARQUET"
          output_type = "CUSTOM"
        }
      }
    }
    refresh_cadence {
      frequency = "SYNCHRONOUS"
    }
  }

  tags = var.tags

  # Data Exports checks the bucket policy when the export is created.
  depends_on = [aws_s3_bucket_policy.cost_export]
}
