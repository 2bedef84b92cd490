"""Aliyun prices for the ECS adapter: DescribePrice (ECS 2014-05-26), one offering at a time.

Parts: AliyunPricesMixin.hourly_price. Mixed into AliyunCloud, which supplies `_call`.

DescribePrice with ResourceType=instance, PriceUnit=Hour and the offering's ZoneId answers the
pay-as-you-go price of one instance; SpotStrategy=SpotAsPriceGo asks the preemptible price of that
zone instead of NoSpot's on-demand one. The answer is PriceInfo.Price {OriginalPrice, DiscountPrice,
TradePrice, Currency} (API reference "DescribePrice", ECS 2014-05-26): TradePrice is what is paid
(the original price less discounts), so it is the one recorded. The price covers the instance with
the default system disk the call assumes; data disks and traffic are not in it.
"""

from __future__ import annotations

from typing import Any

from responder.clouds.prices import HourlyPrice, price_cache
from responder.errors import NotFound
from responder.model import Market, Offering


class AliyunPricesMixin:
    def _call(self, region: str, action: str, doing: str, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError  # provided by AliyunCloud

    def hourly_price(self, region: str, offering: Offering) -> HourlyPrice:
        market = Market(offering.market)
        key = (region, offering.instance_type, offering.zone, market.value)
        return price_cache(self).get_or_load(key, lambda: self._describe_price(region, offering, market))

    def _describe_price(self, region: str, offering: Offering, market: Market) -> HourlyPrice:
        params = {"ResourceType": "instance", "InstanceType": offering.instance_type, "ZoneId": offering.zone,
                  "PriceUnit": "Hour", "Period": 1, "InstanceNetworkType": "vpc",
                  "SpotStrategy": "SpotAsPriceGo" if market == Market.SPOT else "NoSpot"}
        body = self._call(region, "DescribePrice", f"reading the {market.value} price of {offering}", params)
        price = (body.get("PriceInfo") or {}).get("Price") or {}
        if price.get("TradePrice") is None:
            raise NotFound("PriceNotFound", f"no price for {offering} in the answer", "DescribePrice")
        return HourlyPrice(float(price["TradePrice"]), str(price.get("Currency") or "CNY"), "DescribePrice")
