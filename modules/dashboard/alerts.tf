# Alert events: the threshold alerts the rate-limit function sent (one JSON log line each, message
# "Threshold alert sent"), newest first. Shown only when alerts are on.

variable "alert_log_group_name" {
  description = "Log group of the rate-limit function, which logs one line per threshold alert it sends (limitId, scopeValue, threshold, used, ceiling, unit, windowEnd, shadow). Null: no alert widget."
  type        = string
  default     = null
}

locals {
  alert_widgets = var.alert_log_group_name == null ? [] : [{
    type   = "log"
    x      = 0
    y      = 68 + 6 * ceil(length(var.cost_centers) / 3)
    width  = 24
    height = 6
    properties = {
      title  = "Alert events (thresholds reached)"
      region = var.region
      view   = "table"
      query  = "SOURCE '${var.alert_log_group_name}' | fields @timestamp, limitId, scopeValue, threshold, used, ceiling, unit, windowEnd, shadow | filter message = \"Threshold alert sent\" | sort @timestamp desc | limit 100"
    }
  }]
}
