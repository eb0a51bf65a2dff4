"""DynamoDB clients and throwaway tables for the figures measured on DynamoDB Local."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tollgate.catalogue import load_catalogue
from tollgate.routing import KIND_MODEL, Route, default_routes
from tollgate.validation import ValidationOptions, validate_request

ROOT = Path(__file__).resolve().parents[2]
ARTICLE_REQUEST = json.loads((ROOT / "examples" / "requests" / "article.json").read_text())
ARTICLE_ROUTING = ROOT / "examples" / "routing" / "article.json"
OPTIONS = ValidationOptions(("dev", "staging", "prod", "production"), 100_000, False)


def client(endpoint: str, *, pool: int = 10, **config: Any) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(
            max_pool_connections=pool, retries={"mode": "standard", "total_max_attempts": 3}, **config
        ),
    )


@contextlib.contextmanager
def table(ddb: Any, prefix: str) -> Iterator[str]:
    name = f"tollgate-bench-{prefix}-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        yield name
    finally:
        ddb.delete_table(TableName=name)


def article_models() -> dict[str, str]:
    """The article's aliases -> model ID: the default catalogue no longer routes them (they are
    Legacy on Bedrock); the LocalStack example deploys them as routes, and so does the bench."""
    data = json.loads(ARTICLE_ROUTING.read_text(encoding="utf-8"))
    return {alias: m["model_id"] for alias, m in data["models"].items()}


def routes() -> dict[str, Route]:
    """The catalogue's aliases and the article's, as the LocalStack example routes them."""
    article = {
        alias: Route(name=alias, kind=KIND_MODEL, model_id=model_id, base_model_id=model_id)
        for alias, model_id in article_models().items()
    }
    return {**default_routes(load_catalogue()), **article}


def request_context(request_id: str, max_tokens: int = 400) -> dict[str, Any]:
    """The context validate builds for the article's request, with its own requestId."""
    request = json.loads(json.dumps(ARTICLE_REQUEST))
    request["prompt"]["parameters"]["max_tokens"] = max_tokens
    request["requestId"] = request_id
    catalogue = load_catalogue()
    result = validate_request(request, routes=routes(), catalogue=catalogue, options=OPTIONS)
    if not result.valid:
        raise RuntimeError(f"the bench's request is invalid: {result.context['errors']}")
    return result.context


def direct_endpoint(localstack_port: int) -> str | None:
    """DynamoDB Local's own endpoint (a random port), found among the children of the LocalStack
    that local/launcher.py started on ``localstack_port``: calls that skip LocalStack's gateway."""
    pid_file = ROOT / ".localstack" / f"run-{localstack_port}" / "localstack.pid"
    try:
        parent = int(json.loads(pid_file.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")), None)
        if ppid != parent or not any(a.endswith(b"DynamoDBLocal.jar") for a in args):
            continue
        if b"-port" in args:
            return f"http://127.0.0.1:{args[args.index(b'-port') + 1].decode()}"
    return None
