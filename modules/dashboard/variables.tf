variable "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.dashboard_name))
    error_message = "dashboard_name must be 1-255 letters, digits, '-' or '_'."
  }
}

variable "region" {
  description = "Region whose metrics and logs the widgets show."
  type        = string
}

variable "metrics_namespace" {
  description = "Namespace of Tollgate's metrics."
  type        = string
  default     = "GenAIRateLimiting"
}

variable "bedrock_model_ids" {
  description = "Values of the AWS/Bedrock ModelId dimension to chart: every routed model or system profile ID and every application profile's unique ID."
  type        = list(string)
  default     = []
}

variable "state_machine_arn" {
  description = "ARN of the Tollgate state machine."
  type        = string
}

variable "function_names" {
  description = "Function name by role (validate, rate_limit, invoke, record_metrics)."
  type        = map(string)
}

variable "record_metrics_log_group_name" {
  description = "Log group of the record-metrics function, which logs one JSON line per execution (outcome, requestId, route, modelId, costCenter, applicationId, environment, limitId, tokens, costUsd)."
  type        = string
}

variable "period_seconds" {
  description = "Period of the metric widgets in seconds."
  type        = number
  default     = 300

  validation {
    condition     = var.period_seconds >= 60 && var.period_seconds % 60 == 0
    error_message = "period_seconds must be a multiple of 60."
  }
}
