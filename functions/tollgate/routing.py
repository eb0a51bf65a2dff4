"""Routes: the names a request puts in ``model`` and what Converse is called with for each.

Routes are ROUTE items in the table (Terraform writes them). A table with no ROUTE item at all
falls back to the catalogue's aliases, so a bare deployment (or a test) still serves the defaults.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from tollgate.catalogue import Catalogue, as_decimal

KIND_MODEL = "model"
KIND_APPLICATION_PROFILE = "application_profile"


@dataclass(frozen=True)
class Route:
    name: str
    kind: str
    model_id: str
    base_model_id: str
    base_route: str | None = None
    input_usd_per_1k: Decimal | None = None
    output_usd_per_1k: Decimal | None = None
    max_tokens: int | None = None
    default_max_tokens: int | None = None
    cache_read_usd_per_1k: Decimal | None = None
    cache_write_usd_per_1k: Decimal | None = None
    # A base model ID called directly: the routes to that model whose caps and prices it takes.
    terms_from: tuple[Route, ...] = ()


@dataclass(frozen=True)
class ResolvedRoute:
    """A route with the catalogue's defaults filled in: everything validate puts in the context."""

    name: str
    kind: str
    model_id: str
    model_metric: str
    base_model_id: str
    base_route: str | None
    family: str
    input_usd_per_1k: Decimal | None
    output_usd_per_1k: Decimal | None
    max_tokens: int
    default_max_tokens: int
    cache_read_usd_per_1k: Decimal | None = None
    cache_write_usd_per_1k: Decimal | None = None
    exclusive_parameters: tuple[tuple[str, ...], ...] = ()

    @property
    def priced(self) -> bool:
        return self.input_usd_per_1k is not None and self.output_usd_per_1k is not None


def model_metric(kind: str, model_id: str) -> str:
    """The name under which AWS/Bedrock metrics for a call appear: an application profile's unique
    ID (the last segment of its ARN), else the model ID."""
    if kind == KIND_APPLICATION_PROFILE:
        return model_id.rsplit("/", 1)[-1]
    return model_id


def route_from_item(item: Mapping) -> Route:
    model_id = str(item["modelId"])
    return Route(
        name=str(item["sk"]),
        kind=str(item.get("kind") or KIND_MODEL),
        model_id=model_id,
        base_model_id=str(item.get("baseModelId") or model_id),
        base_route=item.get("baseRoute") or None,
        input_usd_per_1k=as_decimal(item.get("inputUsdPer1k")),
        output_usd_per_1k=as_decimal(item.get("outputUsdPer1k")),
        max_tokens=_optional_int(item.get("maxTokens")),
        default_max_tokens=_optional_int(item.get("defaultMaxTokens")),
        cache_read_usd_per_1k=as_decimal(item.get("cacheReadUsdPer1k")),
        cache_write_usd_per_1k=as_decimal(item.get("cacheWriteUsdPer1k")),
    )


def default_routes(catalogue: Catalogue) -> dict[str, Route]:
    return {
        alias: Route(name=alias, kind=KIND_MODEL, model_id=model_id, base_model_id=model_id)
        for alias, model_id in catalogue.aliases.items()
    }


def routes_from_items(items: Iterable[Mapping], catalogue: Catalogue) -> dict[str, Route]:
    routes = {route.name: route for route in map(route_from_item, items)}
    return routes or default_routes(catalogue)


def find_route(model: str, routes: Mapping[str, Route], *, allow_direct_model_ids: bool) -> Route | None:
    """The route for a request's ``model``: a route name, or (when allowed) a full model ID/ARN that
    is some route's ``modelId`` or ``baseModelId``."""
    if model in routes:
        return routes[model]
    if not allow_direct_model_ids:
        return None
    for route in sorted(routes.values(), key=lambda r: r.name):
        if route.model_id == model:
            return route
    reaching = sorted(
        (r for r in routes.values() if r.base_model_id == model), key=lambda r: (r.kind != KIND_MODEL, r.name)
    )
    if not reaching:
        return None
    # The model behind profiles, called directly: its own route with the strictest terms of the
    # routes that reach it (resolve), and limits scoped to the alias the first one copies from
    # still apply through baseRoute.
    first = reaching[0]
    return Route(
        name=model,
        kind=KIND_MODEL,
        model_id=model,
        base_model_id=model,
        base_route=first.base_route or (first.name if first.kind == KIND_MODEL else None),
        terms_from=tuple(reaching),
    )


def resolve(route: Route, catalogue: Catalogue) -> ResolvedRoute:
    """A route with the catalogue's defaults filled in; a base model ID called directly takes the
    strictest terms of the routes that reach it: the lowest max_tokens cap and default, and the
    highest of each price, so no route's cap or price is escaped by naming the model instead."""
    own = _resolve_one(route, catalogue)
    if not route.terms_from:
        return own
    terms = [_resolve_one(r, catalogue) for r in route.terms_from]
    return replace(
        own,
        input_usd_per_1k=_highest(t.input_usd_per_1k for t in terms),
        output_usd_per_1k=_highest(t.output_usd_per_1k for t in terms),
        # A route without a cache price prices cache tokens as input tokens.
        cache_read_usd_per_1k=_highest(_or(t.cache_read_usd_per_1k, t.input_usd_per_1k) for t in terms),
        cache_write_usd_per_1k=_highest(_or(t.cache_write_usd_per_1k, t.input_usd_per_1k) for t in terms),
        max_tokens=min(t.max_tokens for t in terms),
        default_max_tokens=min(t.default_max_tokens for t in terms),
    )


def _highest(prices: Iterable[Decimal | None]) -> Decimal | None:
    known = [p for p in prices if p is not None]
    return max(known) if known else None


def _or(price: Decimal | None, fallback: Decimal | None) -> Decimal | None:
    return fallback if price is None else price


def _resolve_one(route: Route, catalogue: Catalogue) -> ResolvedRoute:
    info = catalogue.model(route.base_model_id)
    max_tokens = route.max_tokens or info.max_tokens
    return ResolvedRoute(
        name=route.name,
        kind=route.kind,
        model_id=route.model_id,
        model_metric=model_metric(route.kind, route.model_id),
        base_model_id=route.base_model_id,
        base_route=route.base_route,
        family=info.family,
        input_usd_per_1k=route.input_usd_per_1k
        if route.input_usd_per_1k is not None
        else info.input_usd_per_1k,
        output_usd_per_1k=(
            route.output_usd_per_1k if route.output_usd_per_1k is not None else info.output_usd_per_1k
        ),
        max_tokens=max_tokens,
        default_max_tokens=min(route.default_max_tokens or info.default_max_tokens, max_tokens),
        cache_read_usd_per_1k=_cache_price(route, route.cache_read_usd_per_1k, info.cache_read_usd_per_1k),
        cache_write_usd_per_1k=_cache_price(route, route.cache_write_usd_per_1k, info.cache_write_usd_per_1k),
        exclusive_parameters=info.exclusive_parameters,
    )


def _cache_price(route: Route, own: Decimal | None, catalogue_price: Decimal | None) -> Decimal | None:
    """A route's cache price: its own; else the catalogue's, unless the route overrides the input
    price (a contract price the catalogue's cache price would not match); else the input price."""
    if own is not None:
        return own
    if route.input_usd_per_1k is None and catalogue_price is not None:
        return catalogue_price
    return route.input_usd_per_1k  # None: priced as whatever input price the route resolves to


def _optional_int(value) -> int | None:
    return None if value is None else int(value)
