# Spend per cost center against its monthly budget and USD limit: one widget per cost center,
# reading the aggregate series EstimatedCostUSD{CostCenter} (one series per cost center, no
# SEARCH), summed per day and accumulated over the dashboard's time range.

variable "cost_centers" {
  description = "Cost center -> its monthly AWS Budgets amount and monthly USD limit (either may be null), drawn as horizontal lines."
  type = map(object({
    budget_usd = optional(number)
    limit_usd  = optional(number)
  }))
  default = {}
}

locals {
  budget_widgets = [for i, cc in sort(keys(var.cost_centers)) : {
    type   = "metric"
    x      = 8 * (i % 3)
    y      = 68 + 6 * floor(i / 3)
    width  = 8
    height = 6
    properties = {
      title  = "Spend of ${cc} against budget and limit (USD)"
      region = var.region
      view   = "timeSeries"
      period = 86400
      metrics = [
        [local.ns, "EstimatedCostUSD", "CostCenter", cc, { id = "m1", stat = "Sum", visible = false }],
        [{ expression = "RUNNING_SUM(m1)", label = "${cc}: spend, cumulative over the time range", id = "e1" }],
      ]
      annotations = {
        horizontal = concat(
          var.cost_centers[cc].budget_usd == null ? [] : [{ label = "monthly budget", value = var.cost_centers[cc].budget_usd }],
          var.cost_centers[cc].limit_usd == null ? [] : [{ label = "monthly limit", value = var.cost_centers[cc].limit_usd }],
        )
      }
    }
  }]
}
