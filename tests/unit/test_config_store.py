import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from conftest import TABLE, put_limit, put_route

from tollgate.config_store import ConfigStore


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


def store(catalogue, clock, client=None, cache_seconds=60):
    return ConfigStore(
        TABLE,
        client or boto3.client("dynamodb"),
        cache_seconds=cache_seconds,
        catalogue=catalogue,
        clock=clock,
    )


def test_without_route_items_the_catalogue_aliases_are_the_routes(table, catalogue, clock):
    routes = store(catalogue, clock).routes()
    assert sorted(routes) == sorted(catalogue.aliases)
    assert routes["nova-micro"].model_id == "amazon.nova-micro-v1:0"


def test_routes_and_limits_are_cached_for_the_configured_time(table, catalogue, clock):
    put_route(table, "a", kind="model", modelId="amazon.nova-lite-v1:0")
    put_limit(table, "l1")
    config = store(catalogue, clock)
    assert sorted(config.routes()) == ["a"]
    assert [limit.id for limit in config.limits()] == ["l1"]
    put_route(table, "b", kind="model", modelId="amazon.nova-micro-v1:0")
    put_limit(table, "l2")
    clock.now += 59
    assert sorted(config.routes()) == ["a"]
    assert [limit.id for limit in config.limits()] == ["l1"]
    clock.now += 1
    assert sorted(config.routes()) == ["a", "b"]
    assert [limit.id for limit in config.limits()] == ["l1", "l2"]


def test_a_broken_limit_item_is_skipped_and_logged(table, catalogue, clock, logs):
    put_limit(table, "good")
    table.put_item(Item={"pk": "LIMIT", "sk": "bad", "window": "fortnight", "unit": "requests", "limit": 1})
    assert [limit.id for limit in store(catalogue, clock).limits()] == ["good"]
    errors = [line for line in logs() if line["level"] == "ERROR"]
    assert errors[0]["limitId"] == "bad"
    assert "window must be one of" in errors[0]["error"]


def test_a_failed_refresh_keeps_the_last_known_configuration(table, catalogue, clock, monkeypatch):
    put_limit(table, "l1")
    client = boto3.client("dynamodb")
    config = store(catalogue, clock, client=client)
    assert [limit.id for limit in config.limits()] == ["l1"]

    def unreachable(**kwargs):
        raise EndpointConnectionError(endpoint_url="http://dynamodb")

    monkeypatch.setattr(client, "query", unreachable)
    clock.now += 3600
    assert [limit.id for limit in config.limits()] == ["l1"]


def test_with_nothing_cached_an_unreachable_table_raises(catalogue, clock):
    client = boto3.client(
        "dynamodb", endpoint_url="http://127.0.0.1:9", config=Config(retries={"total_max_attempts": 1})
    )
    with pytest.raises(EndpointConnectionError):
        store(catalogue, clock, client=client).limits()
