"""The candidate order operators expect: same type same zone, same type other zones of the VPC,
same vCPU/memory other families, same memory more vCPU; architecture must match."""

from __future__ import annotations

from responder.clouds.base import InstanceInfo, InstanceTypeSpec, Subnet
from responder.model import Market
from responder.replace.planner import markets_for, plan_candidates

CATALOG = {s.instance_type: s for s in [
    InstanceTypeSpec("ecs.g7.large", "ecs.g7", 2, 8),
    InstanceTypeSpec("ecs.g6.large", "ecs.g6", 2, 8),
    InstanceTypeSpec("ecs.c7.xlarge", "ecs.c7", 4, 8),
    InstanceTypeSpec("ecs.c7.large", "ecs.c7", 2, 4),
    InstanceTypeSpec("ecs.g8y.large", "ecs.g8y", 2, 8, "ARM"),
]}
SOURCE = InstanceInfo("i-1", "cn-hangzhou", "cn-hangzhou-i", "ecs.g7.large", "Running", True, True, cpu=2,
                      memory_mib=8192, vpc_id="vpc-1", subnet_id="vsw-i")
SUBNETS = [Subnet("vsw-i", "cn-hangzhou-i", "vpc-1"), Subnet("vsw-j", "cn-hangzhou-j", "vpc-1"),
           Subnet("vsw-k", "cn-hangzhou-k", "vpc-other")]
EVERYWHERE = {(t, z) for t in CATALOG for z in ("cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k")}


def order(in_stock, **kw):
    return [(c.instance_type, c.zone, c.tier) for c in plan_candidates(SOURCE, CATALOG, Market.SPOT, in_stock,
                                                                       SUBNETS, **kw)]


def test_full_order_with_stock_everywhere():
    assert order(EVERYWHERE) == [
        ("ecs.g7.large", "cn-hangzhou-i", "same-type-same-zone"),
        ("ecs.g7.large", "cn-hangzhou-j", "same-type-other-zone"),
        ("ecs.g6.large", "cn-hangzhou-i", "same-vcpu-memory-other-family"),
        ("ecs.g6.large", "cn-hangzhou-j", "same-vcpu-memory-other-family"),
        ("ecs.c7.xlarge", "cn-hangzhou-i", "same-memory-more-vcpu"),
        ("ecs.c7.xlarge", "cn-hangzhou-j", "same-memory-more-vcpu"),
    ]


def test_zones_without_a_subnet_in_the_vpc_and_other_architectures_are_never_candidates():
    planned = order(EVERYWHERE)
    assert all(zone != "cn-hangzhou-k" for _, zone, _ in planned)
    assert all(t != "ecs.g8y.large" and t != "ecs.c7.large" for t, _, _ in planned)


def test_sold_out_offerings_are_left_out():
    assert order(EVERYWHERE - {("ecs.g7.large", "cn-hangzhou-i")})[0] == (
        "ecs.g7.large", "cn-hangzhou-j", "same-type-other-zone")


def test_placement_scores_rank_within_a_tier_only():
    planned = order(EVERYWHERE, scores={("ecs.g6.large", "cn-hangzhou-j"): 9, ("ecs.g6.large", "cn-hangzhou-i"): 2})
    assert planned[0][0] == "ecs.g7.large"
    assert planned[2] == ("ecs.g6.large", "cn-hangzhou-j", "same-vcpu-memory-other-family")


def test_market_policies():
    assert markets_for("spot-then-ondemand") == [Market.SPOT, Market.ONDEMAND]
    assert markets_for("spot-only") == [Market.SPOT]
    assert markets_for("ondemand") == [Market.ONDEMAND]


def test_placement_scores_let_another_zone_of_the_same_type_go_first():
    planned = order(EVERYWHERE, scores={("ecs.g7.large", "cn-hangzhou-j"): 9, ("ecs.g7.large", "cn-hangzhou-i"): 1})
    assert planned[:2] == [("ecs.g7.large", "cn-hangzhou-j", "same-type-other-zone"),
                           ("ecs.g7.large", "cn-hangzhou-i", "same-type-same-zone")]
