output "function_arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "role_arn" {
  description = "ARN of the function's role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the function's role."
  value       = aws_iam_role.this.name
}

output "policy" {
  description = "The role's inline policy document (JSON)."
  value       = local.policy
}

output "log_group_name" {
  description = "Name of the function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "log_group_arn" {
  description = "ARN of the function's log group."
  value       = local.log_group_arn
}

output "role_path" {
  description = "Path of the function's role."
  value       = aws_iam_role.this.path
}

output "role_permissions_boundary" {
  description = "Permissions boundary of the function's role (null: none)."
  value       = aws_iam_role.this.permissions_boundary
}

output "resource_tags" {
  description = "Tags of each taggable resource of the module: function, role, log group."
  value = {
    function  = aws_lambda_function.this.tags
    role      = aws_iam_role.this.tags
    log_group = aws_cloudwatch_log_group.this.tags
  }
}

output "package" {
  description = "Where the function's code comes from: filename, or s3_bucket, s3_key and s3_object_version."
  value = {
    filename          = aws_lambda_function.this.filename
    s3_bucket         = aws_lambda_function.this.s3_bucket
    s3_key            = aws_lambda_function.this.s3_key
    s3_object_version = aws_lambda_function.this.s3_object_version
  }
}

output "role_tags" {
  description = "The tags on the function's role (its principal tags)."
  value       = aws_iam_role.this.tags
}
