"""`make bench`: what Tollgate costs per request, as figures and as ratios measured in one run.

These machines are noisy, so every section compares two things measured side by side in the same
process and prints their ratio; the absolute figures are for orientation only.

1. Request path in process: validate (the article's request -> context), the limit plan for 1
   and 16 limits, and the record step (cause/output + EMF blob), against a JSON round-trip of the
   same request as the baseline.
2. Ledger: reserve+settle with 1, 4 and 16 matching limits, on moto and (when LocalStack runs) on
   DynamoDB Local; the cost of a reservation should grow with the counters in its transaction.
3. End to end, only when LocalStack runs and `make demo` (examples/localstack) is applied:
   latency of a request through the state machine against a direct Converse call to the same
   (emulated) model - the overhead Tollgate adds - and throughput at 1 and 4 concurrent callers.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "GenAIRateLimiting")
os.environ.setdefault("TOLLGATE_TABLE_NAME", "bench")

from tollgate import cli  # noqa: E402
from tollgate.catalogue import load_catalogue  # noqa: E402
from tollgate.ledger import Ledger  # noqa: E402
from tollgate.limits import Amounts, Limit, plan_counters  # noqa: E402
from tollgate.metrics import emit_emf  # noqa: E402
from tollgate.outcome import record  # noqa: E402
from tollgate.routing import default_routes  # noqa: E402
from tollgate.validation import ValidationOptions, validate_request  # noqa: E402

ARTICLE_REQUEST = json.loads((ROOT / "examples" / "requests" / "article.json").read_text())
OPTIONS = ValidationOptions(("dev", "staging", "prod", "production"), 100_000, False)


def per_call(fn: Callable[[], object], *, seconds: float = 1.0) -> float:
    """Median seconds per call over 5 rounds of about ``seconds``/5 each."""
    fn()
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < 0.05:
        fn()
        n += 1
    batch = max(1, int(n * seconds / 5 / 0.05))
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(batch):
            fn()
        rounds.append((time.perf_counter() - started) / batch)
    return statistics.median(rounds)


def row(label: str, seconds: float, baseline: float | None = None) -> None:
    ratio = f"{seconds / baseline:8.1f}x" if baseline else " " * 9
    print(f"  {label:<52} {seconds * 1e6:10.1f} us {ratio}")


def section_request_path() -> None:
    print("\n1. request path, in process (per request; ratio to a JSON round-trip of the request)")
    catalogue = load_catalogue()
    routes = default_routes(catalogue)
    text = json.dumps(ARTICLE_REQUEST)
    baseline = per_call(lambda: json.dumps(json.loads(text)))
    row("JSON round-trip of the request (baseline)", baseline, baseline)

    def validate():
        return validate_request(json.loads(text), routes=routes, catalogue=catalogue, options=OPTIONS)

    row("validate: request -> context", per_call(validate), baseline)
    context = validate().context
    now = datetime.now(UTC)
    amounts = Amounts.from_estimate(context["estimate"])
    for n in (1, 16):
        limits = [
            Limit(f"l{i}", {"applicationId": "*"} if i % 2 else {}, "minute", "total_tokens", 10**9)
            for i in range(n)
        ]
        row(
            f"limit plan, {n} matching limits",
            per_call(lambda lim=limits: plan_counters(lim, context, amounts, now)),
            baseline,
        )
    state = {
        "outcome": "succeeded",
        "context": context,
        "reservation": {"decision": "approved", "counters": []},
        "invocation": {
            "requestId": context["requestId"],
            "usage": {"inputTokens": 20, "outputTokens": 90, "totalTokens": 110},
            "costUsd": 0.0004,
            "latencyMs": 800,
            "response": {"text": "x", "stopReason": "end_turn"},
        },
    }
    row("record: outcome and cause", per_call(lambda: record(state, OPTIONS.allowed_environments)), baseline)
    values = {"TotalRequests": 1, "RateLimitApproved": 1, "InputTokens": 20, "OutputTokens": 90}
    with contextlib.redirect_stdout(io.StringIO()):
        emf = per_call(lambda: emit_emf(values, context["dimensions"], namespace="GenAIRateLimiting"))
    row("record: EMF blob (Powertools, printed)", emf, baseline)


def _ledger_figures(ddb, label: str) -> None:
    """30 reserve+settle per limit count, each count on a fresh table (so table size is equal)."""
    catalogue = load_catalogue()
    base = validate_request(
        ARTICLE_REQUEST, routes=default_routes(catalogue), catalogue=catalogue, options=OPTIONS
    )
    usage = {"inputTokens": 20, "outputTokens": 90, "totalTokens": 110}
    first = None
    for n in (1, 4, 16):
        table = f"tollgate-bench-{n}-{int(time.time())}"
        ddb.create_table(
            TableName=table,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        try:
            ledger = Ledger(ddb, table)
            limits = [Limit(f"l{i}", {}, "month", "total_tokens", 10**12) for i in range(n)]
            timings = []
            for i in range(31):
                context = {**base.context, "requestId": f"bench-{i}"}
                started = time.perf_counter()
                decision = ledger.reserve(context, "exec", lambda lim=limits: lim)
                ledger.settle(context["requestId"], "exec", usage, 0.0004, {"usage": usage})
                timings.append(time.perf_counter() - started)
                assert decision["decision"] == "approved", decision
            seconds = statistics.median(timings[1:])  # the first call pays for connections
            first = first or seconds
            row(f"{label}: reserve + settle, {n} matching limit(s)", seconds, first)
        finally:
            ddb.delete_table(TableName=table)


def section_ledger(endpoint: str) -> None:
    print("\n2. ledger: reserve + settle, median of 30 (ratio to one matching limit)")
    import boto3
    from moto import mock_aws

    with mock_aws():
        _ledger_figures(boto3.client("dynamodb", region_name="us-east-1"), "moto")
    if _healthy(endpoint):
        _ledger_figures(_local_client("dynamodb", endpoint), "DynamoDB Local")
    else:
        print("  DynamoDB Local not measured: LocalStack is not running (run `make demo` first)")


def _local_client(service: str, endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(inject_host_prefix=False),
    )


def _healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def section_end_to_end(endpoint: str) -> None:
    print(f"\n3. end to end in LocalStack ({endpoint})")
    if not _healthy(endpoint):
        print("  not measured: LocalStack is not running (run `make demo` first)")
        return
    proc = subprocess.run(
        ["terraform", f"-chdir={ROOT / 'examples' / 'localstack'}", "output", "-json"],
        capture_output=True,
        text=True,
        check=False,
    )
    outputs = (
        {k: v["value"] for k, v in json.loads(proc.stdout or "{}").items()} if proc.returncode == 0 else {}
    )
    if "state_machine_arn" not in outputs:
        print("  not measured: examples/localstack is not applied (run `make demo` first)")
        return
    sfn, runtime = _local_client("stepfunctions", endpoint), _local_client("bedrock-runtime", endpoint)
    arn = outputs["state_machine_arn"]
    body = copy.deepcopy(ARTICLE_REQUEST)
    body["model"] = "nova-lite"
    body["tags"]["applicationId"] = "bench"
    body["prompt"]["parameters"] = {"max_tokens": 200}

    def through_tollgate():
        outcome = cli.run_request(sfn, arn, body, express=True)
        if outcome.name != "Succeeded":
            raise RuntimeError(f"benchmark request ended {outcome.name}: {outcome.cause}")

    def direct():
        runtime.converse(
            modelId="amazon.nova-lite-v1:0",
            messages=[{"role": "user", "content": [{"text": body["prompt"]["messages"][0]["content"]}]}],
            inferenceConfig={"maxTokens": 200},
        )

    def latencies(fn, n):
        out = []
        for _ in range(n):
            started = time.perf_counter()
            fn()
            out.append(time.perf_counter() - started)
        return out

    direct_l, tollgate_l = latencies(direct, 20), latencies(through_tollgate, 20)
    d50, t50 = statistics.median(direct_l), statistics.median(tollgate_l)
    t95 = sorted(tollgate_l)[int(len(tollgate_l) * 0.95) - 1]
    print(f"  {'direct Converse to the emulator, median':<52} {d50 * 1e3:10.1f} ms")
    print(f"  {'through Tollgate (5 Lambda tasks), median':<52} {t50 * 1e3:10.1f} ms {t50 / d50:8.1f}x")
    print(f"  {'through Tollgate, p95':<52} {t95 * 1e3:10.1f} ms")
    rates = {}
    for workers in (1, 4):
        n = 24
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda _: through_tollgate(), range(n)))
        rates[workers] = n / (time.perf_counter() - started)
        ratio = f"{rates[workers] / rates[1]:8.1f}x" if workers > 1 else ""
        print(f"  {f'throughput, {workers} concurrent caller(s)':<52} {rates[workers]:10.1f} /s {ratio}")


def main() -> int:
    print(f"Tollgate benchmarks - Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    endpoint = (
        os.environ.get("AWS_ENDPOINT_URL") or f"http://localhost:{os.environ.get('LOCALSTACK_PORT', '4566')}"
    )
    section_request_path()
    section_ledger(endpoint)
    section_end_to_end(endpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
