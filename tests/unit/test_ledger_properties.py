"""Property test: random interleavings of reserve, mark, settle, release, resolve, replay, sweep
and clock moves on the ledger (moto) keep its invariants (issue 7, docs/ledger.md):

- no enforced counter exceeds its ceiling by more than the settled underestimates;
- after a sweep, no lease that has expired is still open;
- every counter equals the settled actuals plus the charged and open estimates.

Each example draws how many shards each limit has (issue 9, P5): a sharded limit's counter is the
sum of its shard items, and no requests shard passes its part of the ceiling.

The figures of the run (examples, operations, outcomes) are printed at the end.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import boto3
import pytest
from conftest import TABLE, article_request, article_routes, at, put_limit, used
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tollgate.config_store import ConfigStore
from tollgate.ledger import Ledger, RequestRef
from tollgate.limits import split_ceiling
from tollgate.states import State
from tollgate.validation import ValidationOptions, validate_request

OPTIONS = ValidationOptions(("production",), 100_000, False)
CEILING = 3000  # total_tokens per day, enforced
MAX_REQUESTS = 6  # requests per day, enforced
LEASE = 120
MAX_TOKENS = (100, 400, 700, 1000)
FIGURES: Counter = Counter()

operation = st.one_of(
    st.tuples(st.just("reserve"), st.integers(0, 3)),
    st.tuples(st.just("mark"), st.integers(0, 3)),
    st.tuples(st.just("settle"), st.integers(0, 3), st.integers(1, 600), st.integers(0, 1200)),
    st.tuples(st.just("release"), st.integers(0, 3)),
    st.tuples(st.just("resolve"), st.integers(0, 3)),
    st.tuples(
        st.just("sweep"),
    ),
    st.tuples(st.just("clock"), st.integers(1, 200)),
)


def contexts(catalogue):
    made = []
    for i, max_tokens in enumerate(MAX_TOKENS):
        request = {**article_request(), "requestId": f"req-{i}"}
        request["prompt"] = {**request["prompt"], "parameters": {"max_tokens": max_tokens}}
        result = validate_request(request, routes=article_routes(), catalogue=catalogue, options=OPTIONS)
        made.append(result.context)
    return made


def create_table(token_shards: int = 1, request_shards: int = 1):
    client = boto3.client("dynamodb")
    if TABLE in client.list_tables()["TableNames"]:
        client.delete_table(TableName=TABLE)  # one moto for the whole run; a fresh table per example
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": t}
            for n, t in (("pk", "S"), ("sk", "S"), ("lease", "S"), ("leaseExpiresAt", "N"))
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "leases",
                "KeySchema": [
                    {"AttributeName": "lease", "KeyType": "HASH"},
                    {"AttributeName": "leaseExpiresAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    table = boto3.resource("dynamodb").Table(TABLE)
    put_limit(table, "tokens", unit="total_tokens", limit=CEILING, shards=token_shards)
    put_limit(table, "requests", unit="requests", limit=MAX_REQUESTS, shards=request_shards)
    return table


def summed(counters: dict[str, Decimal], limit_id: str) -> Decimal:
    """A limit's counter for the day: the sum of its shard items (one item when unsharded)."""
    return sum(
        (v for k, v in counters.items() if k.startswith(f"{limit_id}|2025-03-04T00:00:00Z#")), Decimal(0)
    )


class Attempt:
    """One approved reservation as the model of the ledger sees it."""

    def __init__(self, estimate: int):
        self.estimate = estimate
        self.state = State.RESERVED
        self.actual: int | None = None
        self.counters: list | None = None

    def counted(self) -> int:
        if self.state == State.RELEASED:
            return 0
        if self.state == State.SETTLED:
            return self.actual
        return self.estimate  # reserved, invoking, charged


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(operation, min_size=6, max_size=16), st.sampled_from((1, 2, 3)), st.sampled_from((1, 2, 4)))
def test_random_interleavings_keep_the_ledger_s_invariants(operations, token_shards, request_shards):
    catalogue_contexts = _CONTEXTS
    table = create_table(token_shards, request_shards)
    FIGURES[f"shards tokens={token_shards}"] += 1
    FIGURES[f"shards requests={request_shards}"] += 1
    request_parts = split_ceiling(Decimal(MAX_REQUESTS), request_shards, "requests")
    clock = [at("2025-03-04T08:00:00Z")]
    ledger = Ledger(
        boto3.client("dynamodb"), TABLE, lease_seconds=LEASE, clock=lambda: clock[0], sleep=lambda s: None
    )
    store = ConfigStore(TABLE, boto3.client("dynamodb"), cache_seconds=0, catalogue=_CATALOGUE)
    attempts: dict[str, Attempt] = {}
    holder: dict[int, str] = {}
    underestimates = 0
    executions = 0
    FIGURES["examples"] += 1
    for op in operations:
        FIGURES[op[0]] += 1
        name, i = op[0], (op[1] if len(op) > 1 else None)
        ref = RequestRef.of(catalogue_contexts[i]) if i is not None and name != "clock" else None
        if name == "reserve":
            executions += 1
            execution = f"exec-{executions}"
            result = ledger.reserve(catalogue_contexts[i], execution, store.limits)
            FIGURES[f"reserve:{result['decision']}"] += 1
            if result["decision"] == "approved":
                estimate = catalogue_contexts[i]["estimate"]["totalTokens"]
                attempts[execution] = Attempt(estimate)
                attempts[execution].counters = result["counters"]
                holder[i] = execution
        elif name in ("mark", "settle", "release", "resolve") and i in holder:
            execution = holder[i]
            if name == "mark":
                if ledger.mark_invoking(ref, execution)["mark"] == "marked":
                    attempts[execution].state = State.INVOKING
            elif name == "settle":
                usage = {"inputTokens": op[2], "outputTokens": op[3], "totalTokens": op[2] + op[3]}
                # As the workflow does (Reserve's counters carried, no read), or the reading way.
                carried = attempts[execution].counters if op[2] % 2 == 0 else None
                FIGURES["settle:" + ("carried" if carried is not None else "read")] += 1
                closure = ledger.settle(
                    ref, execution, usage, 0, {"requestId": ref.request_id}, counters=carried
                )
                if closure.get("closed"):
                    attempts[execution].state, attempts[execution].actual = State.SETTLED, op[2] + op[3]
                    underestimates += max(0, op[2] + op[3] - attempts[execution].estimate)
            elif name == "release":
                if ledger.release(ref, execution).get("closed"):
                    attempts[execution].state = State.RELEASED
            else:
                closure = ledger.resolve(ref, execution)
                if closure.get("closed"):
                    attempts[execution].state = State(closure["state"])
        elif name == "sweep":
            for swept in ledger.sweep():
                attempts[swept["item"]["executionId"]].state = State(swept["closure"]["state"])
                FIGURES[f"swept:{swept['closure']['state']}"] += 1
            now = int(clock[0].timestamp())
            assert not [
                i for i in table.scan()["Items"] if i.get("lease") == "OPEN" and i["leaseExpiresAt"] < now
            ], "an expired lease is still open after a sweep"
        elif name == "clock":
            clock[0] += timedelta(seconds=op[1])
        # A reserve that found an expired lease closed it itself: learn how from the items.
        _learn_expired(table, attempts, holder)

        counters = used(table)
        tokens = summed(counters, "tokens")
        requests = summed(counters, "requests")
        assert tokens == sum(a.counted() for a in attempts.values()), (tokens, operations)
        assert requests == sum(1 for a in attempts.values() if a.state != State.RELEASED)
        assert tokens <= CEILING + underestimates, (tokens, underestimates)
        assert requests <= MAX_REQUESTS
        for key, value in counters.items():
            if key.startswith("requests|"):
                shard = int(key.rsplit("#shard-", 1)[1]) if "#shard-" in key else 0
                assert value <= request_parts[shard], (key, value, request_parts)
    FIGURES["operations"] += len(operations)
    FIGURES["max tokens counted"] = max(FIGURES["max tokens counted"], int(tokens))
    # A final sweep past every lease leaves nothing open.
    clock[0] += timedelta(seconds=LEASE + 1)
    for swept in ledger.sweep():
        attempts[swept["item"]["executionId"]].state = State(swept["closure"]["state"])
        FIGURES[f"final sweep:{swept['closure']['state']}"] += 1
    assert not [i for i in table.scan()["Items"] if i.get("lease") == "OPEN"]
    assert summed(used(table), "tokens") == sum(a.counted() for a in attempts.values())


def _learn_expired(table, attempts, holder):
    """The reservation item names its holder; an attempt that lost it was expired by a reserve:
    charged if it was marked invoking, released otherwise."""
    current = {i["executionId"] for i in table.scan()["Items"] if i["sk"] == "RESERVATION"}
    for execution, attempt in attempts.items():
        if attempt.state in (State.RESERVED, State.INVOKING) and execution not in current:
            attempt.state = State.CHARGED if attempt.state == State.INVOKING else State.RELEASED


_CATALOGUE = None
_CONTEXTS = None


@pytest.fixture(autouse=True)
def _moto_and_figures(aws):
    global _CATALOGUE, _CONTEXTS
    from tollgate.catalogue import load_catalogue

    _CATALOGUE = load_catalogue()
    _CONTEXTS = contexts(_CATALOGUE)
    yield
    print("\nledger property test figures:", dict(sorted(FIGURES.items())))
