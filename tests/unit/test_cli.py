"""The `tollgate` CLI: request building, outcome handling and exit codes, the usage table."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from tollgate import cli

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:tollgate"
EXEC_ARN = "arn:aws:states:us-east-1:123456789012:express:tollgate:run-1:abc"


class FakeStdin(io.StringIO):
    def __init__(self, text: str = "", tty: bool = False) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def args_for(*argv: str):
    return cli.parser().parse_args(["invoke", *argv])


def test_flags_build_the_articles_request_shape():
    args = args_for(
        "--model",
        "claude-3-5-haiku",
        "--app",
        "aws-documentation-helper",
        "--cost-center",
        "support",
        "--env",
        "production",
        "--max-tokens",
        "2000",
        "--temperature",
        "0.7",
        "--top-p",
        "0.9",
        "--top-k",
        "50",
        "--system",
        "You are a helpful AWS expert.",
        "Explain S3.",
    )
    request = cli.build_request(args, FakeStdin(tty=True))
    assert request == {
        "model": "claude-3-5-haiku",
        "prompt": {
            "messages": [
                {"role": "system", "content": "You are a helpful AWS expert."},
                {"role": "user", "content": "Explain S3."},
            ],
            "parameters": {"max_tokens": 2000, "temperature": 0.7, "top_p": 0.9, "top_k": 50},
        },
        "tags": {
            "applicationId": "aws-documentation-helper",
            "costCenter": "support",
            "environment": "production",
        },
    }


def test_prompt_comes_from_stdin_and_optional_parts_stay_out():
    request = cli.build_request(args_for("--model", "nova-lite", "--app", "a"), FakeStdin("  hello\n"))
    assert request == {
        "model": "nova-lite",
        "prompt": {"messages": [{"role": "user", "content": "hello"}]},
        "tags": {"applicationId": "a"},
    }


def test_file_request_is_sent_unchanged_and_request_id_is_added(tmp_path):
    path = tmp_path / "r.json"
    body = {
        "model": "sales",
        "prompt": {"messages": [{"role": "user", "content": "x"}]},
        "tags": {"applicationId": "a"},
    }
    path.write_text(json.dumps(body))
    request = cli.build_request(args_for("--file", str(path), "--request-id", "r-1"), FakeStdin(tty=True))
    assert request == {**body, "requestId": "r-1"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "nova-lite"], "--model and --app are required"),
        (["--file", "/nonexistent/r.json"], "cannot read /nonexistent/r.json"),
    ],
)
def test_missing_input_is_a_one_line_error(argv, message, capsys):
    assert cli.main(["invoke", *argv]) == cli.EXIT_CODES["CliError"]
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_file_that_is_not_json_is_named(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{nope")
    with pytest.raises(cli.CliError, match=r"bad.json is not JSON"):
        cli.build_request(args_for("--file", str(path)), FakeStdin(tty=True))


def _sfn():
    return boto3.client("stepfunctions", region_name="us-east-1")


def test_express_denial_maps_to_its_exit_code_and_parsed_cause():
    sfn = _sfn()
    cause = {
        "requestId": "r-1",
        "error": "RateLimitExceeded",
        "message": "limit reached",
        "limit": {
            "id": "*/minute/requests",
            "used": 10,
            "limit": 10,
            "unit": "requests",
            "window": "minute",
            "requested": 1,
        },
        "retryAfterSeconds": 12,
    }
    with Stubber(sfn) as stub:
        stub.add_response(
            "start_sync_execution",
            {
                "executionArn": EXEC_ARN,
                "startDate": datetime.now(UTC),
                "stopDate": datetime.now(UTC),
                "status": "FAILED",
                "error": "RateLimitExceeded",
                "cause": json.dumps(cause),
            },
            {"stateMachineArn": ARN, "input": json.dumps({"model": "m"})},
        )
        outcome = cli.run_request(sfn, ARN, {"model": "m"}, express=True)
    assert outcome.name == "RateLimitExceeded"
    assert outcome.exit_code == 4
    assert outcome.cause == cause
    text = cli.describe_outcome(outcome)
    assert "*/minute/requests: 10 of 10 requests used this minute" in text
    assert "retry     in 12 s" in text


def test_standard_execution_is_polled_until_it_ends():
    sfn = _sfn()
    output = {
        "requestId": "r-2",
        "model": "nova-lite",
        "modelId": "amazon.nova-lite-v1:0",
        "response": {"text": "hi", "stopReason": "end_turn"},
        "usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4},
        "costUsd": 0.0001,
        "latencyMs": 5,
    }
    with Stubber(sfn) as stub:
        stub.add_response("start_execution", {"executionArn": EXEC_ARN, "startDate": datetime.now(UTC)})
        running = {
            "executionArn": EXEC_ARN,
            "stateMachineArn": ARN,
            "status": "RUNNING",
            "startDate": datetime.now(UTC),
        }
        stub.add_response("describe_execution", running)
        stub.add_response(
            "describe_execution", {**running, "status": "SUCCEEDED", "output": json.dumps(output)}
        )
        cli.POLL_SECONDS = 0
        outcome = cli.run_request(sfn, ARN, {"model": "m"}, express=False)
    assert outcome.name == "Succeeded"
    assert outcome.exit_code == 0
    assert outcome.output == output
    assert "3 in + 1 out = 4 tokens" in cli.describe_outcome(outcome)


def test_timeout_and_unknown_errors_get_the_generic_failure_code():
    sfn = _sfn()
    with Stubber(sfn) as stub:
        stub.add_response(
            "start_sync_execution",
            {
                "executionArn": EXEC_ARN,
                "startDate": datetime.now(UTC),
                "stopDate": datetime.now(UTC),
                "status": "TIMED_OUT",
            },
        )
        outcome = cli.run_request(sfn, ARN, {}, express=True)
    assert outcome.name == "States.Timeout"
    assert outcome.exit_code == cli.EXIT_CODES["ExecutionFailed"]


@mock_aws
def test_usage_rows_show_each_counter_of_the_current_window():
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    table = boto3.resource("dynamodb", region_name="us-east-1").Table("t")
    table.put_item(
        Item={
            "pk": "LIMIT",
            "sk": "costCenter=*/day/usd",
            "scope": {"costCenter": "*"},
            "window": "day",
            "unit": "usd",
            "limit": Decimal(50),
            "enforce": True,
        }
    )
    table.put_item(
        Item={
            "pk": "LIMIT",
            "sk": "*/month/requests",
            "scope": {},
            "window": "month",
            "unit": "requests",
            "limit": Decimal(1000),
            "enforce": False,
        }
    )
    now = datetime(2026, 11, 28, 13, 0, 30, tzinfo=UTC)
    table.put_item(
        Item={
            "pk": "COUNTER#costCenter=*/day/usd",
            "sk": "2026-11-28T00:00:00Z#costCenter=sales",
            "used": Decimal("12.5"),
        }
    )
    table.put_item(
        Item={
            "pk": "COUNTER#costCenter=*/day/usd",
            "sk": "2026-11-28T00:00:00Z#costCenter=support",
            "used": Decimal("50"),
        }
    )
    # yesterday's counter is not this window's
    table.put_item(
        Item={
            "pk": "COUNTER#costCenter=*/day/usd",
            "sk": "2026-11-27T00:00:00Z#costCenter=sales",
            "used": Decimal("49"),
        }
    )

    rows = cli.usage_rows(ddb, "t", now=now)
    summary = [(r["limitId"], r["scope"], r["used"], r["percent"], r["enforce"]) for r in rows]
    assert summary == [
        ("*/month/requests", "*", Decimal(0), Decimal(0), False),
        ("costCenter=*/day/usd", "costCenter=sales", Decimal("12.5"), Decimal("25.0"), True),
        ("costCenter=*/day/usd", "costCenter=support", Decimal(50), Decimal("100.0"), True),
    ]
    assert rows[1]["resetsInSeconds"] == 10 * 3600 + 59 * 60 + 30  # until 2026-11-29T00:00:00Z
    assert rows[0]["resetsInSeconds"] == 2 * 86400 + 10 * 3600 + 59 * 60 + 30  # until 2026-12-01
    table_text = cli.format_table(rows, [("limitId", "limit"), ("used", "used")])
    assert table_text.splitlines()[0].startswith("limit")
    assert "12.5" in table_text


def test_the_invoke_client_waits_past_the_express_limit_and_never_retries():
    client = cli.aws_client(args_for("--region", "us-east-1"), "stepfunctions", **cli.CALLER_CONFIG)
    assert client.meta.config.read_timeout == cli.CALLER_READ_TIMEOUT_SECONDS > 300
    assert client.meta.config.retries["total_max_attempts"] == 1


def test_invoke_always_sends_a_request_id_and_prints_a_generated_one(monkeypatch, capsys):
    sfn = _sfn()
    settings_seen = {}

    def fake_client(args, service, **settings):
        settings_seen.update(settings)
        return sfn

    monkeypatch.setattr(cli, "aws_client", fake_client)
    sent = []
    with Stubber(sfn) as stub:
        stub.add_response("describe_state_machine", _machine())
        stub.add_response("start_sync_execution", _failed_sync(), None)
        stub.add_response("describe_state_machine", _machine())
        stub.add_response("start_sync_execution", _failed_sync(), None)
        sfn.meta.events.register(
            "provide-client-params.states.StartSyncExecution",
            lambda params, **_: sent.append(json.loads(params["input"])),
        )
        base = ["invoke", "--state-machine", ARN, "--model", "nova-lite", "--app", "a", "hi"]
        assert cli.main(base) == cli.EXIT_CODES["ValidationError"]
        generated = sent[0]["requestId"]
        assert str(uuid.UUID(generated)) == generated
        assert f"--request-id {generated}" in capsys.readouterr().err
        # the caller's own ID is sent as given, and nothing is printed about it
        assert cli.main([*base, "--request-id", "mine-1"]) == cli.EXIT_CODES["ValidationError"]
        assert sent[1]["requestId"] == "mine-1"
        assert "generated" not in capsys.readouterr().err
    assert settings_seen == cli.CALLER_CONFIG


def _machine():
    return {
        "stateMachineArn": ARN,
        "name": "tollgate",
        "definition": "{}",
        "roleArn": "arn:aws:iam::123456789012:role/r",
        "type": "EXPRESS",
        "creationDate": datetime.now(UTC),
    }


def _failed_sync():
    return {
        "executionArn": EXEC_ARN,
        "startDate": datetime.now(UTC),
        "stopDate": datetime.now(UTC),
        "status": "FAILED",
        "error": "ValidationError",
        "cause": json.dumps({"requestId": "x", "error": "ValidationError"}),
    }
