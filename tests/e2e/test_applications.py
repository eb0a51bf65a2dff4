"""The application registry, applied by Terraform into LocalStack (the STANDARD deployment has one):
a registered application within its tags and routes is served, anything else is a ValidationError
naming the tag."""

from __future__ import annotations

import pytest

from tollgate import cli

pytestmark = pytest.mark.e2e


def request(app: str, model: str = "nova-micro", **tags: str) -> dict:
    return {
        "model": model,
        "prompt": {"messages": [{"role": "user", "content": "Name one S3 storage class."}]},
        "tags": {"applicationId": app, **tags},
    }


def test_the_registry_admits_its_applications_and_refuses_the_rest(aws, standard_deployment):
    sfn = aws("stepfunctions")
    arn = standard_deployment.state_machine_arn
    app = standard_deployment.run.app("registry")

    item = aws("dynamodb").get_item(
        TableName=standard_deployment.table, Key={"pk": {"S": "APPLICATION"}, "sk": {"S": app}}
    )["Item"]
    assert item["costCenters"] == {"L": [{"S": "sales"}]}
    assert "environments" not in item  # left null: any environment

    served = cli.run_request(sfn, arn, request(app, costCenter="sales"), express=False)
    assert served.name == "Succeeded", served.as_dict()
    assert served.output["tags"] == {"applicationId": app, "costCenter": "sales"}
    # billed through the attribution profile of its combination (environment left open: unassigned)
    profile = served.output["modelId"]
    assert ":application-inference-profile/" in profile, served.output
    tags = {t["key"]: t["value"] for t in aws("bedrock").list_tags_for_resource(resourceARN=profile)["tags"]}
    assert {k: tags.get(k) for k in ("applicationId", "costCenter", "environment")} == {
        "applicationId": app,
        "costCenter": "sales",
        "environment": "unassigned",
    }

    refused = {
        "tags.applicationId": request(standard_deployment.run.app("invented"), costCenter="sales"),
        "tags.costCenter": request(app, costCenter="support"),
        "model": request(app, model="nova-lite", costCenter="sales"),
    }
    for field, body in refused.items():
        outcome = cli.run_request(sfn, arn, body, express=False)
        assert outcome.name == "ValidationError", outcome.as_dict()
        assert [e["field"] for e in outcome.cause["errors"]] == [field], outcome.cause
