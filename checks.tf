# Plan-time checks: warnings, not errors (a `check` never blocks an apply).

locals {
  # Route name -> the model behind it, and that model's catalogue entry (null: not in the catalogue).
  route_base_models = merge(
    { for alias, m in local.models : alias => m.model_id },
    { for k, p in local.profiles : k => p.base_model_id },
  )
  route_catalogue_entries = {
    for name, id in local.route_base_models : name => try(
      local.catalogue.models[id],
      local.catalogue.models[replace(id, local.geo_prefix_pattern, "")],
      null,
    )
  }
  # Legacy, or with an EOL date on or before the day of the plan.
  retiring_routes = {
    for name, m in local.route_catalogue_entries : name => {
      model_id  = local.route_base_models[name]
      lifecycle = coalesce(try(m.lifecycle, null), "unknown")
      eol_date  = try(m.eolDate, null)
      } if m != null && (
      try(m.lifecycle, null) == "LEGACY" ||
      timecmp("${coalesce(try(m.eolDate, null), "9999-12-31")}T00:00:00Z", plantimestamp()) <= 0
    )
  }
}

check "model_lifecycle" {
  assert {
    condition = !var.model_lifecycle_check || length(local.retiring_routes) == 0
    error_message = format(
      "Routes to models that Amazon Bedrock lists as Legacy or past their end of life (catalogue checked %s): %s. On AWS a call to a model past its EOL fails (ResourceNotFoundException), and a Legacy model stops working on its EOL date: route them to a model the catalogue lists as ACTIVE (see docs/models.md, and `tollgate models` for what Bedrock says today).",
      try(local.catalogue.checkedOn, "unknown"),
      join("; ", [
        for name, r in local.retiring_routes :
        "${name} -> ${r.model_id} (${r.lifecycle}${r.eol_date == null ? "" : ", EOL ${r.eol_date}"})"
      ]),
    )
  }
}

# Threshold alerts go to the alarm topic: with alarms off there is none, and alert_at does nothing.
check "alerts_need_a_topic" {
  assert {
    condition     = var.alarms.enabled || alltrue([for l in var.limits : length(l.alert_at) == 0])
    error_message = "limits: some limits set alert_at, but alarms.enabled is false: threshold alerts are sent to the alarm topic, so none will be sent. Enable alarms (or give alarms.sns_topic_arn) to receive them."
  }
}
