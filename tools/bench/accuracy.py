"""P1: accuracy under concurrency, on DynamoDB Local.

64 requests start together against a ceiling of 20 (requests; then total tokens, 20 estimates'
worth, with the real usage below the estimate). Tollgate's ledger reserves the estimate atomically
before the call and settles the real usage after it; the baseline is the article's part-1 style:
read the current usage, decide, call the model, then write what was used.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from . import adapters, ddb

CONCURRENT = 64
CEILING_REQUESTS = 20
MODEL_SECONDS = 0.05  # the model call between the decision and the write


@dataclass
class Accuracy:
    admitted: int
    ceiling: int
    overshoot: int  # units counted past the ceiling
    false_denials: int  # denied although the settled usage left room for them
    denied: int
    used: int  # the counter once everything settled

    def as_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def measured(cls, *, requests: int, admitted: int, ceiling: int, used: int, real_amount: int) -> Accuracy:
        """The figures of one run, from what it sent, admitted and counted in the end."""
        return cls(
            admitted=admitted,
            ceiling=ceiling,
            overshoot=max(0, used - ceiling),
            false_denials=false_denials(requests - admitted, ceiling, used, real_amount),
            denied=requests - admitted,
            used=used,
        )


def false_denials(denied: int, ceiling: int, used: int, real_amount: int) -> int:
    """Denied requests that the settled usage had room for (each would have used ``real_amount``)."""
    room = max(0, ceiling - used)
    return min(denied, room // real_amount)


def _amounts(context: dict[str, Any], unit: str, output_share: float) -> tuple[int, int, dict[str, int]]:
    """(estimate, real amount, usage) of one request in ``unit``; real output = share of max_tokens."""
    estimate = context["estimate"]
    output = int(estimate["outputTokens"] * output_share)
    usage = {
        "inputTokens": int(estimate["inputTokens"]),
        "outputTokens": output,
        "totalTokens": int(estimate["inputTokens"]) + output,
    }
    if unit == "requests":
        return 1, 1, usage
    return int(estimate["totalTokens"]), usage["totalTokens"], usage


def _concurrently(work: Any, n: int) -> list[bool]:
    barrier = threading.Barrier(n)

    def one(i: int) -> bool:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def tollgate(endpoint: str, unit: str, *, n: int = CONCURRENT, output_share: float = 0.5) -> Accuracy:
    client = ddb.client(endpoint, pool=n)
    run = uuid.uuid4().hex[:8]
    template = ddb.request_context(f"p1-{run}")
    estimate, real, usage = _amounts(template, unit, output_share)
    ceiling = CEILING_REQUESTS * estimate
    contexts = [{**template, "requestId": f"p1-{run}-{i}"} for i in range(n)]
    with ddb.table(client, "p1") as name:
        ledger = adapters.new_ledger(client, name)
        limits = [adapters.limit(f"p1/{unit}", unit, ceiling)]

        def work(i: int) -> bool:
            context, execution = contexts[i], f"exec-{run}-{i}"
            decision = adapters.reserve(ledger, context, execution, limits)
            if decision["decision"] != "approved":
                return False
            adapters.mark_invoking(ledger, context, execution)
            time.sleep(MODEL_SECONDS)
            adapters.settle(ledger, context, execution, usage, template["estimate"]["costUsd"])
            return True

        admitted = sum(_concurrently(work, n))
        used = _counter_used(client, name, f"p1/{unit}")
    return Accuracy.measured(requests=n, admitted=admitted, ceiling=ceiling, used=used, real_amount=real)


def read_then_decide(endpoint: str, unit: str, *, n: int = CONCURRENT, output_share: float = 0.5) -> Accuracy:
    """The baseline: a consistent read of the usage, the decision, the call, then an ADD of the usage."""
    client = ddb.client(endpoint, pool=n)
    template = ddb.request_context(f"p1-baseline-{uuid.uuid4().hex[:8]}")
    estimate, real, _ = _amounts(template, unit, output_share)
    ceiling = CEILING_REQUESTS * estimate
    with ddb.table(client, "p1-baseline") as name:
        key = {"pk": {"S": "USAGE"}, "sk": {"S": unit}}

        def read_used() -> int:
            item = client.get_item(TableName=name, Key=key, ConsistentRead=True).get("Item")
            return int(item["used"]["N"]) if item else 0

        def work(i: int) -> bool:
            if read_used() + estimate > ceiling:
                return False
            time.sleep(MODEL_SECONDS)
            client.update_item(
                TableName=name,
                Key=key,
                UpdateExpression="ADD used :amount",
                ExpressionAttributeValues={":amount": {"N": str(real)}},
            )
            return True

        admitted = sum(_concurrently(work, n))
        used = read_used()
    return Accuracy.measured(requests=n, admitted=admitted, ceiling=ceiling, used=used, real_amount=real)


def _counter_used(client: Any, table: str, limit_id: str) -> int:
    """The counter of ``limit_id``, read back from the table (a scan: the table is the bench's own)."""
    total = 0
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            if item.get("limitId", {}).get("S") == limit_id and "used" in item:
                total += int(item["used"]["N"])
    return total


def measure(endpoint: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for unit in ("requests", "total_tokens"):
        figures = {
            "tollgate": tollgate(endpoint, unit).as_json(),
            "read_then_decide": read_then_decide(endpoint, unit).as_json(),
        }
        if unit == "requests":
            out.update(figures)
        else:
            out["tokens"] = figures
    return out
