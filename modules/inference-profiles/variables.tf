variable "profiles" {
  description = "Application inference profiles by route name: profile name, what it copies (a foundation-model or system inference profile ARN), its tags, and the route data written for it (the model behind it, the alias it copies, price and max-tokens overrides)."
  type = map(object({
    name               = string
    description        = optional(string)
    copy_from          = string
    tags               = optional(map(string), {})
    base_model_id      = string
    base_route         = optional(string)
    input_usd_per_1k   = optional(number)
    output_usd_per_1k  = optional(number)
    max_tokens         = optional(number)
    default_max_tokens = optional(number)
  }))
  default = {}

  validation {
    condition     = alltrue([for p in values(var.profiles) : can(regex("^arn:aws(-[a-z]+)*:bedrock:[a-z0-9-]+:([0-9]{12})?:(foundation-model|inference-profile)/[A-Za-z0-9._:-]+$", p.copy_from))])
    error_message = "profiles: copy_from must be a foundation-model ARN or a system inference profile ARN."
  }

  validation {
    condition     = alltrue([for p in values(var.profiles) : can(regex("^([0-9a-zA-Z][ _-]?)+$", p.name)) && length(p.name) <= 64])
    error_message = "profiles: name must be 1-64 letters or digits, with single spaces, '_' or '-' between them."
  }

  validation {
    condition     = alltrue([for p in values(var.profiles) : p.description == null ? true : can(regex("^([0-9a-zA-Z:.][ _-]?)+$", p.description)) && length(p.description) <= 200])
    error_message = "profiles: description must be 1-200 letters, digits, ':' or '.', with single spaces, '_' or '-' between them."
  }
}
