"""End to end: a sharded limit (issue 9, P5) written by `terraform apply` into LocalStack's
DynamoDB (DynamoDB Local), used by real executions and by 64 concurrent reservations.

DynamoDB Local has no partition limits, so this proves correctness, not throughput: however the
64 reservations interleave, the shards never admit more than the ceiling, and the false denials
(requests denied although another shard still had room) are reported.
"""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from threading import Barrier

import boto3
import pytest
from botocore.config import Config
from test_workflow import request, run, used

from tollgate import cli
from tollgate.catalogue import load_catalogue
from tollgate.config_store import ConfigStore
from tollgate.ledger import Ledger, LedgerBusy, RequestRef
from tollgate.limits import split_ceiling

pytestmark = pytest.mark.e2e

CEILING, SHARDS, CALLERS, EXECUTIONS = 20, 4, 64, 3


def shard_items(ddb, deployment, limit_id: str) -> dict[str, Decimal]:
    """Every counter item of the limit (its shards), by sort key."""
    items = ddb.query(
        TableName=deployment.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"COUNTER#{limit_id}"}},
        ConsistentRead=True,
    )["Items"]
    return {i["sk"]["S"]: Decimal(i["used"]["N"]) for i in items}


def context_for(app: str, request_id: str) -> dict:
    """A validated request's context as the rate-limit function receives it (one request)."""
    return {
        "requestId": request_id,
        "route": "nova-micro",
        "modelId": "amazon.nova-micro-v1:0",
        "tags": {"applicationId": app, "costCenter": "e2e", "environment": "dev"},
        "dimensions": {"Model": "nova-micro", "CostCenter": "e2e", "Application": app, "Environment": "dev"},
        "converse": {"messages": [{"role": "user", "content": [{"text": request_id}]}]},
        "estimate": {"inputTokens": 10, "outputTokens": 200, "totalTokens": 210, "costUsd": "0.0001"},
    }


def test_a_sharded_limit_never_admits_past_its_ceiling(aws, deployment, localstack_endpoint):
    sfn, ddb = aws("stepfunctions"), aws("dynamodb")
    app = deployment.run.app("shards")
    limit_id = f"applicationId={app}/day/requests"
    item = ddb.get_item(TableName=deployment.table, Key={"pk": {"S": "LIMIT"}, "sk": {"S": limit_id}})["Item"]
    assert item["shards"] == {"N": str(SHARDS)}  # written by terraform apply

    # Real executions first: the deployed rate-limit function reserves on a shard and settles it.
    for i in range(EXECUTIONS):
        assert (
            run(sfn, deployment, request("nova-micro", app, text=f"Sharded request {i}.")).name == "Succeeded"
        )
    assert used(ddb, deployment, limit_id) == EXECUTIONS  # `tollgate usage` sums the shards

    # Then 64 reservations at once against the deployed table, each from its own thread.
    client = boto3.client(
        "dynamodb",
        endpoint_url=localstack_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(max_pool_connections=CALLERS, retries={"mode": "standard", "total_max_attempts": 2}),
    )
    store = ConfigStore(deployment.table, client, cache_seconds=300, catalogue=load_catalogue())
    limits = [limit for limit in store.limits() if limit.id == limit_id]
    assert [limit.shards for limit in limits] == [SHARDS]
    ledger = Ledger(client, deployment.table, max_attempts=10)
    start = Barrier(CALLERS)
    request_ids = [f"shard-{uuid.uuid4().hex[:12]}" for _ in range(CALLERS)]

    busy = Counter()

    def reserve(request_id: str) -> dict:
        start.wait()
        for _ in range(5):  # as the state machine retries LedgerBusy (contention, not a decision)
            try:
                return ledger.reserve(context_for(app, request_id), f"exec-{request_id}", lambda: limits)
            except LedgerBusy:
                busy["retries"] += 1
        raise AssertionError(f"reservation {request_id} stayed busy")

    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        results = list(pool.map(reserve, request_ids))
    decisions = Counter(r["decision"] for r in results)
    admitted = decisions["approved"] + EXECUTIONS
    shards = shard_items(ddb, deployment, limit_id)
    parts = split_ceiling(Decimal(CEILING), SHARDS, "requests")
    # A false denial: denied although the limit as a whole still had room (its shards read back).
    false_denials = sum(
        1 for r in results if r["decision"] == "denied" and r["denial"]["limit"]["used"] < CEILING
    )
    print(
        f"\nsharded limit: {CALLERS} concurrent reservations + {EXECUTIONS} executions, ceiling {CEILING} "
        f"over {SHARDS} shards: admitted {admitted}, overshoot {max(0, admitted - CEILING)}, "
        f"ceiling left unused {CEILING - admitted}, false denials {false_denials}, "
        f"decisions {dict(decisions)}, LedgerBusy retries {busy['retries']}, shards {sorted(shards.values())}"
    )
    assert set(decisions) <= {"approved", "denied"}
    assert admitted <= CEILING  # no overshoot, whatever the interleaving
    assert sum(shards.values()) == admitted  # nothing counted twice or lost
    assert len(shards) <= SHARDS and all(value <= max(parts) for value in shards.values())
    # With three of four shards tried, at most one shard's part can be left unused.
    assert admitted >= CEILING - max(parts)
    for result in results:
        if result["decision"] == "denied":
            denial = result["denial"]
            assert denial["reason"] == "limit_exceeded"
            assert denial["limit"]["limit"] == CEILING and denial["limit"]["used"] >= CEILING - max(parts)
            assert denial["retryAfterSeconds"] >= 1

    # Releasing every reservation gives back exactly what each took, on the shard it took it from.
    for request_id, result in zip(request_ids, results, strict=True):
        if result["decision"] == "approved":
            ledger.release(RequestRef(app, request_id), f"exec-{request_id}")
    assert sum(shard_items(ddb, deployment, limit_id).values()) == EXECUTIONS
    rows = [r for r in cli.usage_rows(ddb, deployment.table) if r["limitId"] == limit_id]
    assert [(r["scope"], r["used"]) for r in rows] == [(f"applicationId={app}", EXECUTIONS)]
