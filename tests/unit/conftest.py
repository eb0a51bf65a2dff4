"""Shared fixtures: fake AWS credentials, a moto table, fresh caches and metrics for every test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from tollgate import clients, config_store, settings
from tollgate.catalogue import load_catalogue
from tollgate.observability import emf_metrics

TABLE = "tollgate-test"
NAMESPACE = "GenAIRateLimiting"


ARTICLE_REQUEST = Path(__file__).resolve().parents[2] / "examples" / "requests" / "article.json"


def article_request() -> dict[str, Any]:
    """The example request from the article, exactly as DESIGN.md gives it."""
    return json.loads(ARTICLE_REQUEST.read_text(encoding="utf-8"))


ARTICLE_ROUTING = Path(__file__).resolve().parents[2] / "examples" / "routing" / "article.json"


def article_models() -> dict[str, str]:
    """The article's six aliases -> model ID (examples/routing/article.json)."""
    data = json.loads(ARTICLE_ROUTING.read_text(encoding="utf-8"))
    return {alias: m["model_id"] for alias, m in data["models"].items()}


def article_routes() -> dict[str, Any]:
    """The article's routing as routes (what the LocalStack example deploys besides the defaults)."""
    from tollgate.routing import KIND_MODEL, Route

    return {
        alias: Route(name=alias, kind=KIND_MODEL, model_id=model_id, base_model_id=model_id)
        for alias, model_id in article_models().items()
    }


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("TOLLGATE_TABLE_NAME", TABLE)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tollgate")
    settings.get_settings.cache_clear()
    clients.reset()
    config_store.clear_cache()
    emf_metrics(NAMESPACE).clear_metrics()
    yield
    emf_metrics(NAMESPACE).clear_metrics()


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def table(aws: None) -> Any:
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "lease", "AttributeType": "S"},
            {"AttributeName": "leaseExpiresAt", "AttributeType": "N"},
        ],
        # As main.tf builds it: the sparse index of open leases.
        GlobalSecondaryIndexes=[
            {
                "IndexName": "leases",
                "KeySchema": [
                    {"AttributeName": "lease", "KeyType": "HASH"},
                    {"AttributeName": "leaseExpiresAt", "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": ["requestId", "applicationId", "executionId", "state"],
                },
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
    )
    return boto3.resource("dynamodb").Table(TABLE)


@pytest.fixture
def article_routing(table: Any) -> None:
    """The article's six routes as ROUTE items, as the LocalStack example deploys them."""
    for name, route in article_routes().items():
        put_route(table, name, kind="model", modelId=route.model_id, baseModelId=route.base_model_id)


def put_limit(
    table: Any,
    limit_id: str,
    *,
    scope=None,
    window="day",
    unit="requests",
    limit=10,
    enforce=True,
    shards: int | None = None,
):
    table.put_item(
        Item={
            "pk": "LIMIT",
            "sk": limit_id,
            "scope": scope or {},
            "window": window,
            "unit": unit,
            "limit": Decimal(str(limit)),
            "enforce": enforce,
            **({} if shards is None else {"shards": shards}),
        }
    )


def put_route(table: Any, name: str, **attributes: Any) -> None:
    table.put_item(Item={"pk": "ROUTE", "sk": name, **attributes})


def counters(table: Any) -> dict[str, dict[str, Any]]:
    """Every COUNTER item, by limit ID and sort key."""
    items = table.scan()["Items"]
    return {f"{i['pk'][len('COUNTER#') :]}|{i['sk']}": i for i in items if i["pk"].startswith("COUNTER#")}


def used(table: Any) -> dict[str, Decimal]:
    return {key: item["used"] for key, item in counters(table).items()}


def emf_blobs(output: str) -> list[dict[str, Any]]:
    """The EMF blobs among the printed lines (log lines are JSON too, without ``_aws``)."""
    blobs = []
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("{"):
            document = json.loads(line)
            if "_aws" in document:
                blobs.append(document)
    return blobs


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.fixture
def catalogue():
    return load_catalogue()


@pytest.fixture
def logs() -> Iterator[Any]:
    """The JSON log lines the Powertools logger writes during the test (it holds its own stream)."""
    import io

    from tollgate.observability import logger

    buffer = io.StringIO()
    handler = logger.handlers[0]
    previous = handler.setStream(buffer)

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]

    yield read
    handler.setStream(previous)


def use_env(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    """Set environment variables and have the next handler call parse them again."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    settings.get_settings.cache_clear()


def converse_response(
    text="S3 is durable.", input_tokens=21, output_tokens=9, **usage_extra: int
) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
            **usage_extra,
        },
        "metrics": {"latencyMs": 321},
    }


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """A Stubber on the Bedrock Runtime client that the invoke handler gets from the factory."""
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    monkeypatch.setattr(clients, "bedrock_runtime", lambda read_timeout: client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()
