variable "name" {
  description = "Prefix of the alarm and topic names."
  type        = string
}

variable "metrics_namespace" {
  description = "Namespace of Tollgate's metrics."
  type        = string
  default     = "GenAIRateLimiting"
}

variable "state_machine_arn" {
  description = "ARN of the Tollgate state machine (for ExecutionsFailed)."
  type        = string
}

variable "sns_topic_arn" {
  description = "Existing SNS topic for the alarms; null creates `<name>-alarms`."
  type        = string
  default     = null
}

variable "email_addresses" {
  description = "E-mail addresses subscribed to the topic (each must confirm the subscription)."
  type        = list(string)
  default     = []
}

variable "kms_key_arn" {
  description = "KMS key for the created topic; its policy must let cloudwatch.amazonaws.com use it. Null leaves the topic unencrypted (CloudWatch alarms cannot publish to a topic under the AWS managed SNS key)."
  type        = string
  default     = null
}

variable "period_seconds" {
  description = "Period over which each alarm sums its metric."
  type        = number
  default     = 300
}

variable "evaluation_periods" {
  description = "Number of periods that must breach before an alarm fires."
  type        = number
  default     = 1
}

variable "denied_threshold" {
  description = "RateLimitDenied per period (all dimensions summed) at which the alarm fires."
  type        = number
  default     = 10
}

variable "invocation_failed_threshold" {
  description = "InvocationFailed per period (all dimensions summed) at which the alarm fires."
  type        = number
  default     = 5
}

variable "executions_failed_threshold" {
  description = "Failed workflow executions per period at which the alarm fires (every outcome other than success ends in a Fail state, so this counts denials and invalid requests too)."
  type        = number
  default     = 10
}

variable "tags" {
  description = "Tags for the alarms and the topic."
  type        = map(string)
  default     = {}
}

variable "budgets_publish" {
  description = "Whether AWS Budgets notify the created topic: adds a topic policy that lets budgets.amazonaws.com publish (for the budgets matching budgets_source_arn). False keeps SNS's default policy. A given topic's policy is left to its owner."
  type        = bool
  default     = false
}

variable "budgets_source_arn" {
  description = "aws:SourceArn pattern of the budgets allowed to publish (arn:<partition>:budgets::<account>:*)."
  type        = string
  default     = null
}

variable "account_id" {
  description = "Account that owns the topic (aws:SourceAccount of the publishing services)."
  type        = string
  default     = null
}

variable "partition" {
  description = "AWS partition of the account (aws, aws-cn, aws-us-gov)."
  type        = string
  default     = "aws"
}

variable "region" {
  description = "Region of the topic."
  type        = string
  default     = null
}

variable "executions_timed_out_threshold" {
  description = "Timed-out executions per period that raise the alarm."
  type        = number
  default     = 1
}

variable "swept_reservations_threshold" {
  description = "Reservations closed by the sweeper per period that raise the alarm."
  type        = number
  default     = 1
}
