"""The same module as a STANDARD workflow: started, polled, and ending in the same outcomes."""

from __future__ import annotations

import json

import pytest

from tollgate import cli

pytestmark = pytest.mark.e2e


def request(app: str) -> dict:
    return {
        "model": "nova-micro",
        "prompt": {"messages": [{"role": "user", "content": "Name two S3 storage classes."}]},
        "tags": {"applicationId": app, "environment": "dev"},
    }


def test_standard_workflow_runs_the_same_outcomes(aws, standard_deployment):
    sfn = aws("stepfunctions")
    arn = standard_deployment.state_machine_arn
    assert sfn.describe_state_machine(stateMachineArn=arn)["type"] == "STANDARD"
    assert not cli.is_express(sfn, arn)
    app = standard_deployment.run.app("standard")

    first = cli.run_request(sfn, arn, request(app), express=False)
    assert first.name == "Succeeded", first.as_dict()
    assert first.output["usage"]["outputTokens"] > 0
    # the deployment has a registry: the call went through the application's attribution profile
    # for nova-micro (DESIGN: modelId is the resolved model or profile ARN, modelMetric its ID)
    profile = first.output["modelId"]
    assert ":application-inference-profile/" in profile, profile
    assert first.output["modelMetric"] == profile.rsplit("/", 1)[1]
    copied = aws("bedrock").get_inference_profile(inferenceProfileIdentifier=profile)
    assert [m["modelArn"].rsplit("/", 1)[1] for m in copied["models"]] == ["amazon.nova-micro-v1:0"]
    tags = {t["key"]: t["value"] for t in aws("bedrock").list_tags_for_resource(resourceARN=profile)["tags"]}
    assert (tags["applicationId"], tags["environment"]) == (app, "dev")

    second = cli.run_request(sfn, arn, request(app), express=False)  # the limit is 1 request a day
    assert second.name == "RateLimitExceeded", second.as_dict()
    assert second.cause["limit"]["id"] == f"applicationId={app}/day/requests"

    # a STANDARD execution keeps its history: the Fail state and its cause are in it
    history = sfn.get_execution_history(executionArn=second.execution_arn, reverseOrder=True)["events"]
    failed = next(e for e in history if e["type"] == "ExecutionFailed")["executionFailedEventDetails"]
    assert failed["error"] == "RateLimitExceeded"
    assert json.loads(failed["cause"])["limit"]["limit"] == 1


def test_invalid_input_fails_the_same_way(aws, standard_deployment):
    sfn = aws("stepfunctions")
    outcome = cli.run_request(
        sfn, standard_deployment.state_machine_arn, {"model": "nova-micro"}, express=False
    )
    assert outcome.name == "ValidationError"
    assert {"prompt", "tags"} <= {e["field"] for e in outcome.cause["errors"]}
