"""P6, the request path through LocalStack: what one request costs end to end.

Applied into the running LocalStack (examples/localstack, a workspace and name of its own), then,
interleaved so that drift hits every series alike, SAMPLES requests of each:

- ``workflow``: a raw StartSyncExecution of the state machine (the article's request);
- ``client``: the same request through ``tollgate.client.Tollgate.converse`` (the client's overhead
  over the raw StartSyncExecution: building the request, parsing the output). The difference of
  two medians through LocalStack is noise on a busy machine, so the overhead is also measured in
  process, against a Step Functions stub that answers at once (``client_overhead_us``);
- ``direct``: a Converse call straight to the Bedrock emulator with the routed model ID (what the
  workflow adds is the rest);
- ``stream``: ``Tollgate.converse_stream`` with the model pacing its deltas (a "stream" fault of
  PACE_MS per three-word delta, about 50 output tokens/s): time to the first event (admit + model's
  first delta) and to the last (every delta, then the settle execution), beside a direct
  ConverseStream's.

The old five-hop path cannot be built any more (the workflow's ASL changed with it), so there is no
old-vs-new series; docs/benchmarks.md keeps the earlier figures.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from . import e2e

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "functions"))

WORKSPACE = "bench-p6"
NAME = "tollgate-p6"
APP = "bench-p6"
SAMPLES = 10
PACE_MS = 60
ROUTE = "nova-lite"


def apply(endpoint: str, var_file: Path) -> dict[str, Any]:
    return e2e.apply(endpoint, var_file, name=NAME, workspace=WORKSPACE, app=APP)


def _ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def measure(endpoint: str, outputs: dict[str, Any], samples: int = SAMPLES) -> dict[str, Any]:
    from tollgate.client import Tollgate

    sfn = e2e.client("stepfunctions", endpoint)
    runtime = e2e.client("bedrock-runtime", endpoint)
    tollgate = Tollgate(
        outputs["state_machine_arn"],
        stream_admit_state_machine_arn=outputs["stream_admit_state_machine_arn"],
        stream_settle_state_machine_arn=outputs["stream_settle_state_machine_arn"],
        workflow_type="EXPRESS",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    body = e2e.request(APP)
    model_id = outputs["model_routes"][ROUTE]
    converse = _converse_arguments(body)
    direct = {**converse, "modelId": model_id}
    direct.pop("tags")
    series: dict[str, list[float]] = {
        k: []
        for k in (
            "workflow",
            "client",
            "direct",
            "stream_first",
            "stream_full",
            "direct_stream_first",
            "direct_stream_full",
        )
    }

    def workflow() -> None:
        result = sfn.start_sync_execution(
            stateMachineArn=outputs["state_machine_arn"], input=json.dumps(body)
        )
        if result["status"] != "SUCCEEDED":
            raise RuntimeError(
                f"P6: the workflow ended {result['status']}: {result.get('error')} {result.get('cause')}"
            )

    def stream(events: Any, first: str, full: str, started: float) -> None:
        seen = 0
        for _ in events:
            seen += 1
            if seen == 1:
                series[first].append(time.perf_counter() - started)
        series[full].append(time.perf_counter() - started)

    def pace() -> None:
        e2e.arm_fault(endpoint, {"modelId": model_id, "phase": "stream", "delayMs": PACE_MS})

    workflow()  # warm: first function starts, DynamoDB Local's first call
    list(tollgate.converse_stream(**converse))

    def timed(name: str, call: Any) -> None:
        started = time.perf_counter()
        call()
        series[name].append(time.perf_counter() - started)

    def client() -> None:
        tollgate.converse(**converse, requestId=str(uuid.uuid4()))

    for i in range(samples):
        # raw and client take turns at going first: neither always follows the streams' settle
        for name, call in (("workflow", workflow), ("client", client))[:: 1 if i % 2 == 0 else -1]:
            timed(name, call)
        started = time.perf_counter()
        runtime.converse(**direct)
        series["direct"].append(time.perf_counter() - started)
        pace()
        started = time.perf_counter()
        stream(tollgate.converse_stream(**converse), "stream_first", "stream_full", started)
        pace()
        started = time.perf_counter()
        stream(
            runtime.converse_stream(**direct)["stream"], "direct_stream_first", "direct_stream_full", started
        )
    medians = {f"{k}_ms": _ms(v) for k, v in series.items()}
    return {
        **medians,
        "samples": samples,
        "load_average_1m": round(os.getloadavg()[0], 1),
        "stream_pace_ms_per_delta": PACE_MS,
        "workflow_over_direct": round(medians["workflow_ms"] / medians["direct_ms"], 1),
        "client_overhead_ms": round(medians["client_ms"] - medians["workflow_ms"], 1),
        "client_over_workflow": round(medians["client_ms"] / medians["workflow_ms"], 3),
        "stream_first_over_full": round(medians["stream_first_ms"] / medians["stream_full_ms"], 3),
        "stream_first_over_direct_first": round(
            medians["stream_first_ms"] / medians["direct_stream_first_ms"], 1
        ),
    }


def client_overhead_us(calls: int = 2000) -> float:
    """Microseconds the client adds per call over a raw StartSyncExecution of the same request, both
    against a stub that answers at once with a success output (no network, no LocalStack)."""
    from tollgate.client import Tollgate

    body = e2e.request(APP)
    output = json.dumps(
        {
            "requestId": "r",
            "model": ROUTE,
            "modelId": "us.amazon.nova-lite-v1:0",
            "modelMetric": "us.amazon.nova-lite-v1:0",
            "tags": body["tags"],
            "response": {"text": "word " * 150, "stopReason": "end_turn"},
            "usage": {"inputTokens": 30, "outputTokens": 150, "totalTokens": 180},
            "costUsd": 0.0001,
            "latencyMs": 900,
        }
    )

    class Stub:
        def start_sync_execution(self, **_: Any) -> dict[str, Any]:
            return {"status": "SUCCEEDED", "output": output, "executionArn": "arn:x"}

    stub = Stub()
    tollgate = Tollgate(
        "arn:aws:states:us-east-1:0:stateMachine:t", stepfunctions=stub, workflow_type="EXPRESS"
    )
    converse = _converse_arguments(body)

    def raw() -> None:
        json.loads(stub.start_sync_execution(stateMachineArn="arn:x", input=json.dumps(body))["output"])

    def client() -> None:
        tollgate.converse(**converse)

    timings = {}
    for name, call in (("raw", raw), ("client", client)):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        timings[name] = (time.perf_counter() - started) / calls
    return round((timings["client"] - timings["raw"]) * 1e6, 1)


def _converse_arguments(body: dict[str, Any]) -> dict[str, Any]:
    """Converse's arguments for the bench's request (the same request as the raw workflow's)."""
    return {
        "modelId": ROUTE,
        "messages": [
            {"role": m["role"], "content": [{"text": m["content"]}]} for m in body["prompt"]["messages"]
        ],
        "inferenceConfig": {"maxTokens": body["prompt"]["parameters"]["max_tokens"]},
        "tags": body["tags"],
    }


def run(endpoint: str, run_dir: Path, *, destroy: bool) -> dict[str, Any]:
    """Apply, measure, then destroy (a LocalStack that stays up) or forget (one that is stopped)."""
    outputs = apply(endpoint, run_dir / "bench-p6.tfvars.json")
    try:
        return {**measure(endpoint, outputs), "client_overhead_us": client_overhead_us()}
    finally:
        e2e.arm_fault(endpoint, None, model_id=outputs["model_routes"][ROUTE])
        if destroy:
            e2e.destroy(run_dir / "bench-p6.tfvars.json", workspace=WORKSPACE)
        else:
            e2e.forget(WORKSPACE)
