"""Cost in USD from token counts and a route's prices (USD per 1,000 tokens).

The default prices are the catalogue's (``data/models.json``: on-demand, dated and sourced there); a
route can override them. Converse reports cache reads and cache writes apart from ``inputTokens``
(``inputTokens`` counts only the tokens neither read from nor written to the cache), and Bedrock
bills each at its own price: cost = input x input price + cache read x cache-read price + cache write
x cache-write price + output x output price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from tollgate.catalogue import as_decimal

# Ten decimal places (a ten-billionth of a dollar) keep every amount exact enough to compare and
# short enough to survive a JSON float round trip unchanged.
USD_QUANTUM = Decimal("1e-10")


@dataclass(frozen=True)
class Prices:
    input_usd_per_1k: Decimal
    output_usd_per_1k: Decimal
    # None: priced as input (a context written before cache prices existed, or a model without them)
    cache_read_usd_per_1k: Decimal | None = None
    cache_write_usd_per_1k: Decimal | None = None

    @classmethod
    def from_payload(cls, prices: dict) -> Prices:
        return cls(
            as_decimal(prices["inputUsdPer1k"]),
            as_decimal(prices["outputUsdPer1k"]),
            as_decimal(prices.get("cacheReadUsdPer1k")),
            as_decimal(prices.get("cacheWriteUsdPer1k")),
        )

    def to_payload(self) -> dict:
        payload = {
            "inputUsdPer1k": float(self.input_usd_per_1k),
            "outputUsdPer1k": float(self.output_usd_per_1k),
        }
        if self.cache_read_usd_per_1k is not None:
            payload["cacheReadUsdPer1k"] = float(self.cache_read_usd_per_1k)
        if self.cache_write_usd_per_1k is not None:
            payload["cacheWriteUsdPer1k"] = float(self.cache_write_usd_per_1k)
        return payload

    def cost_usd(
        self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0, cache_write_tokens: int = 0
    ) -> Decimal:
        cache_read, cache_write = (
            self.input_usd_per_1k if price is None else price
            for price in (self.cache_read_usd_per_1k, self.cache_write_usd_per_1k)
        )
        cost = (
            self.input_usd_per_1k * input_tokens
            + cache_read * cache_read_tokens
            + cache_write * cache_write_tokens
            + self.output_usd_per_1k * output_tokens
        ) / 1000
        # Rounded up, so a reservation never under-counts by a rounding step.
        return cost.quantize(USD_QUANTUM, rounding=ROUND_CEILING).normalize()
