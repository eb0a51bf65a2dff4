terraform {
  # 1.9: input validations that refer to other variables and locals (profile -> alias,
  # limit scope -> route, missing Lambda package). `terraform test` mock providers need 1.7.
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.81: the first release with aws_bedrock_inference_profile.
      version = ">= 5.81"
    }
  }
}
