"""What one offering costs per instance-hour, as the cloud's own price source states it.

Parts: HourlyPrice (price, currency, source), PRICE_TTL_SECONDS, price_cache (the adapter's
cache of them).

Prices move slowly (EC2 spot prices change a few times a day at most, on-demand and ECS pay-as-you-go
prices with a published price change), so an adapter keeps each (region, type, zone, market)
answer for PRICE_TTL_SECONDS and a wave of tasks asking for the same offering makes one call. A
failed read is never cached: the next task asks again. Reading a price is never on the critical path
of a replacement (replace/pricing.py reads them once the task is done, and a failure leaves the
price unknown).
"""

from __future__ import annotations

from dataclasses import dataclass

from responder.caching import TTLCache

PRICE_TTL_SECONDS = 3600.0


@dataclass(frozen=True)
class HourlyPrice:
    price: float  # per instance-hour
    currency: str  # ISO 4217: USD on AWS; CNY or USD on Aliyun, as DescribePrice says
    source: str  # the API that said it: DescribePrice, DescribeSpotPriceHistory, GetProducts


def price_cache(adapter) -> TTLCache:
    """The adapter's price cache, made on first use (it lives as long as the adapter)."""
    return adapter.__dict__.setdefault("_price_cache", TTLCache(PRICE_TTL_SECONDS))
