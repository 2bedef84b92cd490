"""The price APIs as the emulators serve them and the adapters read them, through the real SDKs:
ECS DescribePrice's PriceInfo shape and refusals, the Price List API's PriceList of JSON strings
under the shipped IAM policy, the adapters' price cache, the API budget deferring a read (nothing
sent, the price unknown), and the scenario's `prices:` checked when loaded."""

from __future__ import annotations

import json

import boto3
import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aws_fixtures import *  # the emulator, cloud and scenario_dict fixtures
from aws_fixtures import REGION
from botocore.config import Config
from botocore.exceptions import ClientError

from responder.clouds.aliyun import AliyunCloud
from responder.clouds.aws_prices import hourly_from_price_list, on_demand_filters
from responder.errors import Deferred
from responder.model import Market, Offering
from responder.replace.pricing import read_price
from responder.sandbox.scenario import load_scenario
from responder.sandbox.stock import ScenarioError
from tests.aliyun_fixtures import aliyun_emulator, ecs_call, no_proxy_env, sdk_client  # noqa: F401

ALI = "cn-hangzhou"


def test_describe_price_answers_priceinfo_as_ecs_documents_it(aliyun_emulator):  # noqa: F811
    client = sdk_client(aliyun_emulator())
    spot = ecs_call(client, "DescribePrice", ResourceType="instance", InstanceType="ecs.g7.large",
                    ZoneId="cn-hangzhou-i", PriceUnit="Hour", SpotStrategy="SpotAsPriceGo")
    price = spot["PriceInfo"]["Price"]
    assert price == {"OriginalPrice": 0.79, "DiscountPrice": 0.67, "TradePrice": 0.12, "Currency": "CNY"}
    assert spot["PriceInfo"]["Rules"] == {"Rule": []} and spot["RequestId"]
    ondemand = ecs_call(client, "DescribePrice", InstanceType="ecs.g7.large", ZoneId="cn-hangzhou-j")
    assert ondemand["PriceInfo"]["Price"]["TradePrice"] == 0.79
    unlisted = ecs_call(client, "DescribePrice", InstanceType="ecs.g8y.large")  # a rule for every zone
    assert unlisted["PriceInfo"]["Price"]["TradePrice"] == 0.62


@pytest.mark.parametrize("params,code", [
    ({}, "InvalidInstanceType.Missing"),
    ({"InstanceType": "ecs.nope.large"}, "InvalidInstanceType.ValueNotSupported"),
    ({"InstanceType": "ecs.g7.large", "PriceUnit": "Month"}, "InvalidPriceUnit.ValueNotSupported"),
    ({"InstanceType": "ecs.g7.large", "ZoneId": "cn-hangzhou-z"}, "InvalidZoneId.NotFound"),
])
def test_describe_price_refuses_what_it_cannot_price(aliyun_emulator, params, code):  # noqa: F811
    with pytest.raises(ServerException) as refused:
        ecs_call(sdk_client(aliyun_emulator()), "DescribePrice", **params)
    assert refused.value.get_error_code() == code


def test_get_products_answers_price_list_json_strings_the_filters_match(emulator):
    pricing = boto3.client("pricing", region_name="us-east-1", endpoint_url=emulator.endpoint_url,
                           config=Config(retries={"total_max_attempts": 1}))
    answer = pricing.get_products(ServiceCode="AmazonEC2", Filters=on_demand_filters(REGION, "c5.xlarge"),
                                  FormatVersion="aws_v1")
    assert len(answer["PriceList"]) == 1 and isinstance(answer["PriceList"][0], str)
    product = json.loads(answer["PriceList"][0])
    assert product["product"]["attributes"]["instanceType"] == "c5.xlarge"
    assert hourly_from_price_list(answer["PriceList"][0]) == 0.2
    windows = [f if f["Field"] != "operatingSystem" else dict(f, Value="Windows")
               for f in on_demand_filters(REGION, "c5.xlarge")]
    assert pricing.get_products(ServiceCode="AmazonEC2", Filters=windows)["PriceList"] == []  # Linux only
    with pytest.raises(ClientError) as refused:
        pricing.get_products(ServiceCode="AmazonS3")
    assert refused.value.response["Error"]["Code"] == "NotFoundException"


def test_get_products_needs_pricing_get_products_in_the_policy(emulator):
    shipped = emulator.policies.aws
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:*"], "Resource": "*"}]}
    from responder.sandbox.authz_json import JsonPolicy

    emulator.policies.aws = JsonPolicy(document)
    try:
        pricing = boto3.client("pricing", region_name="us-east-1", endpoint_url=emulator.endpoint_url)
        with pytest.raises(ClientError) as refused:
            pricing.get_products(ServiceCode="AmazonEC2")
    finally:
        emulator.policies.aws = shipped
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "pricing:GetProducts" in refused.value.response["Error"]["Message"]


def test_the_adapters_cache_each_price(emulator, cloud, aliyun_emulator):  # noqa: F811
    offering = Offering("m5.large", "us-east-2b", Market.ONDEMAND)
    assert cloud.hourly_price(REGION, offering) == cloud.hourly_price(REGION, offering)
    assert [c["action"] for c in emulator.calls].count("GetProducts") == 1
    ali_emulator = aliyun_emulator()
    ali = AliyunCloud("sandbox-key", "sandbox-secret", endpoint=ali_emulator.endpoint)
    spot = Offering("ecs.g7.large", "cn-hangzhou-j", Market.SPOT)
    assert ali.hourly_price(ALI, spot).price == ali.hourly_price(ALI, spot).price == 0.14
    assert [c["action"] for c in ali_emulator.calls].count("DescribePrice") == 1


class _HoldingGate:
    def before(self, cloud, region, action):
        raise Deferred("ApiBudget", "no token now", action)

    def after(self, cloud, region, action, throttled, code=""):
        return None


def test_a_read_the_api_budget_defers_sends_nothing_and_leaves_the_price_unknown(emulator, cloud):
    cloud.gate = _HoldingGate()
    read = read_price(cloud, REGION, Offering("m5.large", "us-east-2b", Market.SPOT), 123.0)
    assert read.hourly is None and read.unknown == "deferred by the API budget" and read.read_at == 123.0
    assert "DescribeSpotPriceHistory" not in [c["action"] for c in emulator.calls]


@pytest.mark.parametrize("rule,field", [
    ({"type": "m5.large", "price": "cheap"}, "prices[0].price"),
    ({"type": "m5.large", "price": 0.1, "market": "reserved"}, "prices[0].market"),
    ({"price": 0.1}, "prices[0]"),
])
def test_a_bad_price_rule_is_refused_when_the_scenario_loads(scenario_dict, rule, field):
    scenario_dict["prices"] = [rule]
    with pytest.raises(ScenarioError) as refused:
        load_scenario(scenario_dict)
    assert field in str(refused.value)
