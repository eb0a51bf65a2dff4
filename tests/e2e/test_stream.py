"""Streaming end to end: the emulator's ConverseStream, and ``Tollgate.converse_stream`` through the
deployed stream-admit and stream-settle machines (docs/requests.md): events in order, the ledger
settled with the stream's usage, a denial before any model call, and a client that stops reading
(charged at the estimate at once) or dies mid-stream (its lease charged at the estimate by the
sweeper)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal

import pytest
from botocore.exceptions import EventStreamError
from conftest import RUN
from localstack import ROOT, faults
from test_faults import counter, invoke_function, reservations

from tollgate.client import RateLimitExceeded, Tollgate

pytestmark = pytest.mark.e2e

ROUTE = "claude-3-5-haiku"
PROFILE = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
FAULT_KEY = "anthropic.claude-3-5-haiku-20241022-v1:0"  # a stream fault fires only for ConverseStream
LEASE_SECONDS = 60  # reservation_lease_seconds in tests/e2e/deployment.py
ORDER = ["messageStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"]


def kinds(events: list[dict]) -> list[str]:
    """Event types in order, runs of deltas folded into one."""
    out: list[str] = []
    for event in events:
        (kind,) = event
        if not out or out[-1] != kind or kind != "contentBlockDelta":
            out.append(kind)
    return out


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


def arm_stream_fault(endpoint: str, **spec) -> None:
    status, body = faults(endpoint, "POST", {"modelId": FAULT_KEY, "phase": "stream", **spec})
    assert status == 200, body


@pytest.fixture
def disarm(localstack_endpoint):
    yield
    faults(localstack_endpoint, "DELETE", query=f"?modelId={FAULT_KEY}")


# --- the emulator -----------------------------------------------------------------------------------


def test_emulator_streams_converse_answer_in_bedrock_event_order(aws):
    runtime = aws("bedrock-runtime", retries=1)
    request = {
        "modelId": PROFILE,
        "messages": user("Explain S3 using only 40 words."),
        "inferenceConfig": {"maxTokens": 400},
    }
    answer = runtime.converse(**request)
    events = list(runtime.converse_stream(**request)["stream"])

    assert kinds(events) == ORDER
    assert sum(1 for e in events if "contentBlockDelta" in e) > 1, "the text comes in several deltas"
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == answer["output"]["message"]["content"][0]["text"]
    assert events[-2]["messageStop"]["stopReason"] == answer["stopReason"] == "end_turn"
    assert events[-1]["metadata"]["usage"] == answer["usage"]
    assert events[-1]["metadata"]["metrics"]["latencyMs"] >= 1

    # cut at maxTokens: the same stop reason and usage as Converse's
    short = {**request, "inferenceConfig": {"maxTokens": 5}}
    cut = list(runtime.converse_stream(**short)["stream"])
    assert cut[-2]["messageStop"]["stopReason"] == "max_tokens"
    assert cut[-1]["metadata"]["usage"] == runtime.converse(**short)["usage"]


def test_emulator_stream_fault_paces_and_breaks_only_streams(aws, localstack_endpoint, disarm):
    runtime = aws("bedrock-runtime", retries=1)
    request = {"modelId": PROFILE, "messages": user("Explain S3 using only 20 words.")}
    arm_stream_fault(localstack_endpoint, delayMs=100)
    assert runtime.converse(**request)["stopReason"] == "end_turn"  # passed by: still armed
    started = time.monotonic()
    stream = iter(runtime.converse_stream(**request)["stream"])
    first = next(stream)
    first_s = time.monotonic() - started
    rest = list(stream)
    total_s = time.monotonic() - started
    assert "messageStart" in first and kinds([first, *rest]) == ORDER
    deltas = sum(1 for e in rest if "contentBlockDelta" in e)
    assert total_s - first_s >= 0.1 * (deltas - 1) * 0.9, (first_s, total_s, deltas)

    arm_stream_fault(localstack_endpoint, error="ModelStreamErrorException")
    seen = []
    with pytest.raises(EventStreamError) as caught:
        for event in runtime.converse_stream(**request)["stream"]:
            seen.append(event)
    assert caught.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert kinds(seen) == ["messageStart", "contentBlockDelta"] and len(seen) == 2


# --- converse_stream through the deployed module -------------------------------------------------------


class CountingRuntime:
    """The bedrock-runtime client, counting the ConverseStream calls made."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self.calls: list[dict] = []

    def converse_stream(self, **kwargs):
        self.calls.append(kwargs)
        return self.runtime.converse_stream(**kwargs)


def tollgate_for(deployment, endpoint: str, **kwargs) -> Tollgate:
    outputs = deployment.outputs
    return Tollgate(
        outputs["state_machine_arn"],
        stream_admit_state_machine_arn=outputs["stream_admit_state_machine_arn"],
        stream_settle_state_machine_arn=outputs["stream_settle_state_machine_arn"],
        workflow_type="EXPRESS",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        **kwargs,
    )


def tags(case: str) -> dict:
    return {"applicationId": RUN.app(case), "costCenter": "e2e", "environment": "dev"}


def estimate(item: dict) -> Decimal:
    return sum((Decimal(c["amount"]) for c in item["counters"] if c["unit"] == "total_tokens"), Decimal(0))


def test_converse_stream_is_admitted_streamed_and_settled_with_its_usage(
    aws, deployment, localstack_endpoint
):
    runtime = CountingRuntime(aws("bedrock-runtime", retries=1))
    tollgate = tollgate_for(deployment, localstack_endpoint, bedrock_runtime=runtime)
    events = list(
        tollgate.converse_stream(
            modelId=ROUTE,
            messages=user("Explain S3 using only 60 words."),
            inferenceConfig={"maxTokens": 500},
            tags=tags("stream"),
        )
    )
    assert kinds(events) == ORDER
    last = events[-1]
    usage = last["metadata"]["usage"]
    assert usage["outputTokens"] == 61 and usage["totalTokens"] == usage["inputTokens"] + 61
    key = last["metadata"]["tollgate"]
    assert key["decision"] == "approved" and key["route"] == ROUTE and key["costUsd"] > 0
    assert len(runtime.calls) == 1 and runtime.calls[0]["modelId"] == PROFILE  # the routed model

    ddb = aws("dynamodb")
    (item,) = reservations(ddb, deployment, RUN.app("stream"))
    assert item["requestId"] == key["requestId"] and item["state"] == "settled", item
    assert "leaseExpiresAt" not in item, "a settled reservation holds no lease"
    assert counter(ddb, deployment, RUN.app("stream")) == usage["totalTokens"]
    assert estimate(item) > usage["totalTokens"], "the reservation was the estimate, corrected to the usage"


def test_a_denied_stream_raises_before_any_model_call(aws, deployment, localstack_endpoint):
    runtime = CountingRuntime(aws("bedrock-runtime", retries=1))
    tollgate = tollgate_for(deployment, localstack_endpoint, bedrock_runtime=runtime)
    stream = tollgate.converse_stream(modelId=ROUTE, messages=user("Hello."), tags=tags("stream-deny"))
    with pytest.raises(RateLimitExceeded) as caught:
        next(stream)
    assert caught.value.limit["id"] == f"applicationId={RUN.app('stream-deny')}/day/requests", (
        caught.value.cause
    )
    assert runtime.calls == []
    assert reservations(aws("dynamodb"), deployment, RUN.app("stream-deny")) == []


def test_a_stream_the_caller_stops_reading_is_charged_at_its_estimate(aws, deployment, localstack_endpoint):
    tollgate = tollgate_for(deployment, localstack_endpoint)
    stream = tollgate.converse_stream(
        modelId=ROUTE, messages=user("Explain S3 using only 200 words."), tags=tags("stream-closed")
    )
    assert "messageStart" in next(stream)
    next(stream)
    stream.close()  # the consumer stops: the client closes the reservation now

    ddb = aws("dynamodb")
    (item,) = reservations(ddb, deployment, RUN.app("stream-closed"))
    assert item["state"] == "charged" and "leaseExpiresAt" not in item, item
    assert counter(ddb, deployment, RUN.app("stream-closed")) == estimate(item)


DYING_CLIENT = """
import json, os, sys
from tollgate.client import Tollgate
spec = json.loads(os.environ["STREAM_SPEC"])
tollgate = Tollgate(spec["arn"], stream_admit_state_machine_arn=spec["admit"],
                    stream_settle_state_machine_arn=spec["settle"], workflow_type="EXPRESS",
                    endpoint_url=spec["endpoint"], region_name="us-east-1",
                    aws_access_key_id="test", aws_secret_access_key="test")
stream = tollgate.converse_stream(modelId=spec["route"], messages=spec["messages"], tags=spec["tags"])
print(json.dumps(next(stream)), flush=True)
os._exit(1)  # the process dies mid-stream: no finally, no settle
"""


def test_a_client_that_dies_mid_stream_leaves_a_lease_the_sweeper_charges(
    aws, deployment, localstack_endpoint
):
    outputs = deployment.outputs
    spec = {
        "arn": outputs["state_machine_arn"],
        "admit": outputs["stream_admit_state_machine_arn"],
        "settle": outputs["stream_settle_state_machine_arn"],
        "endpoint": localstack_endpoint,
        "route": ROUTE,
        "messages": user(f"Explain S3 using only 300 words. {uuid.uuid4()}"),
        "tags": tags("stream-died"),
    }
    env = {**os.environ, "STREAM_SPEC": json.dumps(spec), "PYTHONPATH": str(ROOT / "functions")}
    proc = subprocess.run(
        [sys.executable, "-c", DYING_CLIENT], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1 and "messageStart" in proc.stdout, proc.stderr

    ddb = aws("dynamodb")
    (item,) = reservations(ddb, deployment, RUN.app("stream-died"))
    assert item["state"] == "invoking" and "leaseExpiresAt" in item, item
    assert counter(ddb, deployment, RUN.app("stream-died")) == estimate(item), "the estimate is held"

    time.sleep(max(0.0, float(item["leaseExpiresAt"]) - time.time()) + 2)
    swept = invoke_function(aws, deployment, "sweeper", {"source": "e2e"})
    assert swept["error"] is None, swept
    (item,) = reservations(ddb, deployment, RUN.app("stream-died"))
    assert item["state"] == "charged" and "leaseExpiresAt" not in item, item
    assert counter(ddb, deployment, RUN.app("stream-died")) == estimate(item)
