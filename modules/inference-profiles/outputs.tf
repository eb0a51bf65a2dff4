output "arns" {
  description = "Profile ARN by route name."
  value       = { for k, p in aws_bedrock_inference_profile.this : k => p.arn }
}

output "ids" {
  description = "Profile unique ID (the last segment of the ARN; the ModelId under which AWS/Bedrock reports its metrics) by route name."
  value       = { for k, p in aws_bedrock_inference_profile.this : k => reverse(split("/", p.arn))[0] }
}

output "names" {
  description = "Profile name by route name."
  value       = { for k, p in aws_bedrock_inference_profile.this : k => p.name }
}

output "routes" {
  description = "Route data by route name, in the shape the root module writes as ROUTE items (kind application_profile, modelId = the profile ARN)."
  value = {
    for k, p in var.profiles : k => {
      kind               = "application_profile"
      model_id           = aws_bedrock_inference_profile.this[k].arn
      base_model_id      = p.base_model_id
      base_route         = p.base_route
      input_usd_per_1k   = p.input_usd_per_1k
      output_usd_per_1k  = p.output_usd_per_1k
      max_tokens         = p.max_tokens
      default_max_tokens = p.default_max_tokens
    }
  }
}

output "tags" {
  description = "Profile tags (its cost allocation tags) by route name."
  value       = { for k, p in aws_bedrock_inference_profile.this : k => p.tags }
}

output "copy_from" {
  description = "What each profile copies (a foundation-model or system inference profile ARN) by route name."
  value       = { for k, p in aws_bedrock_inference_profile.this : k => p.model_source[0].copy_from }
}
