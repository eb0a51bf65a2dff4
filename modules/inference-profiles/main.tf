# Application inference profiles: one per route (cost center, team, application). Their tags
# become cost allocation tags in billing; Tollgate routes requests whose `model` is the route
# name to the profile's ARN.

resource "aws_bedrock_inference_profile" "this" {
  for_each = var.profiles

  name        = each.value.name
  description = each.value.description
  tags        = each.value.tags

  model_source {
    copy_from = each.value.copy_from
  }
}
