"""P4: reserve+mark+settle decisions per second from 16 threads on DynamoDB Local, against raw
single-item UpdateItem calls per second from 16 threads in the same run (rounds interleaved)."""

from __future__ import annotations

import itertools
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import adapters, ddb

THREADS = 16
ROUND_SECONDS = 3.0
ROUNDS = 2


def _rate(work: Callable[[int], None], threads: int, seconds: float) -> float:
    """Completed calls of ``work`` per second, from ``threads`` threads for ``seconds``."""
    done = [0] * threads
    deadline = time.perf_counter() + seconds
    barrier = threading.Barrier(threads)

    def loop(t: int) -> None:
        barrier.wait()
        while time.perf_counter() < deadline:
            work(t)
            done[t] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(loop, range(threads)))
    return sum(done) / (time.perf_counter() - started)


class _Calls:
    """Calls and transaction cancellation reasons seen by one client (botocore event hooks)."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter = Counter()
        self.reasons: Counter = Counter()
        self.lock = threading.Lock()
        client.meta.events.register("provide-client-params.dynamodb.*", self._items)
        client.meta.events.register("after-call.dynamodb.*", self._count)

    def _items(self, params: dict, model: Any, **_: Any) -> None:
        """Items each call writes: what a storage-bound backend pays for."""
        written = {"UpdateItem": 1, "PutItem": 1, "TransactWriteItems": len(params.get("TransactItems", []))}
        with self.lock:
            self.calls["items written"] += written.get(model.name, 0)

    def _count(self, parsed: dict, model: Any, **_: Any) -> None:
        with self.lock:
            self.calls[model.name] += 1
            for reason in parsed.get("CancellationReasons") or []:
                if reason.get("Code") not in (None, "None"):
                    self.reasons[reason["Code"]] += 1


def measure(endpoint: str, *, threads: int = THREADS, seconds: float = ROUND_SECONDS) -> dict[str, Any]:
    client = ddb.client(endpoint, pool=threads * 2)
    seen = _Calls(client)
    run = uuid.uuid4().hex[:8]
    template = ddb.request_context(f"p4-{run}")
    usage = {"inputTokens": 20, "outputTokens": 90, "totalTokens": 110}
    sequence = itertools.count()
    with ddb.table(client, "p4") as name:
        ledger = adapters.new_ledger(client, name)
        limits = [adapters.limit("p4/org-tokens", "total_tokens", 10**15)]
        raw_key = {"pk": {"S": "COUNTER#raw"}, "sk": {"S": "month"}}

        def raw(_: int) -> None:
            client.update_item(
                TableName=name,
                Key=raw_key,
                UpdateExpression="ADD used :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )

        def decision(_: int) -> None:
            i = next(sequence)
            context = {**template, "requestId": f"p4-{run}-{i}"}
            execution = f"exec-{run}-{i}"
            result = adapters.reserve(ledger, context, execution, limits)
            if result["decision"] != "approved":
                raise RuntimeError(f"P4: a reservation was not approved: {result}")
            if adapters.mark_invoking(ledger, context, execution) != "marked":
                raise RuntimeError(f"P4: the reservation {context['requestId']} could not be marked invoking")
            adapters.settle(ledger, context, execution, usage, "0.0004", result["counters"])

        raw(0)
        decision(0)  # connections and the counter item exist before timing
        raw_rates, decision_rates = [], []
        seen.calls.clear()
        seen.reasons.clear()
        for _ in range(ROUNDS):
            raw_rates.append(_rate(raw, threads, seconds))
            before = Counter(seen.calls)
            started = next(sequence)
            decision_rates.append(_rate(decision, threads, seconds))
            decisions = next(sequence) - started - 1
            calls = seen.calls - before
    raw_per_s, decisions_per_s = statistics.median(raw_rates), statistics.median(decision_rates)
    return {
        "threads": threads,
        "decisions_per_s": round(decisions_per_s, 1),
        "raw_update_item_per_s": round(raw_per_s, 1),
        "ratio": round(decisions_per_s / raw_per_s, 3),
        # of the last round of decisions: what one decision costs in calls, and why it was retried
        "calls_per_decision": {k: round(v / max(decisions, 1), 2) for k, v in sorted(calls.items())},
        "cancellation_reasons": dict(seen.reasons),
    }
