variable "function_name" {
  description = "Name of the function; also the name of its role and the suffix of its log group /aws/lambda/<name>."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 letters, digits, hyphens or underscores."
  }
}

variable "description" {
  description = "Description of the function."
  type        = string
  default     = ""
}

variable "handler" {
  description = "Handler, module path and function (tollgate.handlers.<name>.handler)."
  type        = string
}

variable "runtime" {
  description = "Lambda runtime."
  type        = string
  default     = "python3.12"

  validation {
    condition     = can(regex("^python3\\.[0-9]+$", var.runtime))
    error_message = "runtime must be a Python runtime such as python3.12."
  }
}

variable "architecture" {
  description = "Instruction set: arm64 or x86_64."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_size" {
  description = "Memory in MB."
  type        = number
  default     = 256
}

variable "timeout" {
  description = "Timeout in seconds."
  type        = number
  default     = 30
}

variable "package_path" {
  description = "Path of the deployment zip (null when package_s3 is set)."
  type        = string
  default     = null
}

variable "package_s3" {
  description = "The deployment zip as an S3 object: bucket, key, object_version (null when package_path is set)."
  type = object({
    bucket         = string
    key            = string
    object_version = optional(string)
  })
  default = null

  validation {
    condition     = (var.package_s3 == null) != (var.package_path == null)
    error_message = "package_s3 and package_path: set exactly one (a local zip or an S3 object)."
  }
}

variable "source_code_hash" {
  description = "Base64 SHA-256 of the zip (filebase64sha256), so that a new package redeploys the code."
  type        = string
  default     = null
}

variable "environment" {
  description = "Environment variables of the function."
  type        = map(string)
  default     = {}
}

variable "policy_statements" {
  description = "Allow statements of the function's own policy, besides writing to its own log group (added here), decrypting its environment with kms_key_arn and writing X-Ray traces when tracing is on. sid must be alphanumeric."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
  default = []

  validation {
    condition     = alltrue([for s in var.policy_statements : can(regex("^[A-Za-z0-9]+$", s.sid)) && length(s.actions) > 0 && length(s.resources) > 0 && !contains(s.actions, "*")])
    error_message = "policy_statements: every statement needs an alphanumeric sid, at least one action (never \"*\") and at least one resource."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group in days."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the log group and the environment variables; null for AWS managed encryption."
  type        = string
  default     = null
}

variable "tracing_enabled" {
  description = "Active X-Ray tracing (adds the X-Ray write permissions)."
  type        = bool
  default     = true
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov), for the log group ARN."
  type        = string
  default     = "aws"
}

variable "region" {
  description = "Region of the function, for the log group ARN."
  type        = string
}

variable "account_id" {
  description = "Account of the function, for the log group ARN."
  type        = string
}

variable "iam_role_path" {
  description = "Path of the function's role."
  type        = string
  default     = "/"
}

variable "iam_permissions_boundary_arn" {
  description = "ARN of the managed policy set as the permissions boundary of the function's role (null: none)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the function, its role and its log group."
  type        = map(string)
  default     = {}
}

variable "role_tags" {
  description = "Extra tags on the role only: principal tags, which a CUR 2.0 export with caller identity shows as iamPrincipal/<key>."
  type        = map(string)
  default     = {}
}
