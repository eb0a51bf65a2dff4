variable "region" {
  description = "Region to deploy Tollgate into (one where the routed Bedrock models are enabled)."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Prefix for every resource name."
  type        = string
  default     = "tollgate"
}

variable "alarm_email_addresses" {
  description = "E-mail addresses that receive the alarms (each must confirm the subscription)."
  type        = list(string)
  default     = []
}

variable "table_deletion_protection" {
  description = "Deletion protection of the limits table; keep it on in production, turn it off before `terraform destroy`."
  type        = bool
  default     = true
}

variable "lambda_package_path" {
  description = "The Lambda zip; null means dist/tollgate.zip of the repository (built by `make package`)."
  type        = string
  default     = null
}
