"""The ledger: reserve, settle, release and charge against the DynamoDB table.

- ``reserve``: one TransactWriteItems that adds the request's estimate to every matching counter,
  each enforced one conditioned on still having room, plus the reservation item; either all of it
  happens or none, so concurrent requests can never push a counter past its ceiling. The
  reservation is keyed by the caller's applicationId and requestId, bound to a fingerprint of the
  request, and holds a lease until which no other execution may take it.
- ``mark_invoking``: the invoke function's conditional mark before it calls the model; a second
  attempt that finds it knows the model may already have run.
- ``settle``: corrects the counters from the estimate to the real usage (stores the result for
  replays). ``release``: gives the estimate back (the model provably did not run). ``charge``:
  closes the reservation at its estimate (the model may have run; the outcome is unknown).
  ``resolve`` picks charge or release from the mark. ``sweep`` closes reservations whose lease
  expired (their execution died).

All of them are idempotent per request (see docs/internals.md, section 2, and docs/ledger.md).
The module has two halves: the decisions (the ``Ledger`` class) and the DynamoDB requests they
send (the ``_*_request`` functions at the end), so each can be read without the other.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NotRequired, TypedDict, TypeVar

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from tollgate.alerts import AlertPublisher, alert_message, threshold_token, thresholds_due
from tollgate.config_store import deserialize
from tollgate.limits import (
    ABSENT_TAG,
    Amounts,
    CounterPlan,
    Limit,
    format_instant,
    plan_counters,
    retry_after_seconds,
)
from tollgate.observability import logger
from tollgate.states import Decision, DenialReason, State
from tollgate.values import cost_problem, dynamodb_safe, json_safe, usage_problem

MAX_TRANSACTION_ITEMS = 100
RETRYABLE_REASONS = ("TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded")
THROTTLED_REASONS = ("ThrottlingError", "ProvisionedThroughputExceeded")
# The sparse index of open leases: only open reservations carry these two attributes.
LEASE_INDEX = "leases"
LEASE_ATTRIBUTE, LEASE_EXPIRY_ATTRIBUTE, OPEN_LEASE = "lease", "leaseExpiresAt", "OPEN"
# An expired reservation's close (a retry's takeover or a sweep) leaves, in the same transaction, an
# item under this lease value: the dead execution whose outcome the sweeper still has to record.
UNRECORDED = "UNRECORDED"
RECORD_MARK_SECONDS = 7 * 86_400
# A conditional write's own ID: its SDK retry, refused because the write already happened, finds
# this ID and knows the write is its own (the invoking mark, the record claim).
WRITE_ID_ATTRIBUTE = "writeId"
# Re-taking a closed reservation: a released or charged one, for the same request.
RETAKABLE = (State.RELEASED, State.CHARGED)

_serializer = TypeSerializer()
_T = TypeVar("_T")


class LedgerBusy(Exception):
    """The transaction kept conflicting with concurrent ones; the state machine may retry."""


class LedgerUnavailable(Exception):
    """DynamoDB could not be reached or refused the call."""


class Closure(TypedDict):
    """What settle, release, charge and resolve return: the reservation's state afterwards and the
    change made to each counter (empty when nothing was closed)."""

    state: str
    deltas: list[dict[str, Any]]
    closed: NotRequired[bool]  # present (True) only when this call closed the reservation


class Mark(TypedDict):
    """What ``mark_invoking`` found: ``marked`` (go ahead), ``already_invoking`` (an earlier
    attempt of this execution may have called the model) or ``not_held``."""

    mark: str
    state: str


@dataclass(frozen=True)
class RequestRef:
    """A request's identity in the ledger: its requestId within its caller's applicationId."""

    application_id: str
    request_id: str

    @classmethod
    def of(cls, context: Mapping[str, Any]) -> RequestRef:
        tags = context.get("tags") or {}
        return cls(str(tags.get("applicationId") or ABSENT_TAG), str(context["requestId"]))

    @property
    def pk(self) -> str:
        return f"REQUEST#{self.application_id}#{self.request_id}"

    @property
    def key(self) -> dict[str, Any]:
        return {"pk": {"S": self.pk}, "sk": {"S": "RESERVATION"}}


def reservation_key(application_id: str, request_id: str) -> dict[str, Any]:
    return RequestRef(application_id, request_id).key


def fingerprint(context: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical request: route, messages (system included), inference parameters
    and tags. The requestId itself (in requestMetadata) is left out: it is the key, not content."""
    arguments = {k: v for k, v in (context.get("converse") or {}).items() if k != "requestMetadata"}
    canonical = {"route": context.get("route"), "converse": arguments, "tags": context.get("tags") or {}}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def _error_code(error: Exception) -> str | None:
    return error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None


def _unless_condition_fails(write: Callable[..., Any], **request: Any) -> ClientError | None:
    """Send one conditional single-item write: None when it was made, the error when its condition
    refused it (its ``Item`` holds the old item when the request asked for it); any other error
    is raised."""
    try:
        write(**request)
    except ClientError as error:
        if _error_code(error) == "ConditionalCheckFailedException":
            return error
        raise
    return None


def _unavailable(error: Exception) -> bool:
    """Whether a DynamoDB error means the ledger cannot be used (as opposed to a bug in our call)."""
    if isinstance(error, BotoCoreError | LedgerUnavailable):
        return True
    code = _error_code(error)
    return code is not None and code not in ("ValidationException", "TransactionCanceledException")


def transient(error: Exception) -> bool:
    """Whether the ledger is out of reach for a while (transport error or a 5xx), the only cases in
    which ``fail_open`` may admit traffic uncounted. AccessDenied, KMS errors, ResourceNotFound and
    throttling are answers, not outages: they fail closed whatever ``fail_open`` says."""
    if isinstance(error, BotoCoreError | LedgerUnavailable):
        return True
    if isinstance(error, ClientError):
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return status >= 500 or _error_code(error) in ("InternalServerError", "ServiceUnavailable")
    return False


@dataclass
class _Cancelled:
    reasons: list[dict[str, Any]]

    def code(self, index: int) -> str:
        return (self.reasons[index] if index < len(self.reasons) else {}).get("Code") or "None"

    def item(self, index: int) -> dict[str, Any] | None:
        item = (self.reasons[index] if index < len(self.reasons) else {}).get("Item")
        return deserialize(item) if item else None

    @property
    def retryable(self) -> bool:
        return any(r.get("Code") in RETRYABLE_REASONS for r in self.reasons)

    @property
    def unexpected(self) -> bool:
        """A reason other than a failed condition or contention (a malformed item: our bug)."""
        expected = ("None", "ConditionalCheckFailed", *RETRYABLE_REASONS)
        return any((r.get("Code") or "None") not in expected for r in self.reasons)


@dataclass
class Ledger:
    client: Any
    table_name: str
    idempotency_seconds: int = 86_400
    fail_open: bool = False
    lease_seconds: int = 600
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[float, float], float] = random.uniform
    max_attempts: int = 5
    backoff_base_seconds: float = 0.05
    backoff_cap_seconds: float = 1.0
    # Threshold alerts (tollgate.alerts): None turns them off.
    alerts: AlertPublisher | None = None

    # --- reserve ------------------------------------------------------------------------------------

    def reserve(
        self, context: Mapping[str, Any], execution_id: str, load_limits: Callable[[], list[Limit]]
    ) -> dict[str, Any]:
        ref = RequestRef.of(context)
        try:
            limits = load_limits()
            return self._reserve(context, ref, execution_id, limits)
        except (BotoCoreError, ClientError, LedgerUnavailable) as error:
            if not _unavailable(error):
                raise
            return self._ledger_unavailable(ref.request_id, error)

    def _reserve(
        self, context: Mapping[str, Any], ref: RequestRef, execution_id: str, limits: list[Limit]
    ) -> dict[str, Any]:
        print_ = fingerprint(context)
        # A sharded limit whose shard was full moves on to its next shard: limit ID -> tries made.
        tried: dict[str, int] = {}
        attempt = 0
        while attempt < self.max_attempts:
            now = self.clock()
            plans = _on_next_shards(
                plan_counters(limits, context, Amounts.from_estimate(context["estimate"]), now), tried
            )
            if len(plans) + 1 > MAX_TRANSACTION_ITEMS:
                raise ValueError(
                    f"{len(plans)} limits match this request; one transaction holds at most "
                    f"{MAX_TRANSACTION_ITEMS - 1} counters. Merge or narrow the limits."
                )
            if any(plan.limit.enforce and not plan.fits_at_all for plan in plans):
                result = self._deny_permanently(ref, execution_id, print_, plans, now)
                if result is None:
                    attempt += 1
                    continue
                return result
            items = [_counter_add_request(self.table_name, plan) for plan in plans]
            items.append(
                _reservation_put_request(
                    self.table_name,
                    ref,
                    execution_id,
                    print_,
                    plans,
                    context,
                    now,
                    self.idempotency_seconds,
                    self.lease_seconds,
                )
            )
            try:
                self.client.transact_write_items(TransactItems=items)
            except ClientError as error:
                cancelled = _cancellation(error)
                if cancelled is None:
                    raise
                if cancelled.code(len(plans)) == "ConditionalCheckFailed":
                    existing = cancelled.item(len(plans))
                    if existing is not None:
                        result = self._existing_reservation(ref, execution_id, print_, existing, now)
                        if result is not None:
                            return result
                        attempt += 1
                        continue
                elif not cancelled.retryable:
                    if cancelled.unexpected:
                        raise
                    exceeded = [
                        (plan, cancelled.item(i))
                        for i, plan in enumerate(plans)
                        if cancelled.code(i) == "ConditionalCheckFailed"
                    ]
                    if exceeded and all(_has_next_shard(plan, tried) for plan, _ in exceeded):
                        # Every full counter is a shard with another one left to try: not a denial
                        # yet (and not contention: the attempts are not used up by it).
                        for plan, _ in exceeded:
                            tried[plan.limit.id] = tried.get(plan.limit.id, 0) + 1
                        continue
                    return self._deny(ref.request_id, plans, exceeded, now)
                hot = [
                    plan
                    for i, plan in enumerate(plans)
                    if cancelled.code(i) in THROTTLED_REASONS and _has_next_shard(plan, tried)
                ]
                if hot:
                    # A throttled shard is a hot item: its next shard is another item, so it is
                    # tried at once (the attempt still counts) instead of waiting on the same one.
                    for plan in hot:
                        tried[plan.limit.id] = tried.get(plan.limit.id, 0) + 1
                else:
                    self._backoff(attempt)
                attempt += 1
                continue
            self._send_alerts([(plan.pk, plan.sk) for plan in plans if plan.limit.alert_at])
            return self._approved(ref.request_id, plans, self._shadow_denials(plans))
        raise LedgerBusy(
            f"The reservation for request {ref.request_id} kept conflicting with concurrent requests."
        )

    def _existing_reservation(
        self,
        ref: RequestRef,
        execution_id: str,
        print_: str,
        existing: Mapping[str, Any],
        now: datetime,
    ) -> dict[str, Any] | None:
        """The decision for a request whose reservation already exists, or None to try again (a
        stale reservation was closed, or the item changed meanwhile)."""
        request_id = ref.request_id
        state = existing.get("state")
        if int(existing.get("expiresAt", 0)) < int(now.timestamp()):
            return None  # expired (TTL not yet run): the put condition lets the next try through
        if existing.get("fingerprint") != print_:
            logger.warning(
                "requestId reused for a different request: rejected",
                extra={"requestId": request_id, "applicationId": ref.application_id},
            )
            return _rejected(ref)
        if state == State.SETTLED:
            logger.info(
                "Replay of a settled request: returning the stored result", extra={"requestId": request_id}
            )
            return {
                **_decision(Decision.REPLAY, request_id),
                "result": json_safe(existing.get("result") or {}),
            }
        if state in (State.RESERVED, State.INVOKING) and existing.get("executionId") == execution_id:
            return _decision(
                Decision.APPROVED, request_id, counters=json_safe(existing.get("counters") or [])
            )
        if state in (State.RESERVED, State.INVOKING):
            if _lease_expired(existing, now):
                logger.warning(
                    "The reservation's lease expired: closing it before taking the request again",
                    extra={"requestId": request_id, "heldBy": existing.get("executionId")},
                )
                self.expire(existing)
                return None
            logger.warning(
                "Another execution holds this request's reservation",
                extra={"requestId": request_id, "heldBy": existing.get("executionId")},
            )
            return _denied(request_id, DenialReason.DUPLICATE_IN_FLIGHT, None, [], 1)
        return None  # released or charged: the put condition lets the same request through

    def _deny(
        self,
        request_id: str,
        plans: list[CounterPlan],
        exceeded: Sequence[tuple[CounterPlan, Mapping[str, Any] | None]],
        now: datetime,
    ) -> dict[str, Any]:
        if not exceeded:
            raise LedgerBusy(
                f"The reservation for request {request_id} was cancelled without a reason; retry."
            )
        totals = self._denial_detail(lambda: self._sharded_totals([plan for plan, _ in exceeded]), request_id)
        described = [plan.describe(_denied_used(plan, item, totals)) for plan, item in exceeded]
        waits = [retry_after_seconds(plan.window_end, now) for plan, _ in exceeded]
        # The limit named is the one that keeps the request out longest.
        named = max(range(len(exceeded)), key=lambda i: (waits[i], -plans.index(exceeded[i][0])))
        return _denied(request_id, DenialReason.LIMIT_EXCEEDED, described[named], described, max(waits))

    def _deny_permanently(
        self, ref: RequestRef, execution_id: str, print_: str, plans: list[CounterPlan], now: datetime
    ) -> dict[str, Any] | None:
        enforced = [plan for plan in plans if plan.limit.enforce]
        keys = [ref.key] + [_shard_key(key) for plan in enforced for key in plan.shard_keys]
        items = self._denial_detail(lambda: self._batch_get(keys), ref.request_id)
        if items is None:
            # Decided without the read: the request needs more than a whole ceiling. (A settled
            # request's replay needed the read too: the caller retries and gets it then.)
            unread = [plan.describe(None) for plan in enforced if not plan.fits_at_all]
            return _denied(ref.request_id, DenialReason.LIMIT_EXCEEDED, unread[0], unread, None)
        existing = items.get((ref.pk, "RESERVATION"))
        if existing and not (existing.get("state") in RETAKABLE and existing.get("fingerprint") == print_):
            result = self._existing_reservation(ref, execution_id, print_, existing, now)
            if result is not None or existing.get("state") in (State.RESERVED, State.INVOKING):
                return result
        described, named = [], None
        for plan in enforced:
            if plan.fits_at_all and _used(items.get((plan.pk, plan.sk))) <= plan.ceiling_minus_amount:
                continue
            described.append(plan.describe(_total_used(plan, items)))
            if named is None and not plan.fits_at_all:
                named = described[-1]
        # More than a whole ceiling can never fit: there is no time after which to retry.
        return _denied(ref.request_id, DenialReason.LIMIT_EXCEEDED, named, described, None)

    def _denial_detail(self, read: Callable[[], _T], request_id: str) -> _T | None:
        """A read that only adds detail to a denial already decided (the used totals, a stored
        reservation): None, logged, when DynamoDB fails it. The denial stands either way: fail_open
        applies only when the ledger could not decide, never to a decision it reached."""
        try:
            return read()
        except (BotoCoreError, ClientError, LedgerUnavailable) as error:
            logger.warning(
                "Could not read the counters for the denial's detail; denied with the detail at hand",
                extra={"requestId": request_id, "error": str(error), "errorCode": _error_code(error)},
            )
            return None

    def _shadow_denials(self, plans: list[CounterPlan]) -> list[dict[str, Any]]:
        """Shadow limits that this request took past their ceiling (read back after the reserve)."""
        shadow = [plan for plan in plans if not plan.limit.enforce]
        if not shadow:
            return []
        try:
            items = self._batch_get([_shard_key(key) for plan in shadow for key in plan.shard_keys])
        except (BotoCoreError, ClientError, LedgerUnavailable) as error:
            logger.warning(
                "Could not read shadow limits back; no would-be denials reported", extra={"error": str(error)}
            )
            return []
        denials = []
        for plan in shadow:
            used_after = _total_used(plan, items)  # a sharded limit: the sum of its shards
            if used_after > plan.limit.ceiling:
                denials.append(plan.describe(used_after - plan.amount))
        if denials:
            logger.warning(
                "Shadow limits would have denied this request",
                extra={"limitIds": [d["id"] for d in denials]},
            )
        safe: list[dict[str, Any]] = json_safe(denials)
        return safe

    def _sharded_totals(self, plans: list[CounterPlan]) -> dict[str, Decimal]:
        """The used total of each sharded plan's limit (its shards read back), by the plan's sk; a
        denial reports the limit's total, not the one shard that was full."""
        sharded = [plan for plan in plans if plan.limit.shards > 1]
        if not sharded:
            return {}
        items = self._batch_get([_shard_key(key) for plan in sharded for key in plan.shard_keys])
        return {plan.sk: _total_used(plan, items) for plan in sharded}

    def _approved(
        self, request_id: str, plans: list[CounterPlan], shadow_denials: list[dict[str, Any]]
    ) -> dict[str, Any]:
        counters = json_safe([_counter_entry(plan) for plan in plans])
        return _decision(Decision.APPROVED, request_id, counters=counters, shadow_denials=shadow_denials)

    def _ledger_unavailable(self, request_id: str, error: Exception) -> dict[str, Any]:
        if self.fail_open and transient(error):
            logger.warning(
                "Ledger unavailable: failing OPEN (admitted without counting)",
                extra={"requestId": request_id, "error": str(error)},
            )
            return {**_decision(Decision.APPROVED, request_id), "failOpen": True}
        log = logger.warning if transient(error) else logger.error
        log(
            "Ledger unavailable: failing CLOSED (denied)"
            + ("" if transient(error) else "; fail_open does not apply to this error, fix the deployment"),
            extra={"requestId": request_id, "error": str(error), "errorCode": _error_code(error)},
        )
        return _denied(request_id, DenialReason.LEDGER_UNAVAILABLE, None, [], 1)

    # --- the invoking mark ----------------------------------------------------------------------------

    def mark_invoking(self, ref: RequestRef, execution_id: str) -> Mark:
        """Mark the reservation ``invoking`` before the model is called (conditional: only the
        holding execution, only from ``reserved``). The SDK's retry of this same write (its first
        response lost) finds its own write ID on the item and is ``marked``; an earlier attempt of
        the execution left another one, and is ``already_invoking``."""
        old, own = self._move_mark(ref, execution_id, State.RESERVED, State.INVOKING)
        if own:
            return {"mark": "marked", "state": str(State.INVOKING)}
        state = (old or {}).get("state") or State.ABSENT
        if state == State.INVOKING and (old or {}).get("executionId") == execution_id:
            return {"mark": "already_invoking", "state": str(state)}
        return {"mark": "not_held", "state": str(state)}

    def unmark_invoking(self, ref: RequestRef, execution_id: str) -> bool:
        """Take the mark back after an error that proves the model did not run, so that the state
        machine's retry may call it. False when the mark was not there to take back."""
        return self._move_mark(ref, execution_id, State.INVOKING, State.RESERVED)[1]

    def _move_mark(
        self, ref: RequestRef, execution_id: str, old: State, new: State
    ) -> tuple[dict[str, Any] | None, bool]:
        """Move the holding execution's reservation from ``old`` to ``new``: (the item as the
        refused condition found it, or None; whether the move is this call's own). A write that is
        refused because it already happened (a retry of the same request, with the same write ID) is
        this call's own."""
        write_id = uuid.uuid4().hex
        request = _mark_request(self.table_name, ref, execution_id, old, new, self.clock(), write_id)
        refused = _unless_condition_fails(self.client.update_item, **request)
        if refused is None:
            return None, True
        found = deserialize(refused.response["Item"]) if refused.response.get("Item") else None
        if found is None:
            found = self._get_reservation(ref)
        own = (
            found is not None
            and found.get("state") == new
            and found.get("executionId") == execution_id
            and found.get(WRITE_ID_ATTRIBUTE) == write_id
        )
        if own:
            logger.info("The mark's first write went through (its response was lost): done")
        return found, own

    # --- settle, release, charge, resolve ---------------------------------------------------------------

    def settle(
        self,
        ref: RequestRef,
        execution_id: str,
        usage: Mapping[str, Any],
        cost_usd: Any,
        result: dict[str, Any],
        counters: Sequence[Mapping[str, Any]] | None = None,
    ) -> Closure:
        """Correct the counters from the estimate to the real usage and store ``result``.

        ``counters``: the reservation's counters as Reserve returned them to this execution (the
        workflow passes them on). With them, the settle is one conditional transaction, no read
        first: the condition (open, held by this execution) also guarantees they are the item's,
        since an execution only ever holds the reservation it reserved. If the condition fails or
        the transaction meets contention, it settles as without them (read, decide, write).

        A usage or cost that cannot be counted (negative, not a whole number, not a number) is
        unknown: it settles at the estimate (no counter moves), logged; no report can take a counter
        below what was admitted and settled."""
        problem = usage_problem(usage) or cost_problem(cost_usd)
        delta_for: Callable[[str, Decimal], Decimal]
        if problem is not None:
            logger.warning(
                f"The usage to settle cannot be counted ({problem}): settled at the estimate",
                extra={"requestId": ref.request_id},
            )
            delta_for = _charge_delta
        else:
            actual = Amounts.from_usage(usage, cost_usd)

            def delta_for(unit: str, reserved: Decimal) -> Decimal:
                return actual.of(unit) - reserved

        extra = {"#result": ("result", dynamodb_safe(result))}
        if counters is not None:
            closed = self._close_held(ref, execution_id, State.SETTLED, delta_for, extra, counters)
            if closed is not None:
                return closed
        return self._close(ref, execution_id, State.SETTLED, delta_for, extra)

    def release(self, ref: RequestRef, execution_id: str) -> Closure:
        """Give the estimate back: the model provably did not run."""
        return self._close(ref, execution_id, State.RELEASED, _release_delta, {})

    def charge(self, ref: RequestRef, execution_id: str) -> Closure:
        """Close the reservation at its estimate: the model may have run (unknown outcome)."""
        return self._close(ref, execution_id, State.CHARGED, _charge_delta, {})

    def resolve(self, ref: RequestRef, execution_id: str) -> Closure:
        """Close after a failure whose kind is unknown: charge when the reservation is marked
        ``invoking`` (the model may have run), release when it is not. The choice is made again on
        every read of the close, so a mark that lands between the read and the write (an invoke
        attempt still running when its state timed out) is charged, never released."""
        return self._close(ref, execution_id, State.RELEASED, _release_delta, {}, by_mark=True)

    def expire(self, existing: Mapping[str, Any]) -> Closure:
        """Close a reservation whose lease expired (its execution died), whoever held it: charged
        at the estimate if it was marked ``invoking``, released otherwise."""
        return self._expire(existing)[0]

    def _expire(self, existing: Mapping[str, Any]) -> tuple[Closure, dict[str, Any]]:
        ref = RequestRef(str(existing.get("applicationId")), str(existing.get("requestId")))
        fresh = self._get_reservation(ref) or {}  # the lease index may lag, and projects few attributes
        holder = str(fresh.get("executionId"))
        closure = self._close(ref, holder, State.RELEASED, _release_delta, {}, expired=True, by_mark=True)
        return closure, fresh

    def open_leases(self, expired_by: datetime | None = None) -> list[dict[str, Any]]:
        """Open reservations from the lease index, those expired by ``expired_by`` if given."""
        condition = f"{LEASE_ATTRIBUTE} = :open"
        values: dict[str, Any] = {":open": OPEN_LEASE}
        if expired_by is not None:
            condition += f" AND {LEASE_EXPIRY_ATTRIBUTE} < :now"
            values[":now"] = int(expired_by.timestamp())
        items, start = [], None
        while True:
            page = self.client.query(
                TableName=self.table_name,
                IndexName=LEASE_INDEX,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=_values(values),
                **({"ExclusiveStartKey": start} if start else {}),
            )
            items += [deserialize(i) for i in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return items

    def sweep(self) -> list[dict[str, Any]]:
        """Close every reservation whose lease expired; one entry ``{item, closure}`` per closed one
        (``item``: the reservation as read before closing it, with its counters and dimensions)."""
        swept = []
        for entry in self.open_leases(self.clock()):
            # The index is eventually consistent: the item is read again before it is closed.
            closure, item = self._expire(entry)
            if closure.get("closed"):
                swept.append({"item": item, "closure": closure})
        return swept

    def unrecorded(self) -> list[dict[str, Any]]:
        """The dead executions whose expired reservation was closed (by a retry that took it over,
        or a sweep) and whose outcome may not be recorded yet: ``{executionId, requestId,
        applicationId, state, dimensions}``, read consistently (the index projects few attributes)."""
        found, start = [], None
        while True:
            page = self.client.query(
                TableName=self.table_name,
                IndexName=LEASE_INDEX,
                KeyConditionExpression=f"{LEASE_ATTRIBUTE} = :unrecorded",
                ExpressionAttributeValues=_values({":unrecorded": UNRECORDED}),
                **({"ExclusiveStartKey": start} if start else {}),
            )
            for entry in page.get("Items", []):
                key = {"pk": entry["pk"], "sk": entry["sk"]}
                item = self.client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True).get(
                    "Item"
                )
                if item and LEASE_ATTRIBUTE in item:  # the index may lag behind a clear
                    found.append(deserialize(item))
            start = page.get("LastEvaluatedKey")
            if not start:
                return found

    def clear_unrecorded(self, execution_id: str) -> None:
        """Take a dead execution out of :meth:`unrecorded` once its outcome is recorded (the item
        stays, without its lease, until its TTL)."""
        _unless_condition_fails(
            self.client.update_item,
            TableName=self.table_name,
            Key=_values({"pk": execution_id, "sk": UNRECORDED}),
            UpdateExpression=f"REMOVE {LEASE_ATTRIBUTE}, {LEASE_EXPIRY_ATTRIBUTE}",
            ConditionExpression="attribute_exists(pk)",
        )

    def claim_record(self, execution_id: str) -> bool:
        """Claim the right to emit an execution's metrics (once per execution, whoever asks:
        Record, a retried Record, RecordFallback or the sweeper). False when already claimed by
        another call; True when the mark found is this call's own (the SDK retried the put after
        its first response was lost). The mark found comes with the refusal (ALL_OLD): the
        functions that claim may only put the mark, not read it."""
        write_id = uuid.uuid4().hex
        request = _record_mark_request(self.table_name, execution_id, self.clock(), write_id)
        refused = _unless_condition_fails(self.client.put_item, **request)
        if refused is None:
            return True
        found = deserialize(refused.response["Item"]) if refused.response.get("Item") else {}
        own = found.get(WRITE_ID_ATTRIBUTE) == write_id
        if own:
            logger.info("The record mark's first write went through (its response was lost): claimed")
        return own

    def _close(
        self,
        ref: RequestRef,
        execution_id: str,
        new_state: State,
        delta_for: Callable[[str, Decimal], Decimal],
        extra: Mapping[str, tuple[str, Any]],
        *,
        expired: bool = False,
        by_mark: bool = False,
    ) -> Closure:
        """Close the reservation held by ``execution_id`` as ``new_state``, each counter moved by
        ``delta_for(unit, reserved)``; with ``by_mark``, charged instead when it is read marked
        ``invoking``. Read, decide, write on condition of what was read; again if it changed."""
        unmarked = (new_state, delta_for)
        for attempt in range(self.max_attempts):
            existing = self._get_reservation(ref)
            now = self.clock()
            if (
                existing is None
                or existing.get("state") not in (State.RESERVED, State.INVOKING)
                or existing.get("executionId") != execution_id
                or (expired and not _lease_expired(existing, now))
            ):
                return self._nothing_to_close(ref.request_id, execution_id, new_state, existing)
            if by_mark:
                marked = existing.get("state") == State.INVOKING
                new_state, delta_for = (State.CHARGED, _charge_delta) if marked else unmarked
            deltas, items = _closing_writes(self.table_name, existing.get("counters") or [], delta_for, now)
            if expired:  # its execution died: it is counted once from this item (sweeper, R1)
                items.append(_unrecorded_put_request(self.table_name, existing, new_state, now))
            items.append(
                _reservation_close_request(
                    self.table_name, ref, execution_id, (existing["state"],), new_state, now, extra
                )
            )
            try:
                self.client.transact_write_items(TransactItems=items)
            except ClientError as error:
                cancelled = _cancellation(error)
                if cancelled is None or cancelled.unexpected:
                    raise
                if not cancelled.retryable and cancelled.code(len(items) - 1) == "ConditionalCheckFailed":
                    continue  # the reservation changed under us: read it again and decide
                self._backoff(attempt)
                continue
            self._send_alerts(_raised_alerting_counters(existing.get("counters") or [], deltas))
            return {"state": str(new_state), "deltas": json_safe(deltas), "closed": True}
        raise LedgerBusy(
            f"Could not mark request {ref.request_id} {new_state}: the transaction kept conflicting."
        )

    def _close_held(
        self,
        ref: RequestRef,
        execution_id: str,
        new_state: State,
        delta_for: Callable[[str, Decimal], Decimal],
        extra: Mapping[str, tuple[str, Any]],
        counters: Sequence[Mapping[str, Any]],
    ) -> Closure | None:
        """One attempt to close the reservation from the counters the caller holds, without reading
        it: conditioned on it being open and held by ``execution_id``. None when that did not
        happen (the caller then closes it the reading way)."""
        now = self.clock()
        known = [dynamodb_safe(dict(counter)) for counter in counters]
        deltas, items = _closing_writes(self.table_name, known, delta_for, now)
        items.append(
            _reservation_close_request(
                self.table_name, ref, execution_id, (State.RESERVED, State.INVOKING), new_state, now, extra
            )
        )
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            cancelled = _cancellation(error)
            if cancelled is None or cancelled.unexpected:
                raise
            return None
        self._send_alerts(_raised_alerting_counters(known, deltas))
        return {"state": str(new_state), "deltas": json_safe(deltas), "closed": True}

    def _nothing_to_close(
        self, request_id: str, execution_id: str, new_state: str, existing: Mapping[str, Any] | None
    ) -> Closure:
        state = existing.get("state") if existing else State.ABSENT
        if state != new_state:
            logger.warning(
                f"Nothing to mark {new_state}: the reservation is {state}",
                extra={
                    "requestId": request_id,
                    "executionId": execution_id,
                    "heldBy": existing.get("executionId") if existing else None,
                },
            )
        return {"state": str(state), "deltas": []}

    # --- reads and retries ----------------------------------------------------------------------------

    def _get_reservation(self, ref: RequestRef) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table_name, Key=ref.key, ConsistentRead=True)
        item = response.get("Item")
        return deserialize(item) if item else None

    def _batch_get(self, keys: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        pending: dict[str, Any] = {self.table_name: {"Keys": keys, "ConsistentRead": True}}
        for attempt in range(self.max_attempts):
            response = self.client.batch_get_item(RequestItems=pending)
            for raw in response.get("Responses", {}).get(self.table_name, []):
                item = deserialize(raw)
                found[(item["pk"], item["sk"])] = item
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                return found
            self._backoff(attempt)
        raise LedgerUnavailable("DynamoDB kept leaving keys unprocessed.")

    # --- threshold alerts (docs/reporting.md, "Threshold alerts") ----------------------------------

    def _send_alerts(self, keys: list[tuple[str, str]]) -> None:
        """After a transaction that raised these counters: read them back (a transaction returns no
        values), claim each threshold now reached on the counter item, and publish the ones this
        call claimed. Never raises: an alert must not fail the request."""
        if self.alerts is None or not keys:
            return
        try:
            found = self._batch_get([{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in dict.fromkeys(keys)])
            for counter in found.values():
                for threshold in thresholds_due(counter):
                    if self._claim_alert(counter, threshold):
                        self.alerts.publish(alert_message(counter, threshold))
        except (BotoCoreError, ClientError, LedgerUnavailable) as error:
            logger.warning(
                "Could not check the counters' alert thresholds; no alert sent", extra={"error": str(error)}
            )

    def _claim_alert(self, counter: Mapping[str, Any], threshold: Decimal) -> bool:
        """Whether this call is the one that alerts on ``threshold`` for this counter (once per counter
        item, that is per limit, scope value and window)."""
        request = _alert_claim_request(
            self.table_name, counter["pk"], counter["sk"], threshold_token(threshold)
        )
        # Refused: another request alerted on it first.
        return _unless_condition_fails(self.client.update_item, **request) is None

    def _backoff(self, attempt: int) -> None:
        if attempt + 1 < self.max_attempts:
            self.sleep(self.jitter(0, min(self.backoff_cap_seconds, self.backoff_base_seconds * 2**attempt)))


def _closing_writes(
    table: str,
    counters: Sequence[Mapping[str, Any]],
    delta_for: Callable[[str, Decimal], Decimal],
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The change to each of a reservation's counters when it closes, and the counter writes
    (none for a counter that does not move)."""
    deltas, items = [], []
    for counter in counters:
        reserved = Decimal(counter["amount"])
        delta = delta_for(counter["unit"], reserved)
        deltas.append(
            {"limitId": counter["limitId"], "unit": counter["unit"], "reserved": reserved, "delta": delta}
        )
        if delta:
            items.append(_counter_adjust_request(table, counter, delta, now))
    return deltas, items


def _release_delta(unit: str, reserved: Decimal) -> Decimal:
    """Releasing gives the whole estimate back."""
    return -reserved


def _charge_delta(unit: str, reserved: Decimal) -> Decimal:
    """Charging keeps the estimate: no counter moves."""
    return Decimal(0)


# --- results ----------------------------------------------------------------------------------------


def _decision(
    decision: Decision,
    request_id: str,
    *,
    counters: list[Any] | None = None,
    shadow_denials: list[Any] | None = None,
) -> dict[str, Any]:
    return {
        "decision": str(decision),
        "requestId": request_id,
        "counters": counters or [],
        "failOpen": False,
        "shadowDenials": shadow_denials or [],
    }


def _denied(
    request_id: str,
    reason: DenialReason,
    limit: dict[str, Any] | None,
    exceeded: list[dict[str, Any]],
    retry_after: int | None,
) -> dict[str, Any]:
    denial = {"reason": str(reason), "limit": limit, "exceeded": exceeded, "retryAfterSeconds": retry_after}
    return {**_decision(Decision.DENIED, request_id), "denial": json_safe(denial)}


def _rejected(ref: RequestRef) -> dict[str, Any]:
    message = (
        f"requestId '{ref.request_id}' was reused for a different request: application "
        f"'{ref.application_id}' already sent another request (model, messages, parameters or tags) "
        "under this ID. Send a new requestId for a new request."
    )
    return {
        **_decision(Decision.REJECTED, ref.request_id),
        "errors": [{"field": "requestId", "message": message}],
    }


def _cancellation(error: ClientError) -> _Cancelled | None:
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    return _Cancelled(error.response.get("CancellationReasons") or [])


def _lease_expired(item: Mapping[str, Any], now: datetime) -> bool:
    expiry = item.get(LEASE_EXPIRY_ATTRIBUTE)
    return expiry is not None and int(expiry) < int(now.timestamp())


def _key(plan: CounterPlan) -> dict[str, Any]:
    return _shard_key((plan.pk, plan.sk))


def _shard_key(key: tuple[str, str]) -> dict[str, Any]:
    return {"pk": {"S": key[0]}, "sk": {"S": key[1]}}


def _on_next_shards(plans: list[CounterPlan], tried: Mapping[str, int]) -> list[CounterPlan]:
    """The plans with each sharded limit moved to the shard its earlier full tries lead to."""
    return [
        plan.on_shard(plan.shard_order[tried[plan.limit.id]]) if tried.get(plan.limit.id) else plan
        for plan in plans
    ]


def _has_next_shard(plan: CounterPlan, tried: Mapping[str, int]) -> bool:
    return tried.get(plan.limit.id, 0) + 1 < len(plan.shard_order)


def _total_used(plan: CounterPlan, items: Mapping[tuple[str, str], Mapping[str, Any]]) -> Decimal:
    """The used total of a counter over all its shards, from items read back."""
    return sum((_used(items.get(key)) for key in plan.shard_keys), Decimal(0))


def _counter_entry(plan: CounterPlan) -> dict[str, Any]:
    entry = {
        "pk": plan.pk,
        "sk": plan.sk,
        "limitId": plan.limit.id,
        "unit": plan.limit.unit,
        "amount": plan.amount,
    }
    if plan.limit.alert_at:
        entry["alerts"] = True  # settle reads this counter back for its thresholds
    return entry


def _raised_alerting_counters(
    counters: list[Mapping[str, Any]], deltas: list[dict[str, Any]]
) -> list[tuple[str, str]]:
    """The counters with thresholds that a close raised (only a settle above the estimate does)."""
    return [
        (counter["pk"], counter["sk"])
        for counter, delta in zip(counters, deltas, strict=True)
        if counter.get("alerts") and delta["delta"] > 0
    ]


def _denied_used(
    plan: CounterPlan, item: Mapping[str, Any] | None, totals: Mapping[str, Decimal] | None
) -> Decimal | None:
    """What a denial reports as used: a sharded limit's total over its shards (None when they could
    not be read: the one full shard is not the limit's use), else the counter's own ``used``."""
    if plan.limit.shards > 1:
        return None if totals is None else totals.get(plan.sk, _used(item))
    return _used(item)


def _used(item: Mapping[str, Any] | None) -> Decimal:
    return Decimal((item or {}).get("used", 0))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- the DynamoDB requests (no decisions below this line) -------------------------------------------


def _counter_add_request(table: str, plan: CounterPlan) -> dict[str, Any]:
    values: dict[str, Any] = {
        ":amount": plan.amount,
        ":ceiling": plan.ceiling,  # a shard's item holds its part of the ceiling
        ":window": plan.limit.window,
        ":unit": plan.limit.unit,
        ":limitId": plan.limit.id,
        ":windowEnd": format_instant(plan.window_end),
        ":expiresAt": plan.expires_at,
    }
    update = {
        "TableName": table,
        "Key": _key(plan),
        "UpdateExpression": (
            "ADD #used :amount SET #limit = :ceiling, #window = :window, #unit = :unit, "
            "limitId = :limitId, windowEnd = :windowEnd, expiresAt = :expiresAt"
        ),
        "ExpressionAttributeNames": {
            "#used": "used",
            "#limit": "limit",
            "#window": "window",
            "#unit": "unit",
        },
    }
    _add_alert_attributes(update, values, plan)
    if plan.limit.enforce:
        # The room is computed here (ceiling - amount) because a condition cannot do arithmetic.
        # Exact: used + amount <= part, an absent counter counting as 0. A shard whose part is
        # smaller than the amount (a part of 0 included) never takes it, empty or not.
        fits_empty = plan.ceiling_minus_amount >= 0
        update["ConditionExpression"] = (
            "attribute_not_exists(#used) OR #used <= :room" if fits_empty else "#used <= :room"
        )
        update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"  # the denial reports `used`
        values[":room"] = plan.ceiling_minus_amount
    update["ExpressionAttributeValues"] = _values(values)
    return {"Update": update}


def _add_alert_attributes(update: dict[str, Any], values: dict[str, Any], plan: CounterPlan) -> None:
    """A counter of a limit with thresholds carries what its alert says (the settle that raises it
    later reads the counter, not the limits)."""
    if not plan.limit.alert_at:
        return
    update["UpdateExpression"] += ", #alertAt = :alertAt, #enforce = :enforce, #scope = :scope"
    update["ExpressionAttributeNames"].update(
        {"#alertAt": "alertAt", "#enforce": "enforce", "#scope": "scope"}
    )
    values.update(
        {
            ":alertAt": list(plan.limit.alert_at),
            ":enforce": plan.limit.enforce,
            ":scope": dict(plan.limit.scope),
        }
    )


def _alert_claim_request(table: str, pk: str, sk: str, token: str) -> dict[str, Any]:
    return {
        "TableName": table,
        "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
        "UpdateExpression": "ADD #alerted :tokens",
        # Only the first caller to see the threshold reached adds it, and so alerts.
        "ConditionExpression": (
            "attribute_exists(pk) AND (attribute_not_exists(#alerted) OR NOT contains(#alerted, :token))"
        ),
        "ExpressionAttributeNames": {"#alerted": "alerted"},
        "ExpressionAttributeValues": {":tokens": {"SS": [token]}, ":token": {"S": token}},
    }


def _reservation_put_request(
    table: str,
    ref: RequestRef,
    execution_id: str,
    print_: str,
    plans: list[CounterPlan],
    context: Mapping[str, Any],
    now: datetime,
    idempotency_seconds: int,
    lease_seconds: int,
) -> dict[str, Any]:
    stamp = _iso(now)
    item = {
        "pk": ref.pk,
        "sk": "RESERVATION",
        "state": State.RESERVED.value,
        "requestId": ref.request_id,
        "applicationId": ref.application_id,
        "fingerprint": print_,
        "executionId": execution_id,
        "counters": [_counter_entry(plan) for plan in plans],
        # What the sweeper needs to record the outcome of an execution that died.
        "dimensions": dict(context.get("dimensions") or {}),
        "route": context.get("route"),
        "createdAt": stamp,
        "updatedAt": stamp,
        "expiresAt": int(now.timestamp()) + idempotency_seconds,
        LEASE_ATTRIBUTE: OPEN_LEASE,
        LEASE_EXPIRY_ATTRIBUTE: int(now.timestamp()) + lease_seconds,
    }
    return {
        "Put": {
            "TableName": table,
            "Item": _values(item),
            # Taken again only when expired (TTL not yet run), or closed without a result to replay
            # (released or charged) and for the same request.
            "ConditionExpression": (
                "attribute_not_exists(pk) OR expiresAt < :now "
                "OR (fingerprint = :fingerprint AND #state IN (:released, :charged))"
            ),
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": _values(
                {
                    ":released": State.RELEASED.value,
                    ":charged": State.CHARGED.value,
                    ":fingerprint": print_,
                    ":now": int(now.timestamp()),
                }
            ),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _mark_request(
    table: str, ref: RequestRef, execution_id: str, old: State, new: State, now: datetime, write_id: str
) -> dict[str, Any]:
    return {
        "TableName": table,
        "Key": ref.key,
        # The write ID tells this write's SDK retry that the write it finds is its own.
        "UpdateExpression": f"SET #state = :new, updatedAt = :now, {WRITE_ID_ATTRIBUTE} = :writeId",
        # Only the holding execution moves its own open reservation.
        "ConditionExpression": "#state = :old AND executionId = :exec",
        "ExpressionAttributeNames": {"#state": "state"},
        "ExpressionAttributeValues": _values(
            {
                ":new": new.value,
                ":old": old.value,
                ":exec": execution_id,
                ":now": _iso(now),
                ":writeId": write_id,
            }
        ),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def _counter_adjust_request(
    table: str, counter: Mapping[str, Any], delta: Decimal, now: datetime
) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": counter["pk"]}, "sk": {"S": counter["sk"]}},
            # If TTL already removed the counter, the recreated one must expire too.
            "UpdateExpression": "ADD #used :delta SET expiresAt = if_not_exists(expiresAt, :expiresAt)",
            "ExpressionAttributeNames": {"#used": "used"},
            "ExpressionAttributeValues": _values(
                {":delta": delta, ":expiresAt": int((now + timedelta(hours=1)).timestamp())}
            ),
        }
    }


def _reservation_close_request(
    table: str,
    ref: RequestRef,
    execution_id: str,
    old_states: Sequence[str],
    new_state: State,
    now: datetime,
    extra: Mapping[str, tuple[str, Any]],
) -> dict[str, Any]:
    sets = ["#state = :new", "updatedAt = :now"] + [f"{name} = :{name[1:]}" for name in extra]
    olds = {f":old{i}": str(state) for i, state in enumerate(old_states)}
    values = {
        ":new": new_state.value,
        ":now": _iso(now),
        **olds,
        ":exec": execution_id,
        **{f":{name[1:]}": value for name, (_, value) in extra.items()},
    }
    return {
        "Update": {
            "TableName": table,
            "Key": ref.key,
            # Removing the lease takes the reservation out of the sparse lease index.
            "UpdateExpression": "SET "
            + ", ".join(sets)
            + f" REMOVE {LEASE_ATTRIBUTE}, {LEASE_EXPIRY_ATTRIBUTE}",
            # Only the execution that holds the reservation closes it, only once, and only from the
            # state it was read in (a mark or a sweep in between makes it decide again).
            "ConditionExpression": f"#state IN ({', '.join(olds)}) AND executionId = :exec",
            "ExpressionAttributeNames": {"#state": "state", **{k: attr for k, (attr, _) in extra.items()}},
            "ExpressionAttributeValues": _values(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _unrecorded_put_request(
    table: str, existing: Mapping[str, Any], new_state: State, now: datetime
) -> dict[str, Any]:
    """The dead execution of an expired reservation, for the sweeper to record (keyed like the
    record mark, by the execution, so a second close of the same execution writes the same item)."""
    item = {
        "pk": str(existing.get("executionId")),
        "sk": UNRECORDED,
        "executionId": str(existing.get("executionId")),
        "requestId": existing.get("requestId"),
        "applicationId": existing.get("applicationId"),
        "state": new_state.value,
        "dimensions": dict(existing.get("dimensions") or {}),
        LEASE_ATTRIBUTE: UNRECORDED,
        LEASE_EXPIRY_ATTRIBUTE: int(now.timestamp()),
        "expiresAt": int(now.timestamp()) + RECORD_MARK_SECONDS,
    }
    return {"Put": {"TableName": table, "Item": _values(item)}}


def _record_mark_request(table: str, execution_id: str, now: datetime, write_id: str) -> dict[str, Any]:
    return {
        "TableName": table,
        "Item": _values(
            {
                "pk": execution_id,  # an execution ARN: no other item kind starts with "arn:"
                "sk": "RECORD",
                "recordedAt": _iso(now),
                "expiresAt": int(now.timestamp()) + RECORD_MARK_SECONDS,
                WRITE_ID_ATTRIBUTE: write_id,  # this claim's own, for its SDK retry to recognise
            }
        ),
        "ConditionExpression": "attribute_not_exists(pk)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
