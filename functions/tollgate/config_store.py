"""Routes and limits read from the table, cached per container for TOLLGATE_CONFIG_CACHE_SECONDS.

A change to a route or a limit (``terraform apply``, or an item written by hand) reaches every
function within that time, with no code deploy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from tollgate.applications import ITEM_KIND, Registry, registry_from_items
from tollgate.catalogue import Catalogue
from tollgate.limits import Limit, LimitConfigError, limit_from_item
from tollgate.observability import logger
from tollgate.routing import Route, routes_from_items

_deserializer = TypeDeserializer()
_cache: dict[tuple[str, str], tuple[float, Any]] = {}


def clear_cache() -> None:
    _cache.clear()


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


class ConfigStore:
    def __init__(
        self,
        table_name: str,
        client: Any,
        *,
        cache_seconds: int,
        catalogue: Catalogue,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table_name = table_name
        self.client = client
        self.cache_seconds = cache_seconds
        self.catalogue = catalogue
        self.clock = clock

    def routes(self) -> dict[str, Route]:
        """The ROUTE items by name, or the catalogue's aliases when the table holds none."""
        return self._cached("ROUTE", lambda items: routes_from_items(items, self.catalogue))

    def limits(self) -> list[Limit]:
        return self._cached("LIMIT", _limits_from_items)

    def applications(self) -> Registry:
        """The application registry by applicationId; empty and false when the table holds no
        APPLICATION items (the registry is off)."""
        return self._cached(ITEM_KIND, registry_from_items)

    def _cached(self, pk: str, build: Callable[[list[dict[str, Any]]], Any]) -> Any:
        key = (self.table_name, pk)
        cached = _cache.get(key)
        now = self.clock()
        if cached and now - cached[0] < self.cache_seconds:
            return cached[1]
        try:
            value = build(self._query(pk))
        except (BotoCoreError, ClientError) as error:
            if cached is None:
                raise
            # Stale configuration beats none: the admission decision still uses the last known limits.
            logger.warning(
                "Could not refresh configuration from the table; using the cached copy",
                extra={"itemKind": pk, "ageSeconds": round(now - cached[0]), "error": str(error)},
            )
            return cached[1]
        _cache[key] = (now, value)
        return value

    def _query(self, pk: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
        }
        while True:
            page = self.client.query(**arguments)
            items.extend(deserialize(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _limits_from_items(items: list[dict[str, Any]]) -> list[Limit]:
    limits = []
    for item in items:
        try:
            limits.append(limit_from_item(item))
        except LimitConfigError as error:
            # One broken item must not stop all traffic; the ERROR line is there to alarm on.
            logger.error(
                "Ignoring a limit that cannot be used", extra={"limitId": item.get("sk"), "error": str(error)}
            )
    return limits
