"""CreateFleet allocation strategies on the emulator, through boto3: Priority is honoured only by
the strategies EC2 documents as reading it, and the adapter launches with one of those.

Parts: fleet (one instant fleet on a fresh template), the strategy rules, the adapter's choice.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from aws_fixtures import *  # noqa: F401,F403
from aws_fixtures import REGION, SPOT_ID, client_for
from responder.clouds.aws_launch import fleet_request
from responder.clouds.base import LaunchRequest
from responder.model import Market, Offering

SUBNET_B = "subnet-0a1b2c3d4e5f60002"
SUBNET_C = "subnet-0a1b2c3d4e5f60003"


@pytest.fixture
def priced(scenario_dict, make_emulator):
    """m5.large is dear and m6i.large cheap, on both markets; every pool has 100 free."""
    scenario_dict["prices"] = [{"type": "m5.large", "price": 0.09}, {"type": "m6i.large", "price": 0.03}]
    return make_emulator(scenario_dict)


def fleet(ec2, overrides, market="spot", count=1, strategy=None):
    image = ec2.describe_instances(InstanceIds=[SPOT_ID])["Reservations"][0]["Instances"][0]["ImageId"]
    template = ec2.create_launch_template(LaunchTemplateName=f"t-{len(overrides)}-{market}-{strategy}-{count}",
                                          LaunchTemplateData={"ImageId": image})["LaunchTemplate"]
    request = {"Type": "instant",
               "TargetCapacitySpecification": {"TotalTargetCapacity": count, "DefaultTargetCapacityType":
                                               "spot" if market == "spot" else "on-demand"},
               "LaunchTemplateConfigs": [{"LaunchTemplateSpecification": {"LaunchTemplateId": template["LaunchTemplateId"],
                                                                          "Version": "$Latest"},
                                          "Overrides": overrides}]}
    if strategy:
        request["SpotOptions" if market == "spot" else "OnDemandOptions"] = {"AllocationStrategy": strategy}
    return ec2.create_fleet(**request)


def launched_types(ec2, answer) -> dict[str, int]:
    out: dict[str, int] = {}
    for group in answer["Instances"]:
        for inst in ec2.describe_instances(InstanceIds=group["InstanceIds"])["Reservations"][0]["Instances"]:
            out[inst["InstanceType"]] = out.get(inst["InstanceType"], 0) + 1
    return out


DEAR_FIRST = [{"InstanceType": "m5.large", "SubnetId": SUBNET_B, "Priority": 0.0},
              {"InstanceType": "m6i.large", "SubnetId": SUBNET_B, "Priority": 1.0}]


def test_price_capacity_optimized_ignores_priority_and_takes_the_cheaper_pool(priced):
    ec2 = client_for(priced)
    answer = fleet(ec2, DEAR_FIRST, strategy="price-capacity-optimized")
    assert launched_types(ec2, answer) == {"m6i.large": 1}


def test_capacity_optimized_prioritized_honours_priority_among_pools_with_room(priced):
    ec2 = client_for(priced)
    answer = fleet(ec2, DEAR_FIRST, strategy="capacity-optimized-prioritized")
    assert launched_types(ec2, answer) == {"m5.large": 1}


def test_capacity_optimized_prioritized_puts_capacity_before_priority(scenario_dict, make_emulator):
    scenario_dict["stock"]["offers"].append({"type": "m5.large", "zone": "us-east-2b", "market": "spot", "available": 1})
    ec2 = client_for(make_emulator(scenario_dict))
    answer = fleet(ec2, DEAR_FIRST, strategy="capacity-optimized-prioritized", count=2)
    assert launched_types(ec2, answer) == {"m6i.large": 2}  # the first choice could not hold both
    assert answer["Errors"] == []


def test_spot_lowest_price_is_the_default_and_ignores_priority(priced):
    ec2 = client_for(priced)
    assert launched_types(ec2, fleet(ec2, DEAR_FIRST)) == {"m6i.large": 1}


def test_capacity_optimized_takes_the_pool_with_the_most_free_capacity(scenario_dict, make_emulator):
    scenario_dict["stock"]["offers"].append({"type": "m6i.large", "zone": "us-east-2b", "market": "spot", "available": 500})
    ec2 = client_for(make_emulator(scenario_dict))
    answer = fleet(ec2, DEAR_FIRST, strategy="capacity-optimized")
    assert launched_types(ec2, answer) == {"m6i.large": 1}


def test_diversified_spreads_the_target_across_the_pools(priced):
    ec2 = client_for(priced)
    overrides = DEAR_FIRST + [{"InstanceType": "m7i.large", "SubnetId": SUBNET_C}]
    answer = fleet(ec2, overrides, strategy="diversified", count=3)
    assert launched_types(ec2, answer) == {"m5.large": 1, "m6i.large": 1, "m7i.large": 1}


def test_on_demand_prioritized_follows_priority_and_an_unset_priority_comes_last(priced):
    ec2 = client_for(priced)
    overrides = [{"InstanceType": "m7i.large", "SubnetId": SUBNET_C},
                 {"InstanceType": "m6i.large", "SubnetId": SUBNET_B, "Priority": 5.0},
                 {"InstanceType": "m5.large", "SubnetId": SUBNET_B, "Priority": 1.0}]
    answer = fleet(ec2, overrides, market="ondemand", strategy="prioritized")
    assert launched_types(ec2, answer) == {"m5.large": 1}


def test_on_demand_lowest_price_is_the_default_and_ignores_priority(priced):
    ec2 = client_for(priced)
    answer = fleet(ec2, DEAR_FIRST, market="ondemand")
    assert launched_types(ec2, answer) == {"m6i.large": 1}


def test_an_unknown_allocation_strategy_is_refused_and_launches_nothing(priced):
    ec2 = client_for(priced)
    with pytest.raises(ClientError) as refused:
        fleet(ec2, DEAR_FIRST, strategy="cheapest-please")
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "cheapest-please" in refused.value.response["Error"]["Message"]
    assert priced.stock.available("m6i.large", "us-east-2b", "spot") == 100


def _launch_request(cloud, offerings):
    source = cloud.describe_instance(REGION, SPOT_ID)
    subnets = {s.zone: s.subnet_id for s in cloud.subnets(REGION, source.vpc_id)}
    return LaunchRequest(source=source, image_id=source.image_id, offerings=tuple(offerings),
                         subnet_by_zone=tuple(subnets.items()), client_token="rank-1", count=1)


def test_the_adapter_sends_a_ranking_with_the_strategy_that_honours_it_and_the_first_choice_wins(priced):
    from responder.clouds.aws import AwsCloud

    cloud = AwsCloud(endpoint_url=priced.endpoint_url, region_name=REGION)
    ranked = [Offering("m5.large", "us-east-2b", Market.SPOT), Offering("m6i.large", "us-east-2b", Market.SPOT)]
    result = cloud.launch(REGION, _launch_request(cloud, ranked))
    assert result.offering == ranked[0]  # the dearer first choice: the ranking did something
    sent = priced.calls_of("CreateFleet")[-1]["params"]
    assert sent["SpotOptions.AllocationStrategy"] == "capacity-optimized-prioritized"
    assert sent["LaunchTemplateConfigs.1.Overrides.1.Priority"] == "0.0"


def test_without_a_ranking_the_spot_fleet_lets_ec2_weigh_price_and_capacity(priced):
    ec2 = client_for(priced)
    image = ec2.describe_instances(InstanceIds=[SPOT_ID])["Reservations"][0]["Instances"][0]["ImageId"]
    template_id = ec2.create_launch_template(LaunchTemplateName="unranked", LaunchTemplateData={"ImageId": image}
                                             )["LaunchTemplate"]["LaunchTemplateId"]
    offerings = [Offering("m5.large", "us-east-2b", Market.SPOT), Offering("m6i.large", "us-east-2b", Market.SPOT)]
    request = fleet_request(template_id, offerings, {"us-east-2b": SUBNET_B}, Market.SPOT, 1, "unranked-1", ranked=False)
    assert request["SpotOptions"] == {"AllocationStrategy": "price-capacity-optimized"}
    assert all("Priority" not in o for o in request["LaunchTemplateConfigs"][0]["Overrides"])
    assert launched_types(ec2, ec2.create_fleet(**request)) == {"m6i.large": 1}


def test_on_demand_fleets_are_prioritized_with_the_rank_as_priority():
    request = fleet_request("lt-1", [Offering("m5.large", "us-east-2b", Market.ONDEMAND),
                                     Offering("m6i.large", "us-east-2c", Market.ONDEMAND)],
                            {"us-east-2b": SUBNET_B, "us-east-2c": SUBNET_C}, Market.ONDEMAND, 1, "od-1")
    assert request["OnDemandOptions"] == {"AllocationStrategy": "prioritized"}
    assert [o["Priority"] for o in request["LaunchTemplateConfigs"][0]["Overrides"]] == [0.0, 1.0]


def test_spot_prices_read_back_the_prices_the_lowest_price_strategy_weighs(priced):
    from responder.clouds.aws import AwsCloud

    cloud = AwsCloud(endpoint_url=priced.endpoint_url, region_name=REGION)
    prices = cloud.spot_prices(REGION, ["m5.large", "m6i.large"])
    assert prices[("m5.large", "us-east-2b")] == 0.09 and prices[("m6i.large", "us-east-2b")] == 0.03
    assert {t for t, _ in prices} == {"m5.large", "m6i.large"}
    cheapest = min(prices, key=prices.get)[0]
    assert launched_types(client_for(priced), fleet(client_for(priced), DEAR_FIRST)) == {cheapest: 1}
