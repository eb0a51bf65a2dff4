"""The model catalogue (``data/models.json``): default aliases, families, prices, output ceilings.

Terraform reads the same file for its default ``models`` variable, so there is one price table.
Numbers are read as ``Decimal`` so prices keep their exact decimal value.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Catalogue:
    aliases: dict[str, str]
    models: dict[str, dict]
    families: dict[str, dict]
    prices_as_of: str

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
    )
