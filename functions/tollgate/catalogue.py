"""The model catalogue (``data/models.json``): default aliases, families, lifecycles, prices
(input, output, cache read, cache write), output ceilings and per-family parameter rules.

Terraform reads the same file for its default ``models`` variable and its lifecycle check, so there
is one table. Numbers are read as ``Decimal`` so prices keep their exact decimal value.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

CATALOGUE_PATH = Path(__file__).parent / "data" / "models.json"

# System (cross-region) inference profiles bill as the model behind them: "us.anthropic..." -> "anthropic..."
_GEO_PREFIX = re.compile(r"^(us|eu|apac|global|us-gov|ca|jp|au)\.")

FALLBACK_MAX_TOKENS = 4096
FALLBACK_DEFAULT_MAX_TOKENS = 1024


@dataclass(frozen=True)
class ModelInfo:
    family: str
    input_usd_per_1k: Decimal | None
    output_usd_per_1k: Decimal | None
    max_tokens: int
    default_max_tokens: int
    cache_read_usd_per_1k: Decimal | None = None
    cache_write_usd_per_1k: Decimal | None = None
    lifecycle: str | None = None  # ACTIVE | LEGACY (AWS's modelLifecycle status); None: not checked
    eol_date: str | None = None  # YYYY-MM-DD
    exclusive_parameters: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Catalogue:
    aliases: dict[str, str]
    models: dict[str, dict]
    families: dict[str, dict]
    prices_as_of: str
    parameter_rules: dict[str, dict] = field(default_factory=dict)
    checked_on: str = ""

    def model(self, model_id: str) -> ModelInfo:
        """What the catalogue knows of ``model_id``; unknown models get their provider's family
        and no price (a route must then set one)."""
        entry = self.models.get(model_id) or self.models.get(strip_geo_prefix(model_id)) or {}
        return ModelInfo(
            family=entry.get("family") or family_of(model_id),
            input_usd_per_1k=as_decimal(entry.get("inputUsdPer1k")),
            output_usd_per_1k=as_decimal(entry.get("outputUsdPer1k")),
            max_tokens=int(entry.get("maxTokens") or FALLBACK_MAX_TOKENS),
            default_max_tokens=int(entry.get("defaultMaxTokens") or FALLBACK_DEFAULT_MAX_TOKENS),
            cache_read_usd_per_1k=as_decimal(entry.get("cacheReadUsdPer1k")),
            cache_write_usd_per_1k=as_decimal(entry.get("cacheWriteUsdPer1k")),
            lifecycle=entry.get("lifecycle"),
            eol_date=entry.get("eolDate"),
            exclusive_parameters=tuple(
                tuple(group)
                for rule in entry.get("parameterRules") or ()
                for group in (self.parameter_rules.get(rule) or {}).get("exclusive") or ()
            ),
        )

    def top_k_path(self, family: str) -> str | None:
        """Where ``top_k`` goes in ``additionalModelRequestFields`` for ``family`` (dotted), or None."""
        return (self.families.get(family) or {}).get("topK")


def as_decimal(value) -> Decimal | None:
    """A JSON or DynamoDB number as an exact Decimal (floats go through their shortest repr)."""
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def strip_geo_prefix(model_id: str) -> str:
    return _GEO_PREFIX.sub("", model_id, count=1)


def family_of(model_id: str) -> str:
    """A model ID's provider family: ``anthropic.claude...`` -> anthropic, ``amazon.nova-...`` -> nova."""
    bare = strip_geo_prefix(model_id.rsplit("/", 1)[-1])
    provider, _, name = bare.partition(".")
    if provider == "amazon" and name.startswith("nova"):
        return "nova"
    return provider


@functools.cache
def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    return Catalogue(
        aliases=dict(data["aliases"]),
        models=dict(data["models"]),
        families=dict(data["families"]),
        prices_as_of=str(data.get("pricesAsOf", "")),
        parameter_rules=dict(data.get("parameterRules") or {}),
        checked_on=str(data.get("checkedOn", "")),
    )


def exclusive_parameter_problems(
    parameters: dict, exclusive: tuple[tuple[str, ...], ...], route_name: str, model_id: str
) -> list[tuple[str, str]]:
    """(field, message) for each group of parameters the model accepts only one of, when a request
    sets more than one: Bedrock would answer it with a 400 at invoke time."""
    problems = []
    for group in exclusive:
        given = [name for name in group if parameters.get(name) is not None]
        if len(given) > 1:
            names = " and ".join(given)
            problems.append(
                (
                    f"prompt.parameters.{given[-1]}",
                    f"Model '{route_name}' ({model_id}) accepts only one of {names}, not both: "
                    f"send {given[0]} or {given[-1]} alone (Bedrock rejects the pair for this model).",
                )
            )
    return problems
