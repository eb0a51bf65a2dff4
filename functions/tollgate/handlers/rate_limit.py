"""Rate limit: the ledger's actions, ``reserve``, ``settle``, ``release`` and ``resolve`` (close
after an error of unknown kind: charge the estimate if the model may have run, else release).

The streaming path (docs/requests.md, section 4) adds two: ``admit`` (reserve, then mark the
reservation ``invoking``, because the caller calls the model itself right after) and
``settle_stream`` (the success output built from the stream's usage, then settle)."""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from tollgate import clients
from tollgate.alerts import AlertPublisher
from tollgate.catalogue import load_catalogue
from tollgate.config_store import ConfigStore
from tollgate.ledger import Closure, Ledger, LedgerUnavailable, RequestRef
from tollgate.observability import capture_lambda_handler, logger
from tollgate.outcome import fit_for_state, stored_for_replay, success_output
from tollgate.settings import get_settings
from tollgate.shapes import Invocation, Reservation
from tollgate.states import Decision, State

ACTIONS = ("reserve", "settle", "release", "resolve", "admit", "settle_stream")


@logger.inject_lambda_context(clear_state=True)
@capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Reservation | Closure | Invocation:
    request_id = (event.get("context") or {}).get("requestId")
    logger.append_keys(requestId=request_id, executionId=event.get("executionId"))
    action = event.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action is {action!r}; it must be one of {', '.join(ACTIONS)}.")
    execution_id = event.get("executionId")
    if not execution_id:
        raise ValueError("executionId is required: the reservation records which execution holds it.")
    request = event["context"]
    settings = get_settings()
    ledger = Ledger(
        clients.dynamodb(),
        settings.table_name,
        idempotency_seconds=settings.idempotency_seconds,
        fail_open=settings.fail_open,
        lease_seconds=settings.lease_seconds,
        alerts=AlertPublisher(clients.sns(), settings.alert_topic_arn) if settings.alert_topic_arn else None,
    )
    if action in ("reserve", "admit"):
        store = ConfigStore(
            settings.table_name,
            clients.dynamodb(),
            cache_seconds=settings.config_cache_seconds,
            catalogue=load_catalogue(),
        )
        reserved = cast(Reservation, ledger.reserve(request, execution_id, store.limits))
        denial = reserved.get("denial")
        logger.info(
            f"Reserve: {reserved['decision']}",
            extra={
                "decision": reserved["decision"],
                "reason": denial and denial["reason"],
                "limitId": ((denial and denial.get("limit")) or {}).get("id"),
                "counters": len(reserved["counters"]),
                "failOpen": reserved["failOpen"],
            },
        )
        if action == "admit" and reserved["decision"] == Decision.APPROVED and not reserved["failOpen"]:
            # The caller streams from the model next: from here on, a lease that runs out is charged
            # at the estimate by the sweeper (the model may have run), never released.
            mark = ledger.mark_invoking(RequestRef.of(request), execution_id)
            if mark["mark"] != "marked":
                raise LedgerUnavailable(f"Could not mark request {request['requestId']} invoking: {mark}")
        return reserved

    reservation = event.get("reservation") or {}
    if action == "settle_stream":
        # The stream's own usage (reported by the caller), priced as invoke prices a Converse answer.
        output = fit_for_state(success_output(request, event["result"]), settings.max_request_bytes)
        event = {**event, "invocation": output}
        action = "settle"
    if reservation.get("failOpen"):
        if event.get("action") == "settle_stream":
            return cast(Invocation, event["invocation"])
        return {"state": State.ABSENT, "deltas": []}  # nothing reserved: nothing to close
    ref = RequestRef.of(request)
    result: Closure
    try:
        if action == "settle":
            invocation = event["invocation"]
            # Reserve's counters, carried by the workflow: settle writes without reading first.
            counters = reservation.get("counters")
            result = ledger.settle(
                ref,
                execution_id,
                invocation["usage"],
                invocation["costUsd"],
                stored_for_replay(invocation),
                counters=counters if isinstance(counters, list) else None,
            )
        elif action == "resolve":
            result = ledger.resolve(ref, execution_id)
        else:
            result = ledger.release(ref, execution_id)
    except (BotoCoreError, ClientError) as error:
        raise LedgerUnavailable(f"Could not {action} request {request['requestId']}: {error}") from error
    logger.info(
        f"{action.capitalize()}: {result['state']}",
        extra={"state": result["state"], "deltas": result["deltas"]},
    )
    if event.get("action") == "settle_stream":
        return cast(Invocation, event["invocation"])  # the success output, for Record
    return {"state": result["state"], "deltas": result["deltas"]}
