"""The scenario's prices, one place for both emulators: what a type costs per hour in a zone and market.

Parts: CURRENCIES (each cloud's default currency), rule_for (the scenario's `prices` rule that
applies), price_of (that rule's price, else a stand-in from the type's size), currency_of,
check_prices (the section's format, for scenario_check).

The section (docs/scenario.md, `prices:`): a list of {type, zone?, market?, price, currency?}
rules; the first that names the type and agrees on zone and market wins (a rule without a zone or
market applies to every zone or market). A type no rule names gets a stand-in that grows with vCPUs
and memory, spot at 30% of on-demand, so every type the catalogue sells has a price, as on the
clouds. Currency: the rule's, else USD on AWS and CNY on Aliyun (the China site's price list; an
international account's DescribePrice answers USD, which a rule can say).
"""

from __future__ import annotations

from typing import Any

from responder.sandbox.stock import ScenarioError

CURRENCIES = {"aws": "USD", "aliyun": "CNY"}
MARKETS = ("spot", "ondemand")


def rule_for(scenario_raw: dict[str, Any], instance_type: str, zone: str | None, market: str) -> dict | None:
    """`zone=None`: a regional price (the AWS price list), which any rule for the type may give."""
    for rule in scenario_raw.get("prices", []) or []:
        if rule.get("type") != instance_type or rule.get("market", market) != market:
            continue
        if zone is None or rule.get("zone", zone) == zone:
            return rule
    return None


def price_of(scenario_raw: dict[str, Any], cpu: int, mib: int, instance_type: str, zone: str | None,
             market: str) -> float:
    rule = rule_for(scenario_raw, instance_type, zone, market)
    if rule is not None:
        return float(rule["price"])
    ondemand = round(0.04 * cpu + 0.005 * mib / 1024, 4)
    return round(ondemand * 0.3, 4) if market == "spot" else ondemand


def currency_of(scenario_raw: dict[str, Any], cloud: str, instance_type: str, zone: str | None, market: str) -> str:
    rule = rule_for(scenario_raw, instance_type, zone, market)
    return str((rule or {}).get("currency") or CURRENCIES[cloud])


def check_prices(prices: Any) -> None:
    """Raise ScenarioError naming the first rule an emulator could not use."""
    if prices is None:
        return
    if not isinstance(prices, list):
        raise ScenarioError(f"prices: must be a list of rules, not {prices!r}")
    for i, rule in enumerate(prices):
        where = f"prices[{i}]"
        if not isinstance(rule, dict) or not rule.get("type"):
            raise ScenarioError(f"{where}: a price rule is a mapping with a 'type'")
        try:
            price = float(rule.get("price"))
        except (TypeError, ValueError):
            raise ScenarioError(f"{where}.price: must be a number, not {rule.get('price')!r}") from None
        if price < 0:
            raise ScenarioError(f"{where}.price: must not be negative, not {price}")
        if rule.get("market", "spot") not in MARKETS:
            raise ScenarioError(f"{where}.market: must be spot or ondemand, not {rule['market']!r}")
