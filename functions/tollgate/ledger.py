"""The ledger: reserve, settle and release against the DynamoDB table.

- ``reserve``: one TransactWriteItems that adds the request's estimate to every matching counter,
  each enforced one conditioned on still having room, plus the reservation item; either all of it
  happens or none, so concurrent requests can never push a counter past its ceiling.
- ``settle``: one transaction that corrects the counters from the estimate to the real usage and
  marks the reservation settled (storing the success output for replays).
- ``release``: one transaction that takes the estimate back off the counters and marks the
  reservation released.

All three are idempotent per requestId (see docs/internals.md, section 2).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from tollgate.config_store import deserialize
from tollgate.limits import Amounts, CounterPlan, Limit, format_instant, plan_counters, retry_after_seconds
from tollgate.observability import logger
from tollgate.values import dynamodb_safe, json_safe

RESERVED, SETTLED, RELEASED, ABSENT = "reserved", "settled", "released", "absent"
APPROVED, DENIED, REPLAY = "approved", "denied", "replay"
LIMIT_EXCEEDED, LEDGER_UNAVAILABLE, DUPLICATE_IN_FLIGHT = (
    "limit_exceeded",
    "ledger_unavailable",
    "duplicate_in_flight",
)
MAX_TRANSACTION_ITEMS = 100
RETRYABLE_REASONS = ("TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded")

_serializer = TypeSerializer()


class LedgerBusy(Exception):
    """The transaction kept conflicting with concurrent ones; the state machine may retry."""


class LedgerUnavailable(Exception):
    """DynamoDB could not be reached or refused the call."""


def reservation_key(request_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "RESERVATION"}}


def _values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def _unavailable(error: Exception) -> bool:
    """Whether a DynamoDB error means the ledger cannot be used (as opposed to a bug in our call)."""
    if isinstance(error, BotoCoreError | LedgerUnavailable):
        return True
    code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
    return code is not None and code not in ("ValidationException", "TransactionCanceledException")


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
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[float, float], float] = random.uniform
    max_attempts: int = 5
    backoff_base_seconds: float = 0.05
    backoff_cap_seconds: float = 1.0

    # --- reserve ------------------------------------------------------------------------------------

    def reserve(
        self, context: Mapping[str, Any], execution_id: str, load_limits: Callable[[], list[Limit]]
    ) -> dict:
        request_id = context["requestId"]
        try:
            limits = load_limits()
            return self._reserve(context, execution_id, limits)
        except (BotoCoreError, ClientError, LedgerUnavailable) as error:
            if not _unavailable(error):
                raise
            return self._ledger_unavailable(request_id, error)

    def _reserve(self, context: Mapping[str, Any], execution_id: str, limits: list[Limit]) -> dict:
        request_id = context["requestId"]
        now = self.clock()
        plans = plan_counters(limits, context, Amounts.from_estimate(context["estimate"]), now)
        if len(plans) + 1 > MAX_TRANSACTION_ITEMS:
            raise ValueError(
                f"{len(plans)} limits match this request; one transaction holds at most "
                f"{MAX_TRANSACTION_ITEMS - 1} counters. Merge or narrow the limits."
            )
        if any(plan.limit.enforce and not plan.fits_at_all for plan in plans):
            return self._deny_permanently(request_id, execution_id, plans, now)

        items = [self._counter_update(plan) for plan in plans]
        items.append(self._reservation_put(request_id, execution_id, plans, now))
        for attempt in range(self.max_attempts):
            try:
                self.client.transact_write_items(TransactItems=items)
            except ClientError as error:
                cancelled = _cancellation(error)
                if cancelled is None:
                    raise
                if cancelled.code(len(plans)) == "ConditionalCheckFailed":
                    existing = cancelled.item(len(plans))
                    if existing is not None:
                        return self._existing_reservation(request_id, execution_id, existing)
                elif not cancelled.retryable:
                    if cancelled.unexpected:
                        raise
                    exceeded = [
                        (plan, cancelled.item(i))
                        for i, plan in enumerate(plans)
                        if cancelled.code(i) == "ConditionalCheckFailed"
                    ]
                    return self._deny(request_id, plans, exceeded, now)
                self._backoff(attempt)
                continue
            return self._approved(request_id, plans, self._shadow_denials(plans))
        raise LedgerBusy(
            f"The reservation for request {request_id} kept conflicting with concurrent requests."
        )

    def _counter_update(self, plan: CounterPlan) -> dict:
        values: dict[str, Any] = {
            ":amount": plan.amount,
            ":ceiling": plan.limit.ceiling,
            ":window": plan.limit.window,
            ":unit": plan.limit.unit,
            ":limitId": plan.limit.id,
            ":windowEnd": format_instant(plan.window_end),
            ":expiresAt": plan.expires_at,
        }
        update = {
            "TableName": self.table_name,
            "Key": {"pk": {"S": plan.pk}, "sk": {"S": plan.sk}},
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
        if plan.limit.enforce:
            # The room is computed here (ceiling - amount) because a condition cannot do arithmetic.
            update["ConditionExpression"] = "attribute_not_exists(#used) OR #used <= :room"
            update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"  # the denial reports `used`
            values[":room"] = plan.ceiling_minus_amount
        update["ExpressionAttributeValues"] = _values(values)
        return {"Update": update}

    def _reservation_put(
        self, request_id: str, execution_id: str, plans: list[CounterPlan], now: datetime
    ) -> dict:
        stamp = _iso(now)
        item = {
            "pk": f"REQUEST#{request_id}",
            "sk": "RESERVATION",
            "state": RESERVED,
            "executionId": execution_id,
            "counters": [_counter_entry(plan) for plan in plans],
            "createdAt": stamp,
            "updatedAt": stamp,
            "expiresAt": int(now.timestamp()) + self.idempotency_seconds,
        }
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": _values(item),
                # A released or expired (TTL not yet swept) reservation may be taken again.
                "ConditionExpression": "attribute_not_exists(pk) OR #state = :released OR expiresAt < :now",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": _values({":released": RELEASED, ":now": int(now.timestamp())}),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _existing_reservation(self, request_id: str, execution_id: str, existing: Mapping[str, Any]) -> dict:
        state = existing.get("state")
        if state == SETTLED:
            logger.info(
                "Replay of a settled request: returning the stored result", extra={"requestId": request_id}
            )
            return {**_decision(REPLAY, request_id), "result": json_safe(existing.get("result") or {})}
        if state == RESERVED and existing.get("executionId") == execution_id:
            return _decision(APPROVED, request_id, counters=json_safe(existing.get("counters") or []))
        if state == RESERVED:
            logger.warning(
                "Another execution holds this request's reservation",
                extra={"requestId": request_id, "heldBy": existing.get("executionId")},
            )
            return _denied(request_id, DUPLICATE_IN_FLIGHT, None, [], 1)
        raise LedgerBusy(f"The reservation for request {request_id} changed while it was being taken; retry.")

    def _deny(
        self,
        request_id: str,
        plans: list[CounterPlan],
        exceeded: list[tuple[CounterPlan, Mapping[str, Any] | None]],
        now: datetime,
    ) -> dict:
        if not exceeded:
            raise LedgerBusy(
                f"The reservation for request {request_id} was cancelled without a reason; retry."
            )
        described = [plan.describe(_used(item)) for plan, item in exceeded]
        waits = [retry_after_seconds(plan.window_end, now) for plan, _ in exceeded]
        # The limit named is the one that keeps the request out longest.
        named = max(range(len(exceeded)), key=lambda i: (waits[i], -plans.index(exceeded[i][0])))
        return _denied(request_id, LIMIT_EXCEEDED, described[named], described, max(waits))

    def _deny_permanently(
        self, request_id: str, execution_id: str, plans: list[CounterPlan], now: datetime
    ) -> dict:
        enforced = [plan for plan in plans if plan.limit.enforce]
        items = self._batch_get([reservation_key(request_id)] + [_key(plan) for plan in enforced])
        existing = items.get((f"REQUEST#{request_id}", "RESERVATION"))
        if (
            existing
            and existing.get("state") != RELEASED
            and existing.get("expiresAt", 0) >= int(now.timestamp())
        ):
            return self._existing_reservation(request_id, execution_id, existing)
        described, named = [], None
        for plan in enforced:
            used = _used(items.get((plan.pk, plan.sk)))
            if plan.fits_at_all and used <= plan.ceiling_minus_amount:
                continue
            described.append(plan.describe(used))
            if named is None and not plan.fits_at_all:
                named = described[-1]
        # More than a whole ceiling can never fit: there is no time after which to retry.
        return _denied(request_id, LIMIT_EXCEEDED, named, described, None)

    def _shadow_denials(self, plans: list[CounterPlan]) -> list[dict]:
        """Shadow limits that this request took past their ceiling (read back after the reserve)."""
        shadow = [plan for plan in plans if not plan.limit.enforce]
        if not shadow:
            return []
        try:
            items = self._batch_get([_key(plan) for plan in shadow])
        except (BotoCoreError, ClientError, LedgerUnavailable) as error:
            logger.warning(
                "Could not read shadow limits back; no would-be denials reported", extra={"error": str(error)}
            )
            return []
        denials = []
        for plan in shadow:
            used_after = _used(items.get((plan.pk, plan.sk)))
            if used_after > plan.limit.ceiling:
                denials.append(plan.describe(used_after - plan.amount))
        if denials:
            logger.warning(
                "Shadow limits would have denied this request",
                extra={"limitIds": [d["id"] for d in denials]},
            )
        return json_safe(denials)

    def _approved(self, request_id: str, plans: list[CounterPlan], shadow_denials: list[dict]) -> dict:
        counters = json_safe([_counter_entry(plan) for plan in plans])
        return _decision(APPROVED, request_id, counters=counters, shadow_denials=shadow_denials)

    def _ledger_unavailable(self, request_id: str, error: Exception) -> dict:
        if self.fail_open:
            logger.warning(
                "Ledger unavailable: failing OPEN (admitted without counting)",
                extra={"requestId": request_id, "error": str(error)},
            )
            return {**_decision(APPROVED, request_id), "failOpen": True}
        logger.warning(
            "Ledger unavailable: failing CLOSED (denied)",
            extra={"requestId": request_id, "error": str(error)},
        )
        return _denied(request_id, LEDGER_UNAVAILABLE, None, [], 1)

    # --- settle and release ---------------------------------------------------------------------------

    def settle(
        self, request_id: str, execution_id: str, usage: Mapping[str, Any], cost_usd: Any, result: dict
    ) -> dict:
        actual = Amounts.from_usage(usage, cost_usd)
        return self._close(
            request_id,
            execution_id,
            SETTLED,
            lambda unit, reserved: actual.of(unit) - reserved,
            {"#result": ("result", dynamodb_safe(result))},
        )

    def release(self, request_id: str, execution_id: str) -> dict:
        return self._close(request_id, execution_id, RELEASED, lambda unit, reserved: -reserved, {})

    def _close(
        self,
        request_id: str,
        execution_id: str,
        new_state: str,
        delta_for: Callable[[str, Decimal], Decimal],
        extra: Mapping[str, tuple[str, Any]],
    ) -> dict:
        for attempt in range(self.max_attempts):
            existing = self._get_reservation(request_id)
            if (
                existing is None
                or existing.get("state") != RESERVED
                or existing.get("executionId") != execution_id
            ):
                return self._nothing_to_close(request_id, execution_id, new_state, existing)
            now = self.clock()
            deltas = []
            items = []
            for counter in existing.get("counters") or []:
                reserved = Decimal(counter["amount"])
                delta = delta_for(counter["unit"], reserved)
                deltas.append(
                    {
                        "limitId": counter["limitId"],
                        "unit": counter["unit"],
                        "reserved": reserved,
                        "delta": delta,
                    }
                )
                if delta:
                    items.append(self._counter_adjust(counter, delta, now))
            items.append(self._reservation_close(request_id, execution_id, new_state, now, extra))
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
            return {"state": new_state, "deltas": json_safe(deltas)}
        raise LedgerBusy(
            f"Could not mark request {request_id} {new_state}: the transaction kept conflicting."
        )

    def _nothing_to_close(
        self, request_id: str, execution_id: str, new_state: str, existing: Mapping[str, Any] | None
    ) -> dict:
        state = existing.get("state") if existing else ABSENT
        if state != new_state:
            logger.warning(
                f"Nothing to mark {new_state}: the reservation is {state}",
                extra={
                    "requestId": request_id,
                    "executionId": execution_id,
                    "heldBy": existing.get("executionId") if existing else None,
                },
            )
        return {"state": state, "deltas": []}

    def _counter_adjust(self, counter: Mapping[str, Any], delta: Decimal, now: datetime) -> dict:
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": {"pk": {"S": counter["pk"]}, "sk": {"S": counter["sk"]}},
                # If TTL already removed the counter, the recreated one must expire too.
                "UpdateExpression": "ADD #used :delta SET expiresAt = if_not_exists(expiresAt, :expiresAt)",
                "ExpressionAttributeNames": {"#used": "used"},
                "ExpressionAttributeValues": _values(
                    {":delta": delta, ":expiresAt": int((now + timedelta(hours=1)).timestamp())}
                ),
            }
        }

    def _reservation_close(
        self,
        request_id: str,
        execution_id: str,
        new_state: str,
        now: datetime,
        extra: Mapping[str, tuple[str, Any]],
    ) -> dict:
        sets = ["#state = :new", "updatedAt = :now"] + [f"{name} = :{name[1:]}" for name in extra]
        values = {
            ":new": new_state,
            ":now": _iso(now),
            ":reserved": RESERVED,
            ":exec": execution_id,
            **{f":{name[1:]}": value for name, (_, value) in extra.items()},
        }
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": reservation_key(request_id),
                "UpdateExpression": "SET " + ", ".join(sets),
                # Only the execution that holds the reservation closes it, and only once.
                "ConditionExpression": "#state = :reserved AND executionId = :exec",
                "ExpressionAttributeNames": {
                    "#state": "state",
                    **{k: attr for k, (attr, _) in extra.items()},
                },
                "ExpressionAttributeValues": _values(values),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    # --- reads and retries ----------------------------------------------------------------------------

    def _get_reservation(self, request_id: str) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.table_name, Key=reservation_key(request_id), ConsistentRead=True
        )
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

    def _backoff(self, attempt: int) -> None:
        if attempt + 1 < self.max_attempts:
            self.sleep(self.jitter(0, min(self.backoff_cap_seconds, self.backoff_base_seconds * 2**attempt)))


def _cancellation(error: ClientError) -> _Cancelled | None:
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    return _Cancelled(error.response.get("CancellationReasons") or [])


def _key(plan: CounterPlan) -> dict[str, Any]:
    return {"pk": {"S": plan.pk}, "sk": {"S": plan.sk}}


def _counter_entry(plan: CounterPlan) -> dict[str, Any]:
    return {
        "pk": plan.pk,
        "sk": plan.sk,
        "limitId": plan.limit.id,
        "unit": plan.limit.unit,
        "amount": plan.amount,
    }


def _used(item: Mapping[str, Any] | None) -> Decimal:
    return Decimal((item or {}).get("used", 0))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _decision(
    decision: str, request_id: str, *, counters: list | None = None, shadow_denials: list | None = None
) -> dict[str, Any]:
    return {
        "decision": decision,
        "requestId": request_id,
        "counters": counters or [],
        "failOpen": False,
        "shadowDenials": shadow_denials or [],
    }


def _denied(
    request_id: str, reason: str, limit: dict | None, exceeded: list[dict], retry_after: int | None
) -> dict[str, Any]:
    denial = {"reason": reason, "limit": limit, "exceeded": exceeded, "retryAfterSeconds": retry_after}
    return {**_decision(DENIED, request_id), "denial": json_safe(denial)}
