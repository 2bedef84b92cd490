"""AWS prices for the EC2 adapter: the spot price history for spot, the Price List API for on-demand.

Parts: PRICE_LIST_REGION, on_demand_filters, hourly_from_price_list (one PriceList entry → its
hourly on-demand USD price), AwsPricesMixin.hourly_price and spot_bands (the Spot Instance
Advisor's interruption bands, clouds/spot_bands.py).

Spot: DescribeSpotPriceHistory with StartTime now answers the current Linux/UNIX price per zone
(AwsCapacityMixin.spot_prices). On-demand: the AWS Price List Query API (`pricing` GetProducts,
ServiceCode AmazonEC2), rather than a price table shipped with the code, because it is the vendor's
own figure for the account's region and stays right when AWS changes a price; its endpoints live in
a few regions only ("AWS Price List Query API endpoints": us-east-1, eu-central-1, ap-south-1),
whichever region the instance runs in. Each PriceList entry is a JSON string: product.attributes
and terms.OnDemand.<offer>.priceDimensions.<rate>.{unit: "Hrs", pricePerUnit: {USD}}. The filters
pick the figure a plain Linux instance pays: shared tenancy, no pre-installed software, capacity
status Used (an instance running, not an unused reservation).
"""

from __future__ import annotations

import json
from typing import Any

from responder.clouds.prices import HourlyPrice, price_cache
from responder.clouds.spot_bands import AdvisorDocument
from responder.errors import NotFound
from responder.model import Market, Offering

PRICE_LIST_REGION = "us-east-1"


def on_demand_filters(region: str, instance_type: str) -> list[dict[str, str]]:
    wanted = (("instanceType", instance_type), ("regionCode", region), ("operatingSystem", "Linux"),
              ("tenancy", "Shared"), ("preInstalledSw", "NA"), ("capacitystatus", "Used"))
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in wanted]


def hourly_from_price_list(entry: str) -> float | None:
    """The hourly USD price of one PriceList entry's on-demand terms, or None."""
    product = json.loads(entry)
    for term in (product.get("terms") or {}).get("OnDemand", {}).values():
        for dimension in (term.get("priceDimensions") or {}).values():
            usd = (dimension.get("pricePerUnit") or {}).get("USD")
            if dimension.get("unit") == "Hrs" and usd is not None:
                return float(usd)
    return None


class AwsPricesMixin:
    def _call_on(self, service: str, region: str, operation: str, doing: str, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError  # provided by AwsCloud

    def spot_prices(self, region: str, instance_types: list[str]) -> dict[tuple[str, str], float]:
        raise NotImplementedError  # provided by AwsCapacityMixin

    advisor: AdvisorDocument  # set by AwsCloud

    def spot_bands(self, region: str, instance_types: list[str]) -> dict[tuple[str, str], int]:
        """The Spot Instance Advisor's bands for the region's types, per type (every zone): one
        fetch of its document per process per day (spot_bands.py)."""
        return self.advisor.bands(region, list(instance_types))

    def hourly_price(self, region: str, offering: Offering) -> HourlyPrice:
        market = Market(offering.market)
        key = (region, offering.instance_type, offering.zone, market.value)
        load = (lambda: self._spot_price(region, offering)) if market == Market.SPOT else (
            lambda: self._on_demand_price(region, offering.instance_type))
        return price_cache(self).get_or_load(key, load)

    def _spot_price(self, region: str, offering: Offering) -> HourlyPrice:
        found = self.spot_prices(region, [offering.instance_type]).get((offering.instance_type, offering.zone))
        if found is None:
            raise NotFound("PriceNotFound", f"no spot price history for {offering}", "DescribeSpotPriceHistory")
        return HourlyPrice(found, "USD", "DescribeSpotPriceHistory")

    def _on_demand_price(self, region: str, instance_type: str) -> HourlyPrice:
        doing = f"reading the on-demand price of {instance_type} in {region}"
        answer = self._call_on("pricing", PRICE_LIST_REGION, "get_products", doing, ServiceCode="AmazonEC2",
                               Filters=on_demand_filters(region, instance_type), FormatVersion="aws_v1",
                               MaxResults=10)
        for entry in answer.get("PriceList") or []:
            price = hourly_from_price_list(entry)
            if price is not None:
                return HourlyPrice(price, "USD", "GetProducts")
        raise NotFound("PriceNotFound", f"the price list has no on-demand price for {instance_type} in {region}",
                       "GetProducts")
