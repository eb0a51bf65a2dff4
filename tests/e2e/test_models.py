"""Models end to end: the catalogue's parameter rule matches what the emulator enforces as Bedrock
does, and `tollgate models` reports the lifecycles the emulator answers."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from test_workflow import request, run

from tollgate import cli

pytestmark = pytest.mark.e2e

HAIKU_45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


def sampling(temperature=None, top_p=None) -> dict:
    parameters = {"max_tokens": 200, "temperature": temperature, "top_p": top_p}
    return {k: v for k, v in parameters.items() if v is not None}


def test_the_emulator_rejects_temperature_with_top_p_as_bedrock_does(aws):
    runtime = aws("bedrock-runtime", retries=1)
    messages = [{"role": "user", "content": [{"text": "Name three uses of Amazon S3."}]}]
    with pytest.raises(ClientError) as refused:
        runtime.converse(
            modelId=HAIKU_45, messages=messages, inferenceConfig={"temperature": 0.7, "topP": 0.9}
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "`temperature` and `top_p` cannot both be specified" in refused.value.response["Error"]["Message"]
    # one of them alone is fine, and older Claude models still take both
    assert runtime.converse(modelId=HAIKU_45, messages=messages, inferenceConfig={"temperature": 0.7})[
        "usage"
    ]
    both = {"temperature": 0.7, "topP": 0.9}
    older = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert runtime.converse(modelId=older, messages=messages, inferenceConfig=both)["usage"]


def test_tollgate_refuses_the_pair_before_bedrock_and_passes_either_alone(aws, deployment):
    sfn = aws("stepfunctions")
    app = deployment.run.app("sampling")
    body = request("claude-haiku-4-5", app)
    body["prompt"]["parameters"] = sampling(0.7, 0.9)
    refused = run(sfn, deployment, body)
    assert refused.name == "ValidationError", refused.as_dict()
    (error,) = refused.cause["errors"]
    assert error["field"] == "prompt.parameters.top_p"
    assert "only one of temperature and top_p" in error["message"]

    for parameters in (sampling(temperature=0.7), sampling(top_p=0.9)):
        body["prompt"]["parameters"] = parameters
        ok = run(sfn, deployment, body)
        assert ok.name == "Succeeded", ok.as_dict()
        assert ok.output["modelId"] == HAIKU_45
        # Converse reported no cache use: the cost is input and output at the us. profile's prices
        usage = ok.output["usage"]
        expected = (usage["inputTokens"] * 0.0011 + usage["outputTokens"] * 0.0055) / 1000
        assert ok.output["costUsd"] == pytest.approx(expected, abs=1e-9)

    # the article's request (temperature and top_p) still runs on the article's model
    article = request("claude-3-5-haiku", app)
    article["prompt"]["parameters"] = sampling(0.7, 0.9)
    assert run(sfn, deployment, article).name == "Succeeded"


def test_tollgate_models_lists_the_lifecycles_the_emulator_reports(
    deployment, localstack_endpoint, monkeypatch, capsys
):
    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
        monkeypatch.setenv(name, value)
    argv = [
        "models",
        "--table",
        deployment.table,
        "--endpoint-url",
        localstack_endpoint,
        "--region",
        "us-east-1",
    ]
    assert cli.main([*argv, "--json"]) == 0
    rows = {row["route"]: row for row in json.loads(capsys.readouterr().out)}

    assert rows["claude-haiku-4-5"]["foundationModel"] == "anthropic.claude-haiku-4-5-20251001-v1:0"
    assert (rows["claude-haiku-4-5"]["status"], rows["claude-haiku-4-5"]["flag"]) == ("ACTIVE", "")
    assert rows["nova-lite"]["status"] == "ACTIVE" and not rows["nova-lite"]["flag"]
    # the article's model: LEGACY on Bedrock, its EOL date from GetFoundationModel's endOfLifeTime
    haiku_35 = rows["claude-3-5-haiku"]
    assert (haiku_35["status"], haiku_35["endOfLife"]) == ("LEGACY", "2026-06-19")
    assert haiku_35["flag"] == "EOL since 2026-06-19"
    assert rows["claude-2"]["status"] == "LEGACY" and rows["claude-2"]["flag"]
    # a cost-center profile is reported by the model it copies
    assert rows["sales"]["kind"] == "application_profile"
    assert rows["sales"]["foundationModel"] == "anthropic.claude-3-haiku-20240307-v1:0"
    assert rows["sales"]["flag"] == "EOL since 2026-09-10"

    assert cli.main(argv) == 0
    table = capsys.readouterr().out
    assert "claude-3-5-haiku" in table and "EOL since 2026-06-19" in table
    assert "routes need attention" in table
