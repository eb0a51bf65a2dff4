"""The local AWS itself: LocalStack on loopback, the host Lambda executor, DynamoDB Local, and
Step Functions running real Lambda code."""

from __future__ import annotations

import io
import json
import re
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from localstack import ROOT, default_port

pytestmark = pytest.mark.e2e

HANDLER = """
import json, os, sys, time
import boto3

print("init: module imported")


class ModelThrottled(Exception):
    pass


def handler(event, context):
    print(json.dumps({"_aws": {"Timestamp": 0, "CloudWatchMetrics": []}, "marker": event.get("marker")}))
    if event.get("raise"):
        raise ModelThrottled(event["raise"])
    if event.get("sleep"):
        time.sleep(event["sleep"])
    keys = ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_LOG_GROUP_NAME",
            "AWS_LAMBDA_LOG_STREAM_NAME", "_HANDLER", "LAMBDA_TASK_ROOT", "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "GREETING"]
    out = {
        "env": {k: os.environ.get(k) for k in keys},
        "python": "python%d.%d" % sys.version_info[:2],
        "boto3": boto3.__version__,
        "pid": os.getpid(),
        "remainingMs": context.get_remaining_time_in_millis(),
        "requestId": context.aws_request_id,
        "codeThere": os.path.exists(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "app.py")),
    }
    if event.get("callAws"):
        out["account"] = boto3.client("sts").get_caller_identity()["Account"]
    return out
"""


def _zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", source)
    return buf.getvalue()


def _pin(name: str) -> str:
    text = (ROOT / "requirements" / "dev.txt").read_text()
    return re.search(rf"^{name}==(\S+)", text, re.MULTILINE).group(1)


@pytest.fixture(scope="module")
def role(aws):
    return aws("iam").create_role(
        RoleName=f"e2e-host-{uuid.uuid4().hex[:8]}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]


@pytest.fixture(scope="module")
def make_function(aws, role):
    lam = aws("lambda")
    created = []

    def make(runtime="python3.12", timeout=10, memory=256, env=None, source=HANDLER):
        name = f"e2e-{uuid.uuid4().hex[:10]}"
        lam.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": _zip(source)},
            Timeout=timeout,
            MemorySize=memory,
            Environment={"Variables": env or {}},
        )
        created.append(name)
        assert wait_active(lam, name)["State"] == "Active"
        return name

    yield make
    for name in created:
        lam.delete_function(FunctionName=name)


def wait_active(lam, name: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        config = lam.get_function_configuration(FunctionName=name)
        if config["State"] != "Pending":
            return config
        time.sleep(0.05)
    raise AssertionError(f"{name} still Pending after {timeout}s")


def invoke(lam, name: str, event: dict) -> tuple[dict, str | None]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def log_messages(logs, name: str, timeout: float = 15, until=lambda msgs: True) -> list[str]:
    """Every log event of /aws/lambda/<name>, polled until `until(messages)` holds."""
    group = f"/aws/lambda/{name}"
    deadline = time.monotonic() + timeout
    messages: list[str] = []
    while time.monotonic() < deadline:
        try:
            streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
            messages = [
                e["message"]
                for s in streams
                for e in logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"])["events"]
            ]
        except logs.exceptions.ResourceNotFoundException:
            messages = []
        if until(messages):
            return messages
        time.sleep(0.3)
    return messages


# --- LocalStack itself ---------------------------------------------------------------------------
def test_gateway_listens_on_loopback_only(localstack_endpoint):
    port = default_port()
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                listening.append(address)
    assert listening == ["0100007F"], f"port {port} listens on {listening} (want 127.0.0.1 only)"


# --- the host Lambda executor --------------------------------------------------------------------
@pytest.mark.parametrize("runtime", ["python3.12", "python3.13"])
def test_function_runs_with_the_aws_environment(aws, make_function, runtime):
    lam = aws("lambda")
    name = make_function(runtime=runtime, memory=256, timeout=7, env={"GREETING": "hello"})
    out, error = invoke(lam, name, {"callAws": True})
    assert error is None, out
    env = out["env"]
    assert out["python"] == runtime
    assert out["boto3"] == _pin("boto3"), "the runtime ships boto3 as pinned in requirements/dev.txt"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["_HANDLER"] == "app.handler"
    assert out["codeThere"], "LAMBDA_TASK_ROOT holds the unzipped code"
    assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{default_port()}"
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    assert env["GREETING"] == "hello"
    assert 0 < out["remainingMs"] <= 7000
    assert out["account"] == "000000000000", "boto3 inside the function reaches LocalStack"


def test_an_unsupported_runtime_fails_with_a_clear_error(aws, make_function):
    lam = aws("lambda")
    name = make_function(runtime="nodejs20.x")
    out, error = invoke(lam, name, {})
    assert error == "Unhandled"
    assert out["errorType"] == "Runtime.InvalidRuntime"
    assert "python3.12, python3.13 only, not nodejs20.x" in out["errorMessage"]


def test_errors_come_back_as_aws_shapes_them(aws, make_function):
    lam = aws("lambda")
    name = make_function()
    cause = json.dumps({"code": "ThrottlingException", "retryable": True})
    out, error = invoke(lam, name, {"raise": cause})
    assert error == "Unhandled"
    assert out["errorType"] == "ModelThrottled"
    assert out["errorMessage"] == cause
    assert isinstance(out["stackTrace"], list) and "app.py" in out["stackTrace"][-1]
    assert out["requestId"]


def test_an_import_error_is_reported_on_every_call(aws, make_function):
    lam = aws("lambda")
    name = make_function(source="import does_not_exist\n\ndef handler(event, context):\n    return 1\n")
    for _ in range(2):  # init runs again on the next call, and fails again
        out, error = invoke(lam, name, {})
        assert error == "Unhandled"
        assert out["errorType"] == "Runtime.ImportModuleError"
        assert out["errorMessage"] == "Unable to import module 'app': No module named 'does_not_exist'"


def test_the_timeout_is_enforced_and_the_next_call_gets_a_fresh_environment(aws, make_function):
    lam = aws("lambda")
    name = make_function(timeout=1)
    invoke(lam, name, {})  # warm
    started = time.monotonic()
    out, error = invoke(lam, name, {"sleep": 5})
    elapsed = time.monotonic() - started
    assert error == "Unhandled"
    assert out["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in out["errorMessage"]
    assert elapsed < 3.5
    after, error = invoke(lam, name, {})
    assert error is None and after["env"]["AWS_LAMBDA_FUNCTION_NAME"] == name
    messages = log_messages(aws("logs"), name, until=lambda m: sum("Init Duration" in x for x in m) >= 2)
    assert any("Task timed out after 1.00 seconds" in m for m in messages)
    assert sum("Init Duration" in m for m in messages) == 2, (
        "the environment was started again after the timeout"
    )


def test_output_and_emf_lines_land_in_cloudwatch_logs(aws, make_function):
    lam = aws("lambda")
    name = make_function()
    marker = uuid.uuid4().hex
    _, error = invoke(lam, name, {"marker": marker})
    assert error is None
    messages = log_messages(aws("logs"), name, until=lambda m: any(marker in x for x in m))
    emf = [json.loads(m) for m in messages if marker in m]
    assert emf == [{"_aws": {"Timestamp": 0, "CloudWatchMetrics": []}, "marker": marker}]
    assert any(m.startswith("init: module imported") for m in messages)
    assert any(m.startswith("START RequestId:") for m in messages)
    assert any(m.startswith("END RequestId:") for m in messages)
    assert any(m.startswith("REPORT RequestId:") and "Duration:" in m for m in messages)


def test_24_concurrent_invocations_then_warm_reuse(aws, make_function):
    lam = aws("lambda")
    name = make_function(timeout=30)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(lambda i: invoke(lam, name, {"sleep": 1, "marker": i}), range(24)))
    elapsed = time.monotonic() - started
    assert all(error is None for _, error in results), results
    assert len({out["requestId"] for out, _ in results}) == 24
    pids = {out["pid"] for out, _ in results}
    assert len(pids) >= 12, f"24 one-second calls ran in only {len(pids)} environments"
    assert elapsed < 20, f"24 one-second calls took {elapsed:.1f}s: not concurrent"
    warm = {invoke(lam, name, {})[0]["pid"] for _ in range(5)}
    assert warm <= pids, "sequential calls reuse the warm environments"


# --- Step Functions runs the real code and sees the function's error names -------------------------
def test_step_functions_sees_the_function_error_name(aws, make_function, role):
    lam, sfn = aws("lambda"), aws("stepfunctions")
    name = make_function()
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    definition = {
        "StartAt": "Invoke",
        "States": {
            "Invoke": {
                "Type": "Task",
                "Resource": arn,
                "Retry": [{"ErrorEquals": ["ModelThrottled"], "MaxAttempts": 1, "IntervalSeconds": 1}],
                "Catch": [{"ErrorEquals": ["ModelThrottled"], "ResultPath": "$.error", "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    machine = sfn.create_state_machine(
        name=f"e2e-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=role, type="EXPRESS"
    )["stateMachineArn"]
    try:
        result = sfn.start_sync_execution(stateMachineArn=machine, input=json.dumps({"raise": "slow down"}))
        assert result["status"] == "SUCCEEDED", result
        error = json.loads(result["output"])["error"]
        assert error["Error"] == "ModelThrottled"
        assert json.loads(error["Cause"])["errorMessage"] == "slow down"
        ok = sfn.start_sync_execution(stateMachineArn=machine, input=json.dumps({"marker": "x"}))
        assert (
            ok["status"] == "SUCCEEDED"
            and json.loads(ok["output"])["env"]["AWS_LAMBDA_FUNCTION_NAME"] == name
        )
    finally:
        sfn.delete_state_machine(stateMachineArn=machine)


def test_state_machines_describe_their_tracing_configuration(aws, role):
    """As on AWS (and as Terraform's aws_sfn_state_machine expects, or it plans a change forever)."""
    sfn = aws("stepfunctions")
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    for tracing in (None, {"enabled": True}):
        extra = {"tracingConfiguration": tracing} if tracing else {}
        arn = sfn.create_state_machine(
            name=f"e2e-{uuid.uuid4().hex[:8]}", definition=definition, roleArn=role, **extra
        )["stateMachineArn"]
        try:
            described = sfn.describe_state_machine(stateMachineArn=arn)
            assert described["tracingConfiguration"] == (tracing or {"enabled": False})
        finally:
            sfn.delete_state_machine(stateMachineArn=arn)


# --- CloudWatch ------------------------------------------------------------------------------------
def test_a_statistic_reads_the_series_with_exactly_the_dimensions_asked_for(aws):
    """As on AWS: {Environment=prod} is not Environment=production, {Model=m} is not {Model=m,
    Application=a}, and no dimensions is the series without any (LocalStack alone matches the
    first two as LIKE substrings; the project's hook makes the match exact)."""
    cw = aws("cloudwatch")
    namespace = f"e2e-{uuid.uuid4().hex[:8]}"
    series = {
        (("Environment", "prod"),): 1.0,
        (("Environment", "production"),): 10.0,
        (("Model", "m"),): 100.0,
        (("Application", "a"), ("Model", "m")): 1000.0,
        (("Application", "a-b"), ("Model", "m")): 10000.0,
        (): 100000.0,
    }
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": "Count", "Dimensions": [{"Name": k, "Value": v} for k, v in key], "Value": value}
            for key, value in series.items()
        ],
    )
    end = datetime.now(UTC) + timedelta(minutes=5)
    start = end - timedelta(hours=1)
    keys = list(series)
    result = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": f"q{i}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": "Count",
                        "Dimensions": [{"Name": k, "Value": v} for k, v in key],
                    },
                    "Period": 3600,
                    "Stat": "Sum",
                },
            }
            for i, key in enumerate(keys)
        ],
        StartTime=start,
        EndTime=end,
    )
    read = {keys[int(r["Id"][1:])]: sum(r["Values"]) for r in result["MetricDataResults"]}
    assert read == series
    for key, value in series.items():
        stats = cw.get_metric_statistics(
            Namespace=namespace,
            MetricName="Count",
            Dimensions=[{"Name": k, "Value": v} for k, v in key],
            StartTime=start,
            EndTime=end,
            Period=3600,
            Statistics=["Sum"],
        )
        assert sum(p["Sum"] for p in stats["Datapoints"]) == value, key
    # ListMetrics filters by a subset of the dimensions, as on AWS.
    listed = cw.list_metrics(Namespace=namespace, Dimensions=[{"Name": "Model", "Value": "m"}])["Metrics"]
    assert len(listed) == 3


# --- DynamoDB Local -------------------------------------------------------------------------------
@pytest.fixture
def table(aws):
    ddb = aws("dynamodb")
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    yield name
    ddb.delete_table(TableName=name)


def test_dynamodb_ttl_and_point_in_time_recovery(aws, table):
    ddb = aws("dynamodb")
    ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
    )
    ddb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    assert ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]["AttributeName"] == "expiresAt"
    backups = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_dynamodb_transaction_cancellation_reasons(aws, table):
    ddb = aws("dynamodb")
    counter = {"pk": {"S": "COUNTER#x"}, "sk": {"S": "w"}}
    ddb.put_item(TableName=table, Item={**counter, "used": {"N": "8"}})

    def reserve(amount: int, ceiling: int, request_id: str):
        return ddb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": counter,
                        "UpdateExpression": "ADD used :a",
                        "ConditionExpression": "attribute_not_exists(used) OR used <= :m",
                        "ExpressionAttributeValues": {
                            ":a": {"N": str(amount)},
                            ":m": {"N": str(ceiling - amount)},
                        },
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "RESERVATION"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )

    reserve(2, 10, "a")  # 8 + 2 <= 10: admitted
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as caught:
        reserve(1, 10, "b")  # 10 + 1 > 10
    reasons = caught.value.response["CancellationReasons"]
    assert reasons[0]["Code"] == "ConditionalCheckFailed"
    assert reasons[0]["Item"] == {**counter, "used": {"N": "10"}}
    assert reasons[1]["Code"] == "None"
    assert "ConditionalCheckFailed" in caught.value.response["Error"]["Message"]
    item = ddb.get_item(TableName=table, Key=counter, ConsistentRead=True)["Item"]
    assert item["used"] == {"N": "10"}, "a cancelled transaction changes nothing"
    assert "Item" not in ddb.get_item(
        TableName=table, Key={"pk": {"S": "REQUEST#b"}, "sk": {"S": "RESERVATION"}}
    )
