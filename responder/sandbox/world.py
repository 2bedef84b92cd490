"""The real world's names for the sandbox: every AWS region with its zones, every Aliyun region with
its zones, and a realistic ECS instance-type catalogue.

Parts: aws_regions (moto's region and zone list: the names EC2 answers DescribeAvailabilityZones
with), ALIYUN_ZONES (region → zones), ecs_type_catalogue (families × sizes with vCPU / memory /
architecture), world_regions (the scenario regions a `world: true` scenario gains: every region
it does not define itself, without instances or subnets).

A world region lists no `instance_types` on AWS, so moto's own per-zone offerings apply (the EC2
catalogue moto ships, e.g. m5.large and r7i.metal-24xl in us-west-2a); on Aliyun it carries the
catalogue below. The region list follows Alibaba Cloud's "Regions and zones" page
(https://www.alibabacloud.com/help/en/ecs/product-overview/regions-and-zones), zones as ECS names
them (`cn-hangzhou-i`, `ap-southeast-1a`). A region a scenario defines keeps its own data.
"""

from __future__ import annotations

from typing import Any

ALIYUN_ACCOUNT = "1690701234567830"
AWS_ACCOUNT = "123456789012"

ALIYUN_ZONES: dict[str, list[str]] = {
    "cn-qingdao": ["cn-qingdao-b", "cn-qingdao-c"],
    "cn-beijing": [f"cn-beijing-{z}" for z in "acdefghijkl"],
    "cn-zhangjiakou": ["cn-zhangjiakou-a", "cn-zhangjiakou-b", "cn-zhangjiakou-c"],
    "cn-huhehaote": ["cn-huhehaote-a", "cn-huhehaote-b"],
    "cn-wulanchabu": ["cn-wulanchabu-a", "cn-wulanchabu-b", "cn-wulanchabu-c"],
    "cn-hangzhou": [f"cn-hangzhou-{z}" for z in "bghijk"],
    "cn-shanghai": [f"cn-shanghai-{z}" for z in "abefglmn"],
    "cn-nanjing": ["cn-nanjing-a"],
    "cn-fuzhou": ["cn-fuzhou-a"],
    "cn-wuhan-lr": ["cn-wuhan-lr-a"],
    "cn-shenzhen": [f"cn-shenzhen-{z}" for z in "acdef"],
    "cn-heyuan": ["cn-heyuan-a", "cn-heyuan-b"],
    "cn-guangzhou": ["cn-guangzhou-a", "cn-guangzhou-b"],
    "cn-chengdu": ["cn-chengdu-a", "cn-chengdu-b"],
    "cn-hongkong": ["cn-hongkong-b", "cn-hongkong-c", "cn-hongkong-d"],
    "ap-northeast-1": ["ap-northeast-1a", "ap-northeast-1b", "ap-northeast-1c"],
    "ap-northeast-2": ["ap-northeast-2a"],
    "ap-southeast-1": ["ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"],
    "ap-southeast-3": ["ap-southeast-3a", "ap-southeast-3b"],
    "ap-southeast-5": ["ap-southeast-5a", "ap-southeast-5b", "ap-southeast-5c"],
    "ap-southeast-6": ["ap-southeast-6a", "ap-southeast-6b"],
    "ap-southeast-7": ["ap-southeast-7a"],
    "us-east-1": ["us-east-1a", "us-east-1b"],
    "us-west-1": ["us-west-1a", "us-west-1b"],
    "na-south-1": ["na-south-1a"],
    "eu-west-1": ["eu-west-1a", "eu-west-1b"],
    "eu-central-1": ["eu-central-1a", "eu-central-1b", "eu-central-1c"],
    "me-east-1": ["me-east-1a"],
    "me-central-1": ["me-central-1a"],
}

# ECS families as sold today: g = 1:4 vCPU:GiB, c = 1:2, r = 1:8; i/a/y = Intel, AMD, Yitian (arm64).
_FAMILIES = {
    "ecs.g6": 4, "ecs.c6": 2, "ecs.r6": 8, "ecs.g6e": 4, "ecs.c6e": 2, "ecs.r6e": 8,
    "ecs.g7": 4, "ecs.c7": 2, "ecs.r7": 8, "ecs.g7a": 4, "ecs.c7a": 2, "ecs.r7a": 8,
    "ecs.hfg7": 4, "ecs.hfc7": 2, "ecs.hfr7": 8,
    "ecs.g8i": 4, "ecs.c8i": 2, "ecs.r8i": 8, "ecs.g8a": 4, "ecs.c8a": 2, "ecs.r8a": 8,
    "ecs.g8y": 4, "ecs.c8y": 2, "ecs.r8y": 8,
}
_ARM = {"ecs.g8y", "ecs.c8y", "ecs.r8y"}
_SIZES = {"large": 2, "xlarge": 4, "2xlarge": 8, "3xlarge": 12, "4xlarge": 16, "6xlarge": 24, "8xlarge": 32,
          "12xlarge": 48, "16xlarge": 64, "24xlarge": 96, "32xlarge": 128}


def ecs_type_catalogue() -> list[dict[str, Any]]:
    """Scenario `instance_types` entries for every family and size above."""
    return [{"type": f"{family}.{size}", "family": family, "cpu": cpu, "memory_gib": cpu * ratio,
             **({"arch": "arm64"} if family in _ARM else {})}
            for family, ratio in _FAMILIES.items() for size, cpu in _SIZES.items()]


def aws_regions() -> dict[str, list[str]]:
    """Every region moto's EC2 knows, with its zone names."""
    # Lazy: moto loads in about 1.5 s; an Aliyun- or OCI-only sandbox never needs it.
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    return {region: [z.name for z in zones] for region, zones in RegionsAndZonesBackend.zones.items()}


def world_regions(defined: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The regions a `world: true` scenario adds: the regions it does not define, of each cloud it
    defines (a scenario about one cloud stays about that cloud)."""
    have = {(r.get("cloud"), r.get("region")) for r in defined}
    clouds = {r.get("cloud") for r in defined}
    account = {cloud: next((str(r["account"]) for r in defined if r.get("cloud") == cloud and r.get("account")), default)
               for cloud, default in (("aliyun", ALIYUN_ACCOUNT), ("aws", AWS_ACCOUNT))}
    added: list[dict[str, Any]] = []
    catalogue = ecs_type_catalogue()
    for region, zones in ALIYUN_ZONES.items():
        if "aliyun" in clouds and ("aliyun", region) not in have:
            added.append({"cloud": "aliyun", "region": region, "account": account["aliyun"], "zones": list(zones),
                          "instance_types": [dict(t) for t in catalogue], "world": True})
    for region, zones in aws_regions().items() if "aws" in clouds else ():
        if ("aws", region) not in have:
            added.append({"cloud": "aws", "region": region, "account": account["aws"], "zones": zones, "world": True})
    return added
