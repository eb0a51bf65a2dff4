"""Cost in USD from token counts and a route's prices (USD per 1,000 tokens).

The default prices are the catalogue's (``data/models.json``: on-demand, US regions, from the Amazon
Bedrock pricing page, dated there); a route can override them.
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

    @classmethod
    def from_payload(cls, prices: dict) -> Prices:
        return cls(as_decimal(prices["inputUsdPer1k"]), as_decimal(prices["outputUsdPer1k"]))

    def to_payload(self) -> dict:
        return {
            "inputUsdPer1k": float(self.input_usd_per_1k),
            "outputUsdPer1k": float(self.output_usd_per_1k),
        }

    def cost_usd(self, input_tokens: int, output_tokens: int) -> Decimal:
        cost = (self.input_usd_per_1k * input_tokens + self.output_usd_per_1k * output_tokens) / 1000
        # Rounded up, so a reservation never under-counts by a rounding step.
        return cost.quantize(USD_QUANTUM, rounding=ROUND_CEILING).normalize()
