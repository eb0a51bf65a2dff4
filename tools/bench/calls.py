"""P2: AWS calls per request, counted, for each outcome, through the real handlers.

The four handlers run in the order asl/tollgate.asl.json gives them (asl_walk), against a real
DynamoDB (DynamoDB Local in LocalStack), with Bedrock stubbed at the botocore level (Stubber).
The state machine's own service integrations (RecordFallback's ``dynamodb:putItem`` and
``aws-sdk:cloudwatch:putMetricData``) are made with the same counted clients and the Parameters
the definition renders. botocore's event hooks count every call per service and operation and ask
DynamoDB for ``ReturnConsumedCapacity`` on every call that accepts it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import boto3
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from . import asl_walk

# What Powertools' inject_lambda_context reads from the Lambda context.
LAMBDA_CONTEXT = SimpleNamespace(
    function_name="tollgate-bench",
    memory_limit_in_mb=256,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:tollgate-bench",
    aws_request_id="00000000-0000-0000-0000-000000000000",
)

CONSUMED_CAPACITY_OPERATIONS = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "TransactGetItems",
}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
DYNAMODB_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
# failed: the model refused the request (it did not run: the estimate is released);
# unknown: the model answered with a 500 (it may have run: the estimate is charged);
# record_fallback: a succeeded request whose Record task timed out (RecordFallback emits the metrics)
OUTCOMES = ("succeeded", "denied", "invalid", "failed", "replay", "unknown", "record_fallback")
NAMESPACE = "GenAIRateLimiting"
# The request path's Lambda invocations at most (issue 18): validate, reserve, invoke (which settles)
# and record for a success; validate, reserve and record for a denial; validate and record otherwise.
LAMBDA_BUDGET = {"succeeded": 4, "denied": 3, "invalid": 2}
HANDLERS = {
    "validate_function_arn": "validate",
    "rate_limit_function_arn": "rate_limit",
    "invoke_function_arn": "invoke",
    "record_metrics_function_arn": "record_metrics",
}


def over_lambda_budget(results: dict[str, Any]) -> dict[str, int]:
    """The outcomes whose measured Lambda invocations exceed LAMBDA_BUDGET (empty when none do)."""
    found = {}
    for outcome, budget in LAMBDA_BUDGET.items():
        result = results[outcome]
        count = result["lambda_invocations"] if isinstance(result, dict) else result.lambda_invocations
        if count > budget:
            found[outcome] = count
    return found


def modeled_write_units(operation: str, params: dict) -> float:
    """Write units by DynamoDB's rules for items up to 1 KB: 2 per item of a transaction (counted for
    a cancelled one too: an upper bound), 1 per standard write."""
    if operation == "TransactWriteItems":
        return 2.0 * len(params.get("TransactItems", []))
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return 1.0
    if operation == "BatchWriteItem":
        return float(sum(len(v) for v in params.get("RequestItems", {}).values()))
    return 0.0


def kwargs_context(kwargs: dict) -> dict:
    return kwargs.get("context") or {}


@dataclass
class CallCounter:
    """Counts calls per service/operation, and DynamoDB capacity units, on any client's events."""

    calls: Counter = field(default_factory=Counter)
    write_units: float = 0.0
    read_units: float = 0.0
    unreported: Counter = field(default_factory=Counter)  # calls that reported no capacity (errors)
    modeled_write_units: float = 0.0  # by DynamoDB's rules, items up to 1 KB, cancelled ones too

    def attach(self, events: Any) -> None:
        events.register("provide-client-params.dynamodb.*", self._ask_capacity)
        events.register("after-call.*.*", self._count)

    def _ask_capacity(self, params: dict, model: Any, context: dict, **_: Any) -> None:
        if model.name in CONSUMED_CAPACITY_OPERATIONS:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        context["bench_write_units"] = modeled_write_units(model.name, params)

    def _count(self, http_response: Any, parsed: dict, model: Any, event_name: str, **kwargs: Any) -> None:
        service = event_name.split(".")[1]
        self.calls[f"{service}:{model.name}"] += 1
        if service != "dynamodb":
            return
        self.modeled_write_units += kwargs_context(kwargs).get("bench_write_units", 0)
        consumed = parsed.get("ConsumedCapacity")
        if consumed is None:
            self.unreported[model.name] += 1
            return
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            total = float(entry.get("CapacityUnits", 0))
            write = entry.get("WriteCapacityUnits")
            read = entry.get("ReadCapacityUnits")
            if write is None and read is None:
                if model.name in DYNAMODB_WRITES:
                    write = total
                else:
                    read = total
            self.write_units += float(write or 0)
            self.read_units += float(read or 0)

    def reset(self) -> None:
        self.calls.clear()
        self.unreported.clear()
        self.write_units = self.read_units = self.modeled_write_units = 0.0

    def count(self, service: str, operations: set[str] | None = None) -> int:
        return sum(
            n
            for key, n in self.calls.items()
            if key.split(":")[0] == service and (operations is None or key.split(":")[1] in operations)
        )


@dataclass
class OutcomeCalls:
    outcome: str
    ended_in: str
    states: list[str]
    transitions: int
    lambda_invocations: int
    service_integrations: list[str]  # the state machine's own calls (dynamodb:putItem, ...)
    calls: dict[str, int]
    dynamodb_writes: int
    dynamodb_reads: int
    cloudwatch_calls: int
    bedrock_calls: int
    write_units: float
    modeled_write_units: float
    read_units: float
    unreported_capacity: dict[str, int]
    log_bytes: int  # what the functions print (JSON log lines and the EMF blob): CloudWatch Logs ingestion

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def converse_response(input_tokens: int = 21, output_tokens: int = 90) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": "S3 is durable."}]}},
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        },
        "metrics": {"latencyMs": 321},
    }


@contextlib.contextmanager
def _captured_output() -> Iterator[io.StringIO]:
    """Everything the functions print: Powertools' logger (its own stream) and EMF (stdout)."""
    from tollgate.observability import logger

    buffer = io.StringIO()
    handler = logger.handlers[0]
    previous = handler.setStream(buffer)
    try:
        with contextlib.redirect_stdout(buffer):
            yield buffer
    finally:
        handler.setStream(previous)


class Pipeline:
    """The real handlers, wired to counted clients; one ``run`` per execution."""

    def __init__(self, table: str, endpoint: str | None) -> None:
        import os

        from tollgate import clients, config_store, settings

        os.environ["TOLLGATE_TABLE_NAME"] = table
        self.table = table
        self.counter = CallCounter()
        session = boto3.Session(
            region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
        )
        self.counter.attach(session.events)
        kwargs = {"endpoint_url": endpoint} if endpoint else {}
        self.dynamodb = session.client("dynamodb", config=clients.DYNAMODB_CONFIG, **kwargs)
        self.cloudwatch = session.client("cloudwatch", config=clients.CLOUDWATCH_CONFIG, **kwargs)
        self.bedrock = session.client(
            "bedrock-runtime", config=clients.Config(retries=clients.BEDROCK_RETRIES)
        )
        self.stubber = Stubber(self.bedrock)
        self.stubber.activate()
        clients.dynamodb = lambda: self.dynamodb  # type: ignore[assignment]
        clients.cloudwatch = lambda: self.cloudwatch  # type: ignore[assignment]
        clients.bedrock_runtime = lambda read_timeout: self.bedrock  # type: ignore[assignment]
        self._settings, self._config_store = settings, config_store
        from tollgate.handlers import invoke, rate_limit, record_metrics, validate

        modules = {
            "validate": validate,
            "rate_limit": rate_limit,
            "invoke": invoke,
            "record_metrics": record_metrics,
        }
        self.tasks = {resource: self._lambda(modules[name].handler) for resource, name in HANDLERS.items()}
        self.tasks["dynamodb:putItem"] = self._integration("DynamoDB", self.dynamodb.put_item)
        self.tasks["aws-sdk:cloudwatch:putMetricData"] = self._integration(
            "CloudWatch", self.cloudwatch.put_metric_data
        )
        # rendered as main.tf's templatefile() renders it (the function ARNs stay task names)
        self.definition = asl_walk.load_definition(
            variables={"table_name": table, "metrics_namespace": NAMESPACE}
        )

    @staticmethod
    def _integration(service: str, call: Any) -> Any:
        """A service integration task: the Parameters are the API call's; an error is named as Step
        Functions names it (``DynamoDB.ConditionalCheckFailedException``)."""

        def run(parameters: Any) -> Any:
            try:
                response = call(**parameters)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "Unknown")
                raise asl_walk.TaskFailed(f"{service}.{code}", str(error)) from error
            return json.loads(json.dumps(response, default=str))

        return run

    @staticmethod
    def _lambda(handler: Any) -> Any:
        """The Lambda boundary: JSON in, JSON out, an exception's class name as the error."""

        def call(event: Any) -> Any:
            try:
                result = handler(json.loads(json.dumps(event)), LAMBDA_CONTEXT)
            except Exception as error:
                cause = json.dumps({"errorMessage": str(error), "errorType": type(error).__name__})
                raise asl_walk.TaskFailed(type(error).__name__, cause) from error
            return json.loads(json.dumps(result))

        return call

    def configure(self, **env: str) -> None:
        import os

        os.environ.update(env)
        self._settings.get_settings.cache_clear()

    def clear_config_cache(self) -> None:
        self._config_store.clear_cache()

    def run(
        self, request: dict[str, Any], bedrock: str | None, *, record_times_out: bool = False
    ) -> tuple[asl_walk.Walk, str]:
        """One execution; ``bedrock`` is "ok", "error" (refused: did not run), "unknown" (a 500: may
        have run) or None (no model call expected). ``record_times_out``: the Record task times out
        before its function runs (States.Timeout), so the state machine's RecordFallback takes over."""
        if bedrock == "ok":
            self.stubber.add_response("converse", converse_response())
        elif bedrock == "error":
            self.stubber.add_client_error(
                "converse", "ValidationException", "The model rejected the request.", http_status_code=400
            )
        elif bedrock == "unknown":
            self.stubber.add_client_error(
                "converse", "InternalServerException", "An internal error occurred.", http_status_code=500
            )
        tasks = dict(self.tasks)
        if record_times_out:

            def timed_out(event: Any) -> Any:
                raise asl_walk.TaskFailed("States.Timeout", "The Record task timed out.")

            tasks["record_metrics_function_arn"] = timed_out
        with _captured_output() as out:
            result = asl_walk.walk(
                self.definition,
                tasks,
                request,
                execution_id=f"arn:aws:states:us-east-1:000000000000:execution:tollgate:{uuid.uuid4()}",
            )
        self.stubber.assert_no_pending_responses()
        return result, out.getvalue()


def create_table(client: Any, table: str) -> None:
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def put_limit(client: Any, table: str, limit_id: str, scope: dict[str, str], unit: str, ceiling: int) -> None:
    client.put_item(
        TableName=table,
        Item={
            "pk": {"S": "LIMIT"},
            "sk": {"S": limit_id},
            "scope": {"M": {k: {"S": v} for k, v in scope.items()}},
            "window": {"S": "month"},
            "unit": {"S": unit},
            "limit": {"N": str(ceiling)},
            "enforce": {"BOOL": True},
        },
    )


def put_routes(client: Any, table: str) -> None:
    """The article's aliases as ROUTE items, as the LocalStack example deploys them (the default
    catalogue no longer routes them)."""
    from .ddb import article_models

    for alias, model_id in article_models().items():
        client.put_item(
            TableName=table,
            Item={
                "pk": {"S": "ROUTE"},
                "sk": {"S": alias},
                "kind": {"S": "model"},
                "modelId": {"S": model_id},
                "baseModelId": {"S": model_id},
            },
        )


def scenario(outcome: str, base: dict[str, Any], replay_id: str) -> tuple[dict[str, Any], str | None]:
    """The request and the model's answer that lead to ``outcome``."""
    request = copy.deepcopy(base)
    if outcome == "unknown":
        return request, "unknown"
    if outcome == "invalid":
        del request["tags"]["applicationId"]
        return request, None
    if outcome == "denied":
        request["tags"]["applicationId"] = "bench-denied"
        return request, None
    if outcome == "failed":
        return request, "error"
    if outcome == "replay":
        request["requestId"] = replay_id
        return request, None
    return request, "ok"


EXPECTED_END = {
    "succeeded": "Succeeded",
    "denied": "Denied",
    "invalid": "Invalid",
    "failed": "Failed",
    "replay": "Succeeded",
    "unknown": "Failed",
    "record_fallback": "FallbackSucceeded",
}


def measure(
    endpoint: str | None, base_request: dict[str, Any], *, sink: str, cache_seconds: int
) -> dict[str, OutcomeCalls]:
    """Calls per outcome with one metrics sink and config cache setting, each on a warm container
    (with ``cache_seconds`` = 0 every request reads the limits and routes again)."""
    table = f"tollgate-bench-p2-{uuid.uuid4().hex[:8]}"
    pipeline = Pipeline(table, endpoint)
    pipeline.configure(
        TOLLGATE_METRICS_SINK=sink,
        TOLLGATE_CONFIG_CACHE_SECONDS=str(cache_seconds),
        POWERTOOLS_METRICS_NAMESPACE=NAMESPACE,
    )
    client = pipeline.dynamodb
    create_table(client, table)
    try:
        put_routes(client, table)
        put_limit(client, table, "org/monthly-requests", {}, "requests", 10**9)
        put_limit(client, table, "bench-denied/one", {"applicationId": "bench-denied"}, "requests", 1)
        replay_id = f"bench-replay-{uuid.uuid4().hex[:8]}"
        pipeline.clear_config_cache()
        # Warm-up (not counted): the container's first request, the one request the denied
        # application may make, and the original of the replay.
        pipeline.run(copy.deepcopy(base_request), "ok")
        first_denied = copy.deepcopy(base_request)
        first_denied["tags"]["applicationId"] = "bench-denied"
        pipeline.run(first_denied, "ok")
        original = copy.deepcopy(base_request)
        original["requestId"] = replay_id
        pipeline.run(original, "ok")
        results = {}
        for outcome in OUTCOMES:
            request, bedrock = scenario(outcome, base_request, replay_id)
            pipeline.counter.reset()
            walk, printed = pipeline.run(request, bedrock, record_times_out=outcome == "record_fallback")
            if walk.end != EXPECTED_END[outcome]:
                raise RuntimeError(
                    f"P2: the {outcome} scenario ended in {walk.end}, not {EXPECTED_END[outcome]}"
                )
            c = pipeline.counter
            results[outcome] = OutcomeCalls(
                outcome=outcome,
                ended_in=walk.end,
                states=walk.states,
                transitions=walk.transitions,
                lambda_invocations=walk.lambda_invocations,
                service_integrations=walk.service_calls,
                calls=dict(sorted(c.calls.items())),
                dynamodb_writes=c.count("dynamodb", DYNAMODB_WRITES),
                dynamodb_reads=c.count("dynamodb", DYNAMODB_READS),
                cloudwatch_calls=c.count("cloudwatch"),
                bedrock_calls=c.count("bedrock-runtime"),
                write_units=c.write_units,
                modeled_write_units=c.modeled_write_units,
                read_units=c.read_units,
                unreported_capacity=dict(c.unreported),
                log_bytes=len(printed.encode()),
            )
        return results
    finally:
        client.delete_table(TableName=table)
        pipeline.stubber.deactivate()
