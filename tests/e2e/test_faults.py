"""The fault suite: the ledger's promise on every path, end to end (issue 7, docs/ledger.md).

Real executions of the module applied into LocalStack, with the Bedrock emulator's fault switch
making the model fail before or after it generated an answer, or answer too late. Two paths no
switch can reach from outside (an execution that dies after Reserve, and an invoke function that
dies after calling the model, which is also what a Settle that never succeeds leaves behind) are
produced by the real functions, invoked directly, stopping where a dead execution stops. The
sweeper is then invoked directly (the schedule would do it within a minute). One table is
printed; the assertions: every execution recorded exactly once (TotalRequests == executions),
no open reservation after the sweep, and every counter equal to the ledger's own truth (settled
usage + charged estimates, released ones counting zero).
"""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal

import pytest
from deployment import FAULT_CASES as CASES
from deployment import fault_apps
from localstack import faults
from test_workflow import metric_sum, request, run

from tollgate import cli

pytestmark = pytest.mark.e2e

MODEL = "claude-3-5-sonnet-v2"
MODEL_ID = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"


def arm(endpoint: str, **spec) -> None:
    status, body = faults(endpoint, "POST", {"modelId": MODEL_ID, **spec})
    assert status == 200, body


def disarm(endpoint: str) -> None:
    faults(endpoint, "DELETE", query=f"?modelId={MODEL_ID}")


def invoke_function(aws, deployment, role: str, event: dict) -> dict:
    response = aws("lambda", retries=1).invoke(
        FunctionName=deployment.outputs["function_names"][role], Payload=json.dumps(event).encode()
    )
    payload = json.loads(response["Payload"].read() or b"null")
    return {"error": response.get("FunctionError"), "payload": payload}


def reservations(ddb, deployment, app: str) -> list[dict]:
    items, start = [], None
    while True:
        page = ddb.scan(
            TableName=deployment.table,
            FilterExpression="begins_with(pk, :p)",
            ExpressionAttributeValues={":p": {"S": f"REQUEST#{app}#"}},
            ConsistentRead=True,
            **({"ExclusiveStartKey": start} if start else {}),
        )
        items += [cli_item(i) for i in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def cli_item(raw: dict) -> dict:
    from tollgate.config_store import deserialize

    return deserialize(raw)


def truth(items: list[dict]) -> Decimal:
    """The ledger's truth for a total_tokens counter: what each reservation says it holds."""
    total = Decimal(0)
    for item in items:
        state = item["state"]
        if state == "settled":
            total += Decimal(item["result"]["usage"]["totalTokens"])
        elif state in ("charged", "reserved", "invoking"):
            total += sum(Decimal(c["amount"]) for c in item["counters"] if c["unit"] == "total_tokens")
    return total


def counter(ddb, deployment, app: str) -> Decimal:
    rows = [
        r
        for r in cli.usage_rows(ddb, deployment.table)
        if r["limitId"] == f"applicationId={app}/day/total_tokens"
    ]
    return sum((Decimal(r["used"]) for r in rows), Decimal(0))


def dead_execution(aws, deployment, body: dict, *, call_model: bool, settle_fails: bool = False) -> str:
    """What an execution that died leaves: Validate and Reserve ran; with ``call_model`` the invoke
    function also marked the reservation and called the model; nothing closed it or recorded it.
    With ``settle_fails`` the invoke function's own settle fails (it is handed counters it cannot
    write), as when its settle never succeeds and the execution dies before the Settle state."""
    name = deployment.outputs["state_machine_name"]
    execution_id = f"arn:aws:states:us-east-1:000000000000:express:{name}:dead-{uuid.uuid4().hex[:8]}"
    context = invoke_function(aws, deployment, "validate", {"request": body, "executionId": execution_id})[
        "payload"
    ]
    assert context["valid"], context
    reserved = invoke_function(
        aws, deployment, "rate_limit", {"action": "reserve", "context": context, "executionId": execution_id}
    )["payload"]
    assert reserved["decision"] == "approved", reserved
    if call_model:
        reservation = {**reserved, "counters": [{"unwritable": True}]} if settle_fails else reserved
        called = invoke_function(
            aws,
            deployment,
            "invoke",
            {"context": context, "reservation": reservation, "executionId": execution_id},
        )
        if settle_fails:
            assert "settlement" not in (called["payload"] or {}), called
        assert called["error"] is None or "ModelOutcomeUnknown" in json.dumps(called["payload"]), called
    return execution_id


def test_fault_suite(aws, deployment, localstack_endpoint):
    sfn, ddb, cw = aws("stepfunctions"), aws("dynamodb"), aws("cloudwatch")
    apps = dict(zip(CASES, fault_apps(deployment.run), strict=True))
    sent: dict[str, int] = {}
    outcomes: dict[str, list[str]] = {}
    causes: dict[str, list[dict]] = {}

    def execute(case: str, body: dict) -> cli.Outcome:
        outcome = run(sfn, deployment, body)
        sent[case] = sent.get(case, 0) + 1
        outcomes.setdefault(case, []).append(outcome.name)
        causes.setdefault(case, []).append(outcome.cause or {})
        return outcome

    def body(case: str, **extra) -> dict:
        return request(MODEL, apps[case], **extra)

    try:
        # one throttle: the Invoke state retries a did-not-run model error once (the Express bound)
        arm(localstack_endpoint, error="ThrottlingException", count=1)
        execute("throttled-then-ok", body("throttled-then-ok"))
        disarm(localstack_endpoint)

        arm(localstack_endpoint, error="ThrottlingException", count=10)
        execute("throttled-always", body("throttled-always"))
        disarm(localstack_endpoint)

        arm(localstack_endpoint, error="ServiceUnavailableException", count=10)
        execute("5xx-before-generation", body("5xx-before-generation"))
        disarm(localstack_endpoint)

        arm(localstack_endpoint, error="InternalServerException", count=1, phase="after")
        execute("5xx-after-generation", body("5xx-after-generation"))
        disarm(localstack_endpoint)

        # examples/localstack reads for 5 s; the emulator generates, then answers after 8 s.
        arm(localstack_endpoint, delayMs=8000, count=1, phase="after")
        execute("delay-past-read-timeout", body("delay-past-read-timeout"))
        disarm(localstack_endpoint)

        dead_execution(aws, deployment, body("execution-died-after-reserve"), call_model=False)
        sent["execution-died-after-reserve"] = 1
        arm(localstack_endpoint, error="InternalServerException", count=1, phase="after")
        dead_execution(aws, deployment, body("invoke-died-after-the-call"), call_model=True)
        disarm(localstack_endpoint)
        sent["invoke-died-after-the-call"] = 1
        dead_execution(aws, deployment, body("settle-never-ran"), call_model=True, settle_fails=True)
        sent["settle-never-ran"] = 1

        shared_id = f"job-{deployment.run.id}"
        a = execute("same-id-two-apps-a", body("same-id-two-apps-a", requestId=shared_id))
        b = execute("same-id-two-apps-b", body("same-id-two-apps-b", requestId=shared_id))
        twice = [
            execute("same-id-twice-one-app", body("same-id-twice-one-app", requestId=shared_id))
            for _ in range(2)
        ]
        execute("same-id-other-request", body("same-id-other-request", requestId=shared_id))
        other = execute(
            "same-id-other-request",
            body("same-id-other-request", requestId=shared_id, text="Something else."),
        )
        # over max_request_bytes (98,304 bytes of UTF-8 JSON by default): refused before Reserve,
        # so it can never push the state past Step Functions' 256 KB; still recorded once
        execute("oversized-request", body("oversized-request", text="漢" * 33_000))
    finally:
        disarm(localstack_endpoint)

    # --- the outcomes each path must end in ------------------------------------------------------
    assert outcomes["throttled-then-ok"] == ["Succeeded"]
    assert outcomes["throttled-always"] == ["InvocationFailed"]
    assert outcomes["5xx-before-generation"] == ["InvocationFailed"]
    for case in ("5xx-after-generation", "delay-past-read-timeout"):
        assert outcomes[case] == ["InvocationFailed"], causes[case]
        assert "charged at the estimate" in causes[case][0]["message"], causes[case]
    assert (
        a.name == b.name == "Succeeded"
        and a.output["tags"]["applicationId"] != b.output["tags"]["applicationId"]
    )
    assert not a.output.get("replayed") and not b.output.get("replayed")
    assert [t.name for t in twice] == ["Succeeded", "Succeeded"] and twice[1].output.get("replayed") is True
    assert other.name == "ValidationError" and other.cause["errors"][0]["field"] == "requestId"
    assert outcomes["oversized-request"] == ["ValidationError"], causes["oversized-request"]
    assert [e["field"] for e in causes["oversized-request"][0]["errors"]] == ["request"]

    # --- the sweeper closes what the dead executions left ------------------------------------------
    lease = 60  # reservation_lease_seconds in tests/e2e/deployment.py
    open_before = {
        case: sum(1 for i in reservations(ddb, deployment, app) if "leaseExpiresAt" in i)
        for case, app in apps.items()
    }
    assert open_before["execution-died-after-reserve"] == 1 and open_before["invoke-died-after-the-call"] == 1
    time.sleep(lease + 2)
    swept = invoke_function(aws, deployment, "sweeper", {"source": "e2e"})
    assert swept["error"] is None, swept

    # --- the table, then the promise ------------------------------------------------------------------
    rows = []
    for case, app in apps.items():
        items = reservations(ddb, deployment, app)
        states = ",".join(sorted(i["state"] for i in items)) or "-"
        recorded = metric_sum(cw, "GenAIRateLimiting", "TotalRequests", {"Application": app})
        rows.append(
            {
                "fault": case,
                "executions": sent.get(case, 0),
                "outcome": ",".join(outcomes.get(case, ["(died)"])) + f" [{states}]",
                "counter": counter(ddb, deployment, app),
                "truth": truth(items),
                "open": sum(1 for i in items if "leaseExpiresAt" in i),
                "TotalRequests": recorded,
            }
        )
    print(f"\nsweeper: {swept['payload']}")
    header = ("fault", "executions", "outcome [reservations]", "counters after", "open reservations")
    widths = (30, 10, 48, 14, 17)
    print(" | ".join(f"{h:{w}}" for h, w in zip(header, widths, strict=True)) + " | TotalRequests")
    for r in rows:
        cells = (r["fault"], r["executions"], r["outcome"], str(r["counter"]), r["open"])
        print(
            " | ".join(f"{c!s:{w}}" for c, w in zip(cells, widths, strict=True))
            + f" | {r['TotalRequests']:g}"
        )
    for r in rows:
        assert r["TotalRequests"] == r["executions"], r
        assert r["open"] == 0, r
        assert r["counter"] == r["truth"], r
    charged = {r["fault"]: r["counter"] for r in rows}
    for case in (
        "5xx-after-generation",
        "delay-past-read-timeout",
        "invoke-died-after-the-call",
        "settle-never-ran",
    ):
        assert charged[case] > 0, case  # the model may have run: its estimate stays counted
    for case in ("throttled-always", "5xx-before-generation", "execution-died-after-reserve"):
        assert charged[case] == 0, case  # the model did not run: the estimate was given back
