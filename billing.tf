# Billing: the profiles' tag keys as cost allocation tags, and AWS Budgets on the spend tagged with
# a cost center (or any tag), notifying the module's SNS topic. See docs/reporting.md.

resource "aws_ce_cost_allocation_tag" "this" {
  for_each = var.cost_allocation_tags.enabled ? toset(var.cost_allocation_tags.keys) : toset([])

  tag_key = each.value
  status  = "Active"

  # AWS lists a key only once some resource carries it: the profiles' tags come first.
  depends_on = [module.inference_profiles]
}

locals {
  # The topic budgets notify: the alarms' topic (given, or created as <name>-alarms; built so that
  # the plan shows it), none when alarms are off.
  budget_topic_arn = !var.alarms.enabled ? null : coalesce(
    var.alarms.sns_topic_arn, "arn:${local.partition}:sns:${local.region}:${local.account_id}:${var.name}-alarms"
  )

  budgets = {
    for k, b in var.budgets : k => {
      name      = "${var.name}-${k}"
      amount    = b.amount_usd
      tag_key   = b.tag_key
      tag_value = coalesce(b.tag_value, k)
      services  = b.services
      emails    = b.email_addresses
      notifications = concat(
        [for t in b.actual_thresholds : { type = "ACTUAL", threshold = t }],
        [for t in b.forecast_thresholds : { type = "FORECASTED", threshold = t }],
      )
    }
  }

  # AWS Budgets publishes as budgets.amazonaws.com; scoped to this account's budgets (the form
  # of the Budgets user guide's topic policy).
  budgets_source_arn = "arn:${local.partition}:budgets::${local.account_id}:*"
}

resource "aws_budgets_budget" "this" {
  for_each = local.budgets

  name         = each.value.name
  budget_type  = "COST"
  limit_amount = tostring(each.value.amount)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  # Only when given: Claude bills under AWS Marketplace names ("... (Amazon Bedrock Edition)")
  # that a Service = Amazon Bedrock filter misses; every Tollgate call carries the profile's tags.
  dynamic "cost_filter" {
    for_each = each.value.services == null ? [] : [each.value.services]
    content {
      name   = "Service"
      values = cost_filter.value
    }
  }

  # A cost allocation tag filter: user:<key>$<value>.
  cost_filter {
    name   = "TagKeyValue"
    values = [format("user:%s$%s", each.value.tag_key, each.value.tag_value)]
  }

  dynamic "notification" {
    for_each = each.value.notifications
    content {
      comparison_operator        = "GREATER_THAN"
      threshold                  = notification.value.threshold
      threshold_type             = "PERCENTAGE"
      notification_type          = notification.value.type
      subscriber_sns_topic_arns  = local.budget_topic_arn == null ? [] : [local.budget_topic_arn]
      subscriber_email_addresses = each.value.emails
    }
  }

  tags = var.tags

  # The topic's access policy and the key policy must let Budgets publish before the first alert;
  # a tag filter counts only once the tag is activated.
  depends_on = [module.alarms, aws_kms_key.this, aws_ce_cost_allocation_tag.this]

  lifecycle {
    precondition {
      condition     = length(each.value.name) <= 100
      error_message = "budgets: `<name>-<key>` (${each.value.name}) must be at most 100 characters, the longest budget name AWS Budgets accepts."
    }
    # Without a topic and without an address, AWS Budgets has no one to notify.
    precondition {
      condition     = var.alarms.enabled || length(each.value.emails) > 0
      error_message = "budgets: ${each.key} needs at least one address in email_addresses while alarms.enabled is false (there is no SNS topic to notify)."
    }
  }
}

locals {
  # The dashboard's spend-against-budget widgets: every cost center with a budget or a monthly
  # USD limit of its own.
  cost_center_budgets = { for k, b in local.budgets : b.tag_value => b.amount if b.tag_key == "costCenter" }
  cost_center_limits = {
    for i, l in var.limits : l.scope.costCenter => l.limit...
    if l.unit == "usd" && l.window == "month" && length(l.scope) == 1 && lookup(l.scope, "costCenter", "*") != "*"
  }
  dashboard_cost_centers = {
    for cc in distinct(concat(keys(local.cost_center_budgets), keys(local.cost_center_limits))) : cc => {
      budget_usd = lookup(local.cost_center_budgets, cc, null)
      limit_usd  = try(min(local.cost_center_limits[cc]...), null)
    }
  }
}
