"""The Bedrock emulator (local/plugins/tollgate_localstack/bedrock): control plane, runtime,
validation, the fault switch, the AWS/Bedrock metrics, and Terraform's aws_bedrock_inference_profile."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from localstack import ROOT, faults

pytestmark = pytest.mark.e2e

CATALOGUE = json.loads((ROOT / "functions" / "tollgate" / "data" / "models.json").read_text())
HAIKU_PROFILE = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
SYSTEM_PROFILES = [
    HAIKU_PROFILE,
    "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
    "us.amazon.nova-lite-v1:0",
    "us.amazon.nova-micro-v1:0",
]
APPLICATION_ARN = re.compile(r"^arn:aws:bedrock:us-east-1:\d{12}:application-inference-profile/[a-z0-9]{12}$")


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


def tokens(text: str) -> int:
    """The emulator's documented token count: words and punctuation characters."""
    return len(re.findall(r"\w+|[^\w\s]", text))


def error_of(call) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value


def code(e: ClientError) -> tuple[str, int]:
    return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def bedrock(aws):
    return aws("bedrock")


@pytest.fixture(scope="module")
def runtime(aws):
    return aws("bedrock-runtime", retries=1)  # no retries: the tests count every call


@pytest.fixture(scope="module")
def account(aws):
    return aws("sts").get_caller_identity()["Account"]


@pytest.fixture
def profile(bedrock, account):
    """A fresh application profile over Claude 3.5 Haiku's system profile; its ID keys faults and metrics."""
    source = (
        f"arn:aws:bedrock:us-east-1:{account}:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
    )
    arn = bedrock.create_inference_profile(
        inferenceProfileName=f"e2e-{uuid.uuid4().hex[:10]}", modelSource={"copyFrom": source}
    )["inferenceProfileArn"]
    yield arn
    bedrock.delete_inference_profile(inferenceProfileIdentifier=arn)


# --- control plane --------------------------------------------------------------------------------
def test_every_catalogue_model_is_a_foundation_model(bedrock):
    listed = {m["modelId"]: m for m in bedrock.list_foundation_models()["modelSummaries"]}
    for model_id in (m for m in CATALOGUE["models"] if not m.startswith(("us.", "eu.", "global."))):
        details = bedrock.get_foundation_model(modelIdentifier=model_id)["modelDetails"]
        assert details["modelId"] == model_id
        assert details["modelArn"] == f"arn:aws:bedrock:us-east-1::foundation-model/{model_id}"
        assert model_id in listed
    anthropic = bedrock.list_foundation_models(byProvider="anthropic")["modelSummaries"]
    assert anthropic and all(m["providerName"] == "Anthropic" for m in anthropic)
    assert code(error_of(lambda: bedrock.get_foundation_model(modelIdentifier="acme.nothing-v1:0")))[0] == (
        "ResourceNotFoundException"
    )


def test_system_profiles(bedrock, account):
    default = {
        p["inferenceProfileId"]: p for p in bedrock.list_inference_profiles()["inferenceProfileSummaries"]
    }
    assert {p["type"] for p in default.values()} == {"SYSTEM_DEFINED"}
    for profile_id in SYSTEM_PROFILES:
        assert profile_id in default
        got = bedrock.get_inference_profile(inferenceProfileIdentifier=profile_id)
        assert got["type"] == "SYSTEM_DEFINED" and got["status"] == "ACTIVE"
        assert (
            got["inferenceProfileArn"]
            == f"arn:aws:bedrock:us-east-1:{account}:inference-profile/{profile_id}"
        )
        base = profile_id.split(".", 1)[1]
        assert [m["modelArn"] for m in got["models"]] == [
            f"arn:aws:bedrock:{r}::foundation-model/{base}" for r in ("us-east-1", "us-east-2", "us-west-2")
        ]
        by_arn = bedrock.get_inference_profile(inferenceProfileIdentifier=got["inferenceProfileArn"])
        assert {k: v for k, v in by_arn.items() if k != "ResponseMetadata"} == {
            k: v for k, v in got.items() if k != "ResponseMetadata"
        }


def test_application_profile_lifecycle_and_tags(bedrock, account):
    system_arn = f"arn:aws:bedrock:us-east-1:{account}:inference-profile/us.amazon.nova-lite-v1:0"
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    created = bedrock.create_inference_profile(
        inferenceProfileName=name,
        modelSource={"copyFrom": system_arn},
        tags=[{"key": "costCenter", "value": "sales"}, {"key": "team", "value": "a"}],
    )
    arn = created["inferenceProfileArn"]
    assert APPLICATION_ARN.match(arn) and created["status"] == "ACTIVE"
    profile_id = arn.rsplit("/", 1)[1]

    got = bedrock.get_inference_profile(inferenceProfileIdentifier=profile_id)
    assert got["inferenceProfileArn"] == arn and got["inferenceProfileId"] == profile_id
    assert got["inferenceProfileName"] == name and got["type"] == "APPLICATION" and got["status"] == "ACTIVE"
    assert "description" not in got, "nothing was sent, so nothing comes back (Terraform checks this)"
    system = bedrock.get_inference_profile(inferenceProfileIdentifier=system_arn)
    assert got["models"] == system["models"], "a profile copied from a system profile carries its models"
    assert bedrock.get_inference_profile(inferenceProfileIdentifier=arn)["inferenceProfileId"] == profile_id

    apps = bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
    assert arn in {p["inferenceProfileArn"] for p in apps}
    assert {p["type"] for p in apps} == {"APPLICATION"}
    system_only = bedrock.list_inference_profiles(typeEquals="SYSTEM_DEFINED")["inferenceProfileSummaries"]
    assert arn not in {p["inferenceProfileArn"] for p in system_only}

    def tags():
        return {t["key"]: t["value"] for t in bedrock.list_tags_for_resource(resourceARN=arn)["tags"]}

    assert tags() == {"costCenter": "sales", "team": "a"}
    bedrock.tag_resource(resourceARN=arn, tags=[{"key": "environment", "value": "prod"}])
    bedrock.untag_resource(resourceARN=arn, tagKeys=["team"])
    assert tags() == {"costCenter": "sales", "environment": "prod"}

    fm_arn = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
    single = bedrock.create_inference_profile(
        inferenceProfileName=f"{name}-fm", description="one region", modelSource={"copyFrom": fm_arn}
    )["inferenceProfileArn"]
    described = bedrock.get_inference_profile(inferenceProfileIdentifier=single)
    assert described["models"] == [{"modelArn": fm_arn}] and described["description"] == "one region"

    for doomed in (arn, single):
        bedrock.delete_inference_profile(inferenceProfileIdentifier=doomed)
        assert code(
            error_of(lambda d=doomed: bedrock.get_inference_profile(inferenceProfileIdentifier=d))
        ) == (
            "ResourceNotFoundException",
            404,
        )
    assert code(error_of(lambda: bedrock.delete_inference_profile(inferenceProfileIdentifier=arn)))[0] == (
        "ResourceNotFoundException"
    )
    assert (
        code(error_of(lambda: bedrock.list_tags_for_resource(resourceARN=arn)))[0]
        == "ResourceNotFoundException"
    )


# --- runtime ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "model_id",
    [
        "amazon.nova-lite-v1:0",
        "amazon.nova-micro-v1:0",
        "anthropic.claude-3-haiku-20240307-v1:0",
        "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
        "arn:aws:bedrock:us-east-1:000000000000:inference-profile/us.amazon.nova-lite-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0",
    ],
)
def test_converse_is_deterministic_and_counts_tokens(runtime, model_id):
    prompt = "Explain the benefits of using S3 using only 100 words."
    system = "You are a helpful AWS expert."
    kwargs = {
        "modelId": model_id,
        "messages": user(prompt),
        "system": [{"text": system}],
        "inferenceConfig": {"maxTokens": 2000, "temperature": 0.7, "topP": 0.9},
    }
    first, second = runtime.converse(**kwargs), runtime.converse(**kwargs)
    text = first["output"]["message"]["content"][0]["text"]
    assert first["output"]["message"]["role"] == "assistant"
    assert text == second["output"]["message"]["content"][0]["text"]
    assert first["usage"] == second["usage"]
    assert first["usage"]["inputTokens"] == tokens(prompt) + tokens(system) + 3
    assert first["usage"]["outputTokens"] == tokens(text) == 101, "100 words asked, and the final period"
    assert first["usage"]["totalTokens"] == first["usage"]["inputTokens"] + first["usage"]["outputTokens"]
    assert first["stopReason"] == "end_turn"
    assert first["metrics"]["latencyMs"] >= 0


def test_converse_never_exceeds_max_tokens(runtime):
    for max_tokens in (1, 7, 40):
        out = runtime.converse(
            modelId="amazon.nova-micro-v1:0",
            messages=user("Tell me about DynamoDB in 50 words."),
            inferenceConfig={"maxTokens": max_tokens},
        )
        text = out["output"]["message"]["content"][0]["text"]
        assert out["usage"]["outputTokens"] == tokens(text) == max_tokens
        assert out["stopReason"] == "max_tokens"


def test_a_multi_turn_conversation_counts_every_message(runtime):
    messages = [
        {"role": "user", "content": [{"text": "Hi there!"}]},
        {"role": "assistant", "content": [{"text": "Hello, how can I help?"}]},
        {"role": "user", "content": [{"text": "Name one AWS region."}]},
    ]
    out = runtime.converse(modelId="us.amazon.nova-lite-v1:0", messages=messages)
    assert out["usage"]["inputTokens"] == tokens("Hi there!") + tokens("Hello, how can I help?") + tokens(
        "Name one AWS region."
    ) + 3 * len(messages)


def test_converse_with_an_application_profile(runtime, profile):
    out = runtime.converse(modelId=profile, messages=user("Hello"), inferenceConfig={"maxTokens": 20})
    assert out["usage"]["outputTokens"] <= 20


def test_additional_fields_are_checked_per_family(runtime):
    ok_anthropic = runtime.converse(
        modelId="us.anthropic.claude-3-5-haiku-20241022-v1:0",
        messages=user("hi"),
        additionalModelRequestFields={"top_k": 50},
    )
    ok_nova = runtime.converse(
        modelId="amazon.nova-lite-v1:0",
        messages=user("hi"),
        additionalModelRequestFields={"inferenceConfig": {"topK": 20}},
    )
    assert ok_anthropic["stopReason"] and ok_nova["stopReason"]
    wrong = [
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", {"inferenceConfig": {"topK": 20}}, "inferenceConfig"),
        ("amazon.nova-lite-v1:0", {"top_k": 50}, "top_k"),
        ("meta.llama3-1-8b-instruct-v1:0", {"top_k": 50}, "top_k"),
        ("anthropic.claude-3-haiku-20240307-v1:0", {"top_k": 50, "foo": 1}, "foo"),
    ]
    for model_id, fields, named in wrong:
        e = error_of(
            lambda m=model_id, f=fields: runtime.converse(
                modelId=m, messages=user("hi"), additionalModelRequestFields=f
            )
        )
        assert code(e) == ("ValidationException", 400)
        assert f"[{named}]" in e.response["Error"]["Message"], e.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("model_id", "error", "message"),
    [
        ("acme.unknown-model-v1:0", "ValidationException", "The provided model identifier is invalid."),
        ("arn:aws:bedrock:us-east-1:000000000000:application-inference-profile/abcdefabcdef",
         "ValidationException",
         "The provided model identifier is invalid."),
        ("anthropic.claude-v2:0", "ResourceNotFoundException",
         "This model version has reached the end of its life"),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", "ValidationException",
         "Invocation of model ID anthropic.claude-3-5-haiku-20241022-v1:0 with on-demand throughput isn't "
         "supported. Retry your request with the ID or ARN of an inference profile that contains this "
         "model."),
    ],
)  # fmt: skip
def test_model_identifier_errors(runtime, model_id, error, message):
    e = error_of(lambda: runtime.converse(modelId=model_id, messages=user("hi")))
    assert e.response["Error"]["Code"] == error
    assert message in e.response["Error"]["Message"]


def test_request_errors(runtime):
    too_many = error_of(
        lambda: runtime.converse(
            modelId="amazon.nova-lite-v1:0", messages=user("hi"), inferenceConfig={"maxTokens": 5001}
        )
    )
    assert code(too_many) == ("ValidationException", 400) and "5000" in too_many.response["Error"]["Message"]
    assistant_first = error_of(
        lambda: runtime.converse(
            modelId="amazon.nova-lite-v1:0", messages=[{"role": "assistant", "content": [{"text": "x"}]}]
        )
    )
    assert "must start with a user message" in assistant_first.response["Error"]["Message"]
    hot = error_of(
        lambda: runtime.converse(
            modelId="amazon.nova-lite-v1:0", messages=user("hi"), inferenceConfig={"temperature": 1.5}
        )
    )
    assert code(hot) == ("ValidationException", 400)


def test_invoke_model_with_native_bodies(runtime):
    anthropic = runtime.invoke_model(
        modelId="us.anthropic.claude-3-5-haiku-20241022-v1:0",
        body=json.dumps(
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 30,
                "system": "Be brief.",
                "messages": [{"role": "user", "content": "Describe SQS in 10 words."}],
                "top_k": 10,
            }
        ),
    )
    body = json.loads(anthropic["body"].read())
    assert body["type"] == "message" and body["stop_reason"] == "end_turn"
    assert body["usage"] == {
        "input_tokens": tokens("Describe SQS in 10 words.") + tokens("Be brief.") + 3,
        "output_tokens": 11,
    }
    headers = anthropic["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-output-token-count"] == "11"

    nova = runtime.invoke_model(
        modelId="amazon.nova-micro-v1:0",
        body=json.dumps(
            {
                "schemaVersion": "messages-v1",
                "messages": [{"role": "user", "content": [{"text": "Describe SNS in 30 words."}]}],
                "inferenceConfig": {"maxTokens": 10, "topK": 5},
            }
        ),
    )
    body = json.loads(nova["body"].read())
    assert body["stopReason"] == "max_tokens" and body["usage"]["outputTokens"] == 10

    missing = error_of(
        lambda: runtime.invoke_model(
            modelId="anthropic.claude-3-haiku-20240307-v1:0",
            body=json.dumps({"max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}),
        )
    )
    assert code(missing) == ("ValidationException", 400)
    assert "anthropic_version" in missing.response["Error"]["Message"]


# --- the fault switch ----------------------------------------------------------------------------------
def test_faults_make_a_model_fail_for_its_next_n_calls(runtime, profile, localstack_endpoint):
    profile_id = profile.rsplit("/", 1)[1]
    status, armed = faults(
        localstack_endpoint, "POST", {"modelId": profile, "error": "ThrottlingException", "count": 2}
    )
    assert status == 200 and armed["fault"]["remaining"] == 2
    for _ in range(2):
        e = error_of(lambda: runtime.converse(modelId=profile, messages=user("hi")))
        assert code(e) == ("ThrottlingException", 429)
    assert runtime.converse(modelId=profile, messages=user("hi"))["stopReason"] == "end_turn"
    assert all(f["key"] != profile_id for f in faults(localstack_endpoint, "GET")[1]["faults"])


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("ServiceUnavailableException", 503),
        ("InternalServerException", 500),
        ("ModelTimeoutException", 408),
        ("ValidationException", 400),
        ("ModelNotReadyException", 429),
    ],
)
def test_each_fault_kind(runtime, profile, localstack_endpoint, error, status):
    profile_id = profile.rsplit("/", 1)[1]  # faults accept the profile ID as well as its ARN
    assert (
        faults(localstack_endpoint, "POST", {"modelId": profile_id, "error": error, "message": "injected"})[0]
        == 200
    )
    e = error_of(lambda: runtime.converse(modelId=profile, messages=user("hi")))
    assert code(e) == (error, status)
    assert e.response["Error"]["Message"] == "injected"


def test_a_fault_on_a_model_reaches_it_through_profiles(runtime, localstack_endpoint):
    model = "amazon.nova-pro-v1:0"
    assert (
        faults(
            localstack_endpoint,
            "POST",
            {"modelId": model, "error": "ServiceUnavailableException", "count": 5},
        )[0]
        == 200
    )
    try:
        for model_id in (model, "us.amazon.nova-pro-v1:0"):
            e = error_of(lambda m=model_id: runtime.converse(modelId=m, messages=user("hi")))
            assert code(e) == ("ServiceUnavailableException", 503)
    finally:
        assert faults(localstack_endpoint, "DELETE", query=f"?modelId={model}")[1]["cleared"] == 1
    assert runtime.converse(modelId=model, messages=user("hi"))["stopReason"] == "end_turn"


def test_the_fault_switch_rejects_nonsense(localstack_endpoint):
    status, body = faults(localstack_endpoint, "POST", {"modelId": "amazon.nova-lite-v1:0", "error": "Oops"})
    assert status == 400 and "ThrottlingException" in body["error"]
    assert faults(localstack_endpoint, "POST", {"error": "ThrottlingException"})[0] == 400
    assert (
        faults(localstack_endpoint, "POST", {"modelId": "x", "error": "ThrottlingException", "count": 0})[0]
        == 400
    )


# --- AWS/Bedrock metrics -------------------------------------------------------------------------------
def test_bedrock_runtime_metrics(aws, runtime, profile, localstack_endpoint):
    cloudwatch = aws("cloudwatch")
    profile_id = profile.rsplit("/", 1)[1]
    usage = [
        runtime.converse(modelId=profile, messages=user(f"Call number {i} in 5 words"))["usage"]
        for i in range(2)
    ]
    faults(localstack_endpoint, "POST", {"modelId": profile, "error": "ThrottlingException"})
    error_of(lambda: runtime.converse(modelId=profile, messages=user("hi")))
    faults(localstack_endpoint, "POST", {"modelId": profile, "error": "InternalServerException"})
    error_of(lambda: runtime.converse(modelId=profile, messages=user("hi")))
    error_of(
        lambda: runtime.converse(modelId=profile, messages=user("hi"), inferenceConfig={"maxTokens": 99999})
    )

    def stat(metric: str, statistic: str = "Sum") -> float:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/Bedrock",
            MetricName=metric,
            Dimensions=[{"Name": "ModelId", "Value": profile_id}],
            StartTime=datetime.now(UTC) - timedelta(minutes=10),
            EndTime=datetime.now(UTC) + timedelta(minutes=1),
            Period=3600,
            Statistics=[statistic],
        )["Datapoints"]
        return sum(p[statistic] for p in points)

    assert stat("Invocations") == 2
    assert stat("InputTokenCount") == sum(u["inputTokens"] for u in usage)
    assert stat("OutputTokenCount") == sum(u["outputTokens"] for u in usage)
    assert stat("InvocationLatency", "SampleCount") == 2
    assert stat("InvocationThrottles") == 1
    assert stat("InvocationServerErrors") == 1
    assert stat("InvocationClientErrors") == 1

    runtime.converse(modelId="us.amazon.nova-micro-v1:0", messages=user("hi"))
    listed = cloudwatch.list_metrics(Namespace="AWS/Bedrock", MetricName="Invocations")["Metrics"]
    ids = {d["Value"] for m in listed for d in m.get("Dimensions", []) if d["Name"] == "ModelId"}
    assert {profile_id, "us.amazon.nova-micro-v1:0"} <= ids
    assert not any(i.startswith("arn:") for i in ids), "an ARN is reported under its last segment"


# --- Terraform ---------------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on the PATH")
def test_terraform_applies_an_inference_profile_with_tags(bedrock, localstack_endpoint, tmp_path):
    cli_config = os.environ.get("TF_CLI_CONFIG_FILE")
    if cli_config and not os.path.exists(cli_config):  # the offline provider mirror's config, made by make
        subprocess.run(["make", "-C", str(ROOT), os.path.relpath(cli_config, ROOT)], check=True)
    name = f"e2e-tf-{uuid.uuid4().hex[:8]}"
    (tmp_path / "main.tf").write_text(
        textwrap.dedent(
            f"""
            terraform {{
              required_providers {{
                aws = {{ source = "hashicorp/aws", version = ">= 5.81" }}
              }}
            }}
            provider "aws" {{
              region                      = "us-east-1"
              access_key                  = "test"
              secret_key                  = "test"
              skip_credentials_validation = true
              skip_metadata_api_check     = true
              skip_requesting_account_id  = true
              endpoints {{
                bedrock = "{localstack_endpoint}"
                sts     = "{localstack_endpoint}"
              }}
            }}
            data "aws_caller_identity" "current" {{}}
            locals {{
              account = data.aws_caller_identity.current.account_id
            }}
            resource "aws_bedrock_inference_profile" "this" {{
              name        = "{name}"
              description = "e2e"
              model_source {{
                copy_from = "arn:aws:bedrock:us-east-1:${{local.account}}:inference-profile/{HAIKU_PROFILE}"
              }}
              tags = {{ costCenter = "sales", environment = "test" }}
            }}
            resource "aws_bedrock_inference_profile" "plain" {{
              name = "{name}-plain"
              model_source {{
                copy_from = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"
              }}
            }}
            output "arn" {{ value = aws_bedrock_inference_profile.this.arn }}
            """
        )
    )
    env = {**os.environ, "TF_IN_AUTOMATION": "1"}

    def tf(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["terraform", f"-chdir={tmp_path}", *args, "-no-color"], env=env, capture_output=True, text=True
        )

    assert tf("init", "-input=false").returncode == 0
    started = time.monotonic()
    applied = tf("apply", "-auto-approve", "-input=false")
    apply_s = time.monotonic() - started
    assert applied.returncode == 0, applied.stdout + applied.stderr
    try:
        arn = json.loads(tf("output", "-json").stdout)["arn"]["value"]
        assert APPLICATION_ARN.match(arn)
        tags = {t["key"]: t["value"] for t in bedrock.list_tags_for_resource(resourceARN=arn)["tags"]}
        assert tags == {"costCenter": "sales", "environment": "test"}
        plan = tf("plan", "-detailed-exitcode", "-input=false")
        assert plan.returncode == 0, "a second plan shows changes:\n" + plan.stdout + plan.stderr
    finally:
        started = time.monotonic()
        destroyed = tf("destroy", "-auto-approve", "-input=false")
        destroy_s = time.monotonic() - started
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    names = {
        p["inferenceProfileName"]
        for p in bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
    }
    assert name not in names and f"{name}-plain" not in names
    print(f"terraform apply {apply_s:.1f}s, destroy {destroy_s:.1f}s")


def test_count_tokens_answers_what_converse_bills_for_claude_only(runtime):
    messages = user("Explain the benefits of using S3 using only 100 words.")
    system = [{"text": "You are a helpful AWS expert."}]
    model_id = "anthropic.claude-3-5-haiku-20241022-v1:0"
    counted = runtime.count_tokens(
        modelId=model_id, input={"converse": {"messages": messages, "system": system}}
    )
    billed = runtime.converse(
        modelId="us.anthropic.claude-3-5-haiku-20241022-v1:0",
        messages=messages,
        system=system,
        inferenceConfig={"maxTokens": 200},
    )["usage"]["inputTokens"]
    assert counted["inputTokens"] == billed
    arn = f"arn:aws:bedrock:us-east-1::foundation-model/{model_id}"
    assert runtime.count_tokens(modelId=arn, input={"converse": {"messages": messages}})["inputTokens"] > 0

    e = error_of(
        lambda: runtime.count_tokens(
            modelId="amazon.nova-micro-v1:0", input={"converse": {"messages": messages}}
        )
    )
    assert code(e) == ("ValidationException", 400)
    assert "doesn't support counting tokens" in e.response["Error"]["Message"]
