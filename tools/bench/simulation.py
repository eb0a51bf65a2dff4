"""P5: one hot counter, simulated (DynamoDB Local has no partition limits).

A limit that every request matches puts all traffic on one counter item. DynamoDB serves at most
about 1,000 write units per second per partition, so one item takes at most that much; a write
inside a transaction costs 2 units per item (up to 1 KB). A reservation writes the counter once
(transactional); a settle writes it again when the real amount differs from the estimate (always,
for a USD limit). With ``shards`` the ceiling is split over N counter items; a reservation picks
one by hash; when that one is full, another with room, or pieces over several (issue 15).

Pure Python and deterministic (seeded): the unit tests check its arithmetic.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from tollgate.ledger import MAX_PIECES  # the ledger's cap on the shards one request is split over

ITEM_WRITE_UNITS_PER_SECOND = 1_000  # per partition; one hot item cannot take more
TRANSACTIONAL_UNITS_PER_ITEM = 2  # a transactional write of an item up to 1 KB
EXTRA_TRIES = 2  # "pick a shard by hash, try up to two others when full"


def units_per_request(*, settle_writes_counter: bool = True) -> int:
    """Write units one admitted request costs its counter item: the reserve, and the settle."""
    writes = 2 if settle_writes_counter else 1
    return writes * TRANSACTIONAL_UNITS_PER_ITEM


def capacity_per_second(shards: int, *, settle_writes_counter: bool = True) -> float:
    """Requests per second that N counter items can admit, each on its own partition."""
    return (
        shards * ITEM_WRITE_UNITS_PER_SECOND / units_per_request(settle_writes_counter=settle_writes_counter)
    )


def split_ceiling(ceiling: int, shards: int) -> list[int]:
    """The ceiling split over N counters: shares differ by at most 1 and add up to the ceiling."""
    if shards < 1:
        raise ValueError(f"shards is {shards}; it must be at least 1.")
    share, extra = divmod(ceiling, shards)
    return [share + (1 if i < extra else 0) for i in range(shards)]


def shard_order(first: int, shards: int, rng: random.Random) -> list[int]:
    """The shard picked by hash, then up to two others (distinct, chosen at random)."""
    others = [s for s in range(shards) if s != first]
    return [first, *rng.sample(others, min(EXTRA_TRIES, len(others)))]


@dataclass(frozen=True)
class Throughput:
    shards: int
    offered_per_s: float
    admitted_per_s: float
    throttled_per_s: float


def simulate_throughput(
    shards: int,
    *,
    offered_per_s: float,
    seconds: float = 2.0,
    tick_s: float = 0.001,
    settle_writes_counter: bool = True,
    seed: int = 7,
) -> Throughput:
    """Admitted requests per second when ``offered_per_s`` arrive for a limit far from its ceiling.

    Each counter item is a token bucket refilled at 1,000 units/s (no burst credit: sustained load);
    a request hashes to one item and is admitted when that item has the units for it. A request the
    item cannot take (throttled) tries the next shard in its order, as it would a full one.
    """
    rng = random.Random(seed)
    cost = units_per_request(settle_writes_counter=settle_writes_counter)
    refill = ITEM_WRITE_UNITS_PER_SECOND * tick_s
    cap = cost + refill  # no burst credit beyond one request
    buckets = [float(cost)] * shards  # an idle item can take one request at once
    admitted = throttled = 0
    ticks = round(seconds / tick_s)
    per_tick = offered_per_s * tick_s
    carry = 0.0
    for _ in range(ticks):
        buckets = [min(b + refill, cap) for b in buckets]
        carry += per_tick
        arrivals, carry = int(carry), carry - int(carry)
        for _ in range(arrivals):
            for shard in shard_order(rng.randrange(shards), shards, rng):
                if buckets[shard] >= cost:
                    buckets[shard] -= cost
                    admitted += 1
                    break
            else:
                throttled += 1
    return Throughput(shards, offered_per_s, admitted / seconds, throttled / seconds)


@dataclass(frozen=True)
class Accuracy:
    shards: int
    ceiling: int
    admitted_amount: int
    overshoot: int
    requests: int
    false_denials: int
    false_denial_rate: float  # over all requests a single counter would have admitted
    near_ceiling_false_denial_rate: float  # the same, once 90% of the ceiling is used
    split_requests: int = 0  # admitted in pieces over several shards (one transaction)


PLACE = "place"  # the ledger's: the hashed shard, else any shard with room, else split (issue 15)
TRIES = "tries"  # before issue 15: the hashed shard and two others, denied when all three are full


def simulate_accuracy(
    shards: int,
    *,
    ceiling: int,
    amounts: Sequence[int],
    seed: int = 7,
    near: float = 0.9,
    strategy: str = PLACE,
) -> Accuracy:
    """Admit ``amounts`` one by one against a ceiling split over N shards.

    A false denial is a request the sharded ledger denies although the limit as a whole (one counter)
    still had room for it. The overshoot is what the counters hold past the ceiling: always 0, since
    every shard (every piece of a split request) is checked against its own share.

    ``PLACE`` (tollgate.ledger today): the hashed shard when it has the room; else the first shard
    in the request's order with the room; else the amount split over the shards with most room,
    in one transaction; denied only when all shards together are short. ``TRIES``: the design
    before, for comparison.
    """
    if strategy not in (PLACE, TRIES):
        raise ValueError(f"strategy is {strategy!r}; it must be {PLACE!r} or {TRIES!r}.")
    rng = random.Random(seed)
    shares = split_ceiling(ceiling, shards)
    used = [0] * shards
    total = 0
    false_denials = with_room = near_denials = near_with_room = split = 0
    for amount in amounts:
        room = ceiling - total
        is_near = total >= near * ceiling
        first = rng.randrange(shards)
        if strategy == TRIES:
            pieces = _first_fit(shard_order(first, shards, rng), used, shares, amount)
        else:
            order = [first, *rng.sample([s for s in range(shards) if s != first], shards - 1)]
            pieces = _first_fit(order, used, shares, amount) or _split(order, used, shares, amount)
        for shard, piece in pieces:
            used[shard] += piece
        admitted = bool(pieces)
        total += amount if admitted else 0
        split += len(pieces) > 1
        if room >= amount:
            with_room += 1
            near_with_room += is_near
            if not admitted:
                false_denials += 1
                near_denials += is_near
    return Accuracy(
        shards=shards,
        ceiling=ceiling,
        admitted_amount=total,
        overshoot=max(0, sum(used) - ceiling, *(u - c for u, c in zip(used, shares, strict=True))),
        requests=len(amounts),
        false_denials=false_denials,
        false_denial_rate=false_denials / with_room if with_room else 0.0,
        near_ceiling_false_denial_rate=near_denials / near_with_room if near_with_room else 0.0,
        split_requests=split,
    )


def _first_fit(
    order: Sequence[int], used: list[int], shares: list[int], amount: int
) -> list[tuple[int, int]]:
    for shard in order:
        if used[shard] + amount <= shares[shard]:
            return [(shard, amount)]
    return []


def _split(order: Sequence[int], used: list[int], shares: list[int], amount: int) -> list[tuple[int, int]]:
    """Pieces over the shards with most room (ties in the request's order); none if short, or if
    more than ``MAX_PIECES`` would be needed (the ledger then denies)."""
    pieces, left = [], amount
    for shard in sorted(order, key=lambda s: used[s] - shares[s]):
        room = shares[shard] - used[shard]
        if left <= 0 or room <= 0:
            break
        pieces.append((shard, min(room, left)))
        left -= pieces[-1][1]
    return pieces if left <= 0 and len(pieces) <= MAX_PIECES else []


def request_amounts(count: int, *, low: int, high: int, seed: int = 11) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(low, high) for _ in range(count)]
