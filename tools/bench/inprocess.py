"""The request path in process: validate (the article's request -> context), the limit plan for 1
and 16 limits, and the record step (cause/output + EMF blob), against a JSON round-trip of the same
request as the baseline (a ratio, measured side by side: these machines are noisy)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "GenAIRateLimiting")
os.environ.setdefault("TOLLGATE_TABLE_NAME", "bench")

from tollgate.catalogue import load_catalogue  # noqa: E402
from tollgate.limits import Amounts, Limit, plan_counters  # noqa: E402
from tollgate.metrics import emit_emf  # noqa: E402
from tollgate.outcome import record  # noqa: E402
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
    print("\nIn process: the request path (per request; ratio to a JSON round-trip of the request)")
    catalogue = load_catalogue()
    from .ddb import routes as article_routes

    routes = article_routes()
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
