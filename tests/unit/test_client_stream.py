"""Streaming through Tollgate: converse_stream admits through asl/stream_admit.asl.json, streams from
the routed model, and settles through asl/stream_settle.asl.json. Run here with the real handlers
on a moto table (the ASL data flow of tests/unit/asl_flow.py stands in for StartSyncExecution)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asl_flow import execute
from botocore.exceptions import ClientError, ReadTimeoutError
from conftest import emf_blobs, put_limit, used
from lambda_context import LAMBDA_CONTEXT

from tollgate.client import InvocationFailed, RateLimitExceeded, Tollgate, ValidationError
from tollgate.handlers import rate_limit, record_metrics, sweeper, validate

ASL = Path(__file__).resolve().parents[2] / "asl"
MAIN = "arn:aws:states:us-east-1:123456789012:stateMachine:tollgate"
ADMIT = "arn:aws:states:us-east-1:123456789012:stateMachine:tollgate-stream-admit"
SETTLE = "arn:aws:states:us-east-1:123456789012:stateMachine:tollgate-stream-settle"
HANDLERS = {
    "validate_function_arn": lambda event: validate.handler(event, LAMBDA_CONTEXT),
    "rate_limit_function_arn": lambda event: rate_limit.handler(event, LAMBDA_CONTEXT),
    "record_metrics_function_arn": lambda event: record_metrics.handler(event, LAMBDA_CONTEXT),
}
TAGS = {"applicationId": "chat-ui", "costCenter": "support", "environment": "production"}
MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"  # the route resolves to the system profile


def definition(name: str) -> dict[str, Any]:
    return json.loads(re.sub(r"\$\{(\w+)\}", r"\1", (ASL / f"{name}.asl.json").read_text(encoding="utf-8")))


class StepFunctions:
    """StartSyncExecution of the two stream machines, run by the ASL data flow."""

    def __init__(self) -> None:
        self.definitions = {ADMIT: definition("stream_admit"), SETTLE: definition("stream_settle")}
        self.inputs: list[tuple[str, dict[str, Any]]] = []

    def start_sync_execution(self, stateMachineArn: str, input: str) -> dict[str, Any]:
        self.inputs.append((stateMachineArn, json.loads(input)))
        arn = stateMachineArn.replace(":stateMachine:", ":express:") + f":run-{len(self.inputs)}"
        states = self.definitions[stateMachineArn]
        run = execute(json.loads(input), HANDLERS, arn, states)
        if states["States"][run.end]["Type"] == "Fail":
            return {"executionArn": arn, "status": "FAILED", **{k.lower(): v for k, v in run.output.items()}}
        return {"executionArn": arn, "status": "SUCCEEDED", "output": json.dumps(run.output)}


def stream_events(
    text: str = "S3 is durable object storage.", input_tokens: int = 14, output_tokens: int = 7
):
    words = text.split(" ")
    yield {"messageStart": {"role": "assistant"}}
    for i, word in enumerate(words):
        yield {
            "contentBlockDelta": {"delta": {"text": word if i == 0 else " " + word}, "contentBlockIndex": 0}
        }
    yield {"contentBlockStop": {"contentBlockIndex": 0}}
    yield {"messageStop": {"stopReason": "end_turn"}}
    yield {
        "metadata": {
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
            "metrics": {"latencyMs": 250},
        }
    }


class Bedrock:
    """ConverseStream of the routed model: records the arguments, streams the given events."""

    def __init__(self, events: Any = None, error: Exception | None = None) -> None:
        self.events = events
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def converse_stream(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append(arguments)
        if self.error is not None:
            raise self.error
        return {"stream": self.events if self.events is not None else stream_events()}


@pytest.fixture
def limited(table, article_routing):
    put_limit(table, "tokens", scope={"applicationId": "chat-ui"}, unit="total_tokens", limit=100_000)
    return table


def client(bedrock: Bedrock) -> tuple[Tollgate, StepFunctions]:
    sfn = StepFunctions()
    tollgate = Tollgate(
        MAIN,
        stepfunctions=sfn,
        workflow_type="EXPRESS",
        stream_admit_state_machine_arn=ADMIT,
        stream_settle_state_machine_arn=SETTLE,
        bedrock_runtime=bedrock,
        sleep=lambda _: None,
    )
    return tollgate, sfn


def stream(tollgate: Tollgate, **overrides: Any) -> Iterator[dict[str, Any]]:
    arguments: dict[str, Any] = {
        "modelId": "claude-3-5-haiku",
        "messages": [{"role": "user", "content": "Explain S3."}],
        "system": "Be brief.",
        "inferenceConfig": {"maxTokens": 200, "temperature": 0.5},
        "additionalModelRequestFields": {"top_k": 40},
        "tags": TAGS,
    }
    arguments.update(overrides)
    return tollgate.converse_stream(**arguments)


def metric_blobs(capsys) -> list[dict[str, Any]]:
    return [b for b in emf_blobs(capsys.readouterr().out) if "TotalRequests" in b]


def test_a_stream_is_admitted_streamed_from_the_routed_model_and_settled_once(limited, capsys):
    bedrock = Bedrock()
    tollgate, sfn = client(bedrock)
    events = list(stream(tollgate))

    # ConverseStream's event order; the last event carries the usage and the tollgate key.
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-1] == "metadata"
    assert kinds[-3:-1] == ["contentBlockStop", "messageStop"]
    assert set(kinds[1:-3]) == {"contentBlockDelta"}
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "S3 is durable object storage."
    metadata = events[-1]["metadata"]
    assert metadata["usage"] == {"inputTokens": 14, "outputTokens": 7, "totalTokens": 21}
    key = metadata["tollgate"]
    assert key["route"] == "claude-3-5-haiku" and key["modelId"] == MODEL
    assert key["decision"] == "approved" and key["costUsd"] > 0

    # The client streamed what validate resolved: the routed model, maxTokens as reserved, top_k
    # in the family's own form.
    (call,) = bedrock.calls
    assert call["modelId"] == MODEL
    assert call["inferenceConfig"]["maxTokens"] == 200
    assert call["additionalModelRequestFields"] == {"top_k": 40}
    assert call["system"] == [{"text": "Be brief."}]

    # Settled at the stream's usage, not the estimate; the settle carried no prompt.
    assert list(used(limited).values()) == [21]
    (_, settle_input) = sfn.inputs[1]
    assert settle_input["context"]["converse"] == {}
    assert settle_input["executionId"].startswith(ADMIT.replace(":stateMachine:", ":express:"))

    # Recorded once, with the stream's tokens.
    (blob,) = metric_blobs(capsys)
    assert blob["TotalRequests"] == [1.0]
    assert blob["RateLimitApproved"] == [1.0]
    assert blob["InputTokens"] == [14.0] and blob["OutputTokens"] == [7.0]


def test_a_retried_settle_neither_settles_nor_records_twice(limited, capsys):
    tollgate, sfn = client(Bedrock())
    list(stream(tollgate))
    arn, settle_input = sfn.inputs[1]
    again = sfn.start_sync_execution(stateMachineArn=arn, input=json.dumps(settle_input))
    assert again["status"] == "SUCCEEDED"
    assert list(used(limited).values()) == [21]
    assert len(metric_blobs(capsys)) == 1


def test_a_denial_raises_rate_limit_exceeded_and_calls_no_model(table, article_routing, capsys):
    put_limit(table, "tiny", scope={"applicationId": "chat-ui"}, unit="output_tokens", limit=10)
    bedrock = Bedrock()
    tollgate, _ = client(bedrock)
    with pytest.raises(RateLimitExceeded) as raised:
        list(stream(tollgate))
    assert raised.value.limit["id"] == "tiny"
    assert raised.value.retry_after_seconds is None  # 200 output tokens can never fit in 10
    assert bedrock.calls == []
    (blob,) = metric_blobs(capsys)
    assert blob["RateLimitDenied"] == [1.0]


def test_an_invalid_request_raises_validation_error_naming_the_field(limited):
    bedrock = Bedrock()
    tollgate, _ = client(bedrock)
    with pytest.raises(ValidationError) as raised:
        list(stream(tollgate, inferenceConfig={"temperature": 3}))
    assert raised.value.field == "prompt.parameters.temperature"
    assert bedrock.calls == []


def test_a_model_that_refuses_before_streaming_releases_the_reservation(limited, capsys):
    refused = ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "ConverseStream"
    )
    tollgate, _ = client(Bedrock(error=refused))
    with pytest.raises(InvocationFailed):
        list(stream(tollgate))
    assert list(used(limited).values()) == [0]  # given back: the model did not run
    (blob,) = metric_blobs(capsys)
    assert blob["InvocationFailed"] == [1.0]


def test_a_stream_that_breaks_is_charged_at_the_estimate(limited, capsys):
    def broken():
        yield {"messageStart": {"role": "assistant"}}
        yield {"contentBlockDelta": {"delta": {"text": "S3"}, "contentBlockIndex": 0}}
        raise ReadTimeoutError(endpoint_url="https://bedrock-runtime")

    tollgate, _ = client(Bedrock(events=broken()))
    seen = []
    with pytest.raises(InvocationFailed):
        for event in stream(tollgate):
            seen.append(event)
    assert len(seen) == 2  # what came before the break was delivered
    (reserved,) = used(limited).values()
    assert reserved > 200  # the estimate: input estimate + maxTokens
    (blob,) = metric_blobs(capsys)
    assert blob["InvocationFailed"] == [1.0]


def test_a_consumer_that_stops_reading_is_charged_at_the_estimate_once(limited, capsys):
    tollgate, _ = client(Bedrock())
    events = stream(tollgate)
    next(events)
    next(events)
    events.close()
    (reserved,) = used(limited).values()
    assert reserved > 200
    (blob,) = metric_blobs(capsys)
    assert blob["InvocationFailed"] == [1.0]


def test_a_client_that_dies_mid_stream_leaves_a_lease_the_sweeper_charges(limited, capsys):
    """Admitted, then nothing: the reservation was marked invoking by admit, so when its lease
    runs out the sweeper charges the estimate (the model may have run) and records it once."""
    _, sfn = client(Bedrock())
    admission = sfn.start_sync_execution(
        stateMachineArn=ADMIT,
        input=json.dumps(
            {
                "model": "claude-3-5-haiku",
                "prompt": {"messages": [{"role": "user", "content": "Hi"}]},
                "tags": TAGS,
            }
        ),
    )
    assert json.loads(admission["output"])["admitted"] is True
    (reserved,) = used(limited).values()
    (lease,) = [i for i in limited.scan()["Items"] if i["sk"] == "RESERVATION"]
    assert lease["state"] == "invoking"
    limited.update_item(  # its time has come
        Key={"pk": lease["pk"], "sk": "RESERVATION"},
        UpdateExpression="SET leaseExpiresAt = :past",
        ExpressionAttributeValues={":past": 1},
    )
    capsys.readouterr()
    summary = sweeper.handler({}, LAMBDA_CONTEXT)
    assert summary["charged"] == 1 and summary["recorded"] == 1
    assert list(used(limited).values()) == [reserved]  # the estimate stays counted
    (blob,) = metric_blobs(capsys)
    assert blob["InvocationFailed"] == [1.0]


def test_a_replayed_request_id_streams_the_stored_answer(limited):
    bedrock = Bedrock()
    tollgate, _ = client(bedrock)
    first = list(stream(tollgate, requestId="chat-1"))
    again = list(stream(tollgate, requestId="chat-1"))
    assert len(bedrock.calls) == 1  # the model was called once
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in again if "contentBlockDelta" in e)
    assert text == "S3 is durable object storage."
    assert again[-1]["metadata"]["tollgate"]["decision"] == "replay"
    assert again[-1]["metadata"]["usage"] == first[-1]["metadata"]["usage"]


def test_streaming_without_the_stream_machines_is_refused_naming_them():
    tollgate = Tollgate(MAIN, stepfunctions=StepFunctions(), workflow_type="EXPRESS")
    with pytest.raises(ValidationError) as raised:
        stream(tollgate)
    assert raised.value.field == "stream_admit_state_machine_arn"
