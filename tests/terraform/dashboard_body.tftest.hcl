# The dashboard body that the unit tests of the local renderer read
# (tests/unit/data/dashboard_body.json, tests/unit/test_dashboard.py) is exactly the one
# modules/dashboard renders from tests/unit/data/dashboard.tfvars.json: when the module's widgets
# change, this fails until the fixture is rendered again, so the renderer is tested on what
# Terraform applies. To render it again:
#   echo 'local.body' | terraform -chdir=modules/dashboard console \
#     -var-file=../../tests/unit/data/dashboard.tfvars.json | jq -r 'fromjson' > tests/unit/data/dashboard_body.json

mock_provider "aws" {}

run "the_renderer_fixture_is_the_body_the_module_renders" {
  command = plan

  module {
    source = "./modules/dashboard"
  }

  variables {
    dashboard_name                = jsondecode(file("tests/unit/data/dashboard.tfvars.json")).dashboard_name
    region                        = jsondecode(file("tests/unit/data/dashboard.tfvars.json")).region
    metrics_namespace             = jsondecode(file("tests/unit/data/dashboard.tfvars.json")).metrics_namespace
    bedrock_model_ids             = jsondecode(file("tests/unit/data/dashboard.tfvars.json")).bedrock_model_ids
    state_machine_arn             = jsondecode(file("tests/unit/data/dashboard.tfvars.json")).state_machine_arn
    function_names                = jsondecode(file("tests/unit/data/dashboard.tfvars.json")).function_names
    record_metrics_log_group_name = jsondecode(file("tests/unit/data/dashboard.tfvars.json")).record_metrics_log_group_name
    cost_centers                  = jsondecode(file("tests/unit/data/dashboard.tfvars.json")).cost_centers
    alert_log_group_name          = jsondecode(file("tests/unit/data/dashboard.tfvars.json")).alert_log_group_name
  }

  assert {
    condition     = output.dashboard_body == jsonencode(jsondecode(file("tests/unit/data/dashboard_body.json")))
    error_message = "tests/unit/data/dashboard_body.json is not the body modules/dashboard renders: render it again (see the top of this file)."
  }
}
