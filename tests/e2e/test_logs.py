"""End to end: every JSON line each handler logs carries the request's and the execution's IDs.

Powertools' inject_lambda_context and append_keys (tollgate.observability) put ``requestId`` and
``executionId`` on each line; these tests read the lines back from the functions' log groups
(/aws/lambda/<name>) after real executions, and check every line of every Lambda invocation that
served them. EMF metric blobs (``_aws``) are not log lines of the logger and are left out.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict

import pytest

from tollgate import cli

pytestmark = pytest.mark.e2e

HANDLERS = ("validate", "rate_limit", "invoke", "record_metrics")


def request(app: str, request_id: str, environment: str = "dev") -> dict:
    return {
        "model": "nova-micro",
        "prompt": {"messages": [{"role": "user", "content": "Name one use of Amazon S3."}]},
        "tags": {"applicationId": app, "costCenter": "e2e", "environment": environment},
        "requestId": request_id,
    }


def logged_lines(logs, group: str) -> list[dict]:
    """Every JSON line the logger wrote to ``group`` (EMF blobs and Lambda's own lines left out)."""
    lines = []
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
        for event in page["events"]:
            text = event["message"].strip()
            if not text.startswith("{"):
                continue  # START, END, REPORT and the runtime's own lines
            line = json.loads(text)
            if "_aws" not in line:
                lines.append(line)
    return lines


def invocations_of(lines: list[dict], execution_id: str) -> list[list[dict]]:
    """The lines of each Lambda invocation (function_request_id) that served ``execution_id``."""
    by_invocation = defaultdict(list)
    for line in lines:
        by_invocation[line.get("function_request_id")].append(line)
    return [
        group
        for group in by_invocation.values()
        if any(line.get("executionId") == execution_id for line in group)
    ]


def wait_for_lines(logs, groups: dict[str, str], execution_id: str, minimum: dict[str, int]) -> dict:
    """Log delivery from the function processes is asynchronous: poll until each handler has logged."""
    deadline = time.monotonic() + 30
    while True:
        found = {role: invocations_of(logged_lines(logs, g), execution_id) for role, g in groups.items()}
        if all(len(found[role]) >= n for role, n in minimum.items()) or time.monotonic() > deadline:
            return found
        time.sleep(1)


@pytest.mark.parametrize("outcome", ["Succeeded", "ValidationError"])
def test_every_handler_log_line_carries_the_request_and_execution_ids(aws, deployment, outcome):
    sfn, logs = aws("stepfunctions"), aws("logs")
    request_id = f"logs-{uuid.uuid4().hex[:12]}"
    environment = "dev" if outcome == "Succeeded" else "nowhere"
    body = request(deployment.run.app("logs"), request_id, environment)
    ended = cli.run_request(sfn, deployment.state_machine_arn, body, express=True)
    assert ended.name == outcome, ended
    execution_id = ended.execution_arn
    roles = HANDLERS if outcome == "Succeeded" else ("validate", "record_metrics")
    groups = {role: deployment.outputs["function_log_group_names"][role] for role in roles}
    # A success: one invocation each (issue 18: invoke settles, so rate_limit only reserves; it was
    # two rate_limit invocations, Reserve and Settle).
    minimum = dict.fromkeys(roles, 1)
    found = wait_for_lines(logs, groups, execution_id, minimum)
    for role in roles:
        assert len(found[role]) == minimum[role], (role, found[role])
        for invocation in found[role]:
            for line in invocation:
                assert line.get("requestId") == request_id, (role, line)
                assert line.get("executionId") == execution_id, (role, line)
                assert line.get("function_name") == deployment.outputs["function_names"][role], line
    if outcome == "Succeeded":
        assert "Settle: settled" in [line["message"] for line in found["invoke"][0]], found["invoke"]
    (record_line,) = [line for group in found["record_metrics"] for line in group]
    assert record_line["message"] == "Tollgate request"
    assert record_line["outcome"] == ("succeeded" if outcome == "Succeeded" else "invalid")


def test_the_sweepers_lines_carry_the_swept_request_and_execution(aws, deployment):
    """A reservation whose execution died: the sweeper's line about it names both its IDs."""
    lam, ddb, logs = aws("lambda"), aws("dynamodb"), aws("logs")
    names = deployment.outputs["function_names"]
    app, request_id = deployment.run.app("logs-swept"), f"swept-{uuid.uuid4().hex[:12]}"
    execution_id = f"arn:aws:states:us-east-1:000000000000:express:tollgate-e2e:dead-{uuid.uuid4().hex[:8]}"

    def invoke(role: str, event: dict) -> dict:
        response = lam.invoke(FunctionName=names[role], Payload=json.dumps(event).encode())
        assert "FunctionError" not in response, response["Payload"].read()
        return json.loads(response["Payload"].read())

    context = invoke("validate", {"request": request(app, request_id), "executionId": execution_id})
    reserved = invoke("rate_limit", {"action": "reserve", "context": context, "executionId": execution_id})
    assert reserved["decision"] == "approved", reserved
    # The execution "died" long ago: its lease ran out.
    ddb.update_item(
        TableName=deployment.table,
        Key={"pk": {"S": f"REQUEST#{app}#{request_id}"}, "sk": {"S": "RESERVATION"}},
        UpdateExpression="SET leaseExpiresAt = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )
    assert invoke("sweeper", {"source": "e2e"})["swept"] >= 1
    group = deployment.outputs["function_log_group_names"]["sweeper"]
    found = wait_for_lines(logs, {"sweeper": group}, execution_id, {"sweeper": 1})["sweeper"]
    assert len(found) == 1
    about = [line for line in found[0] if line.get("executionId") == execution_id]
    assert [line["message"] for line in about] == ["Swept a reservation whose lease expired: released"]
    assert about[0]["requestId"] == request_id
    # The other lines of that invocation are about other reservations (their own IDs) or the summary.
    for line in found[0]:
        if line["message"].startswith("Swept"):
            assert line.get("requestId") and line.get("executionId"), line
