"""A replacement on Aliyun is a clone: DescribeInstances of the original and of its replacement
agree field by field, but for the fields listed here that differ on purpose. Real SDK, ECS emulator.
And RunInstances refuses what ECS refuses (a key pair, a deployment set that does not exist...)."""

from __future__ import annotations

import pytest
from aliyun_fixtures import VSW_I, aliyun_emulator, ecs_call, no_proxy_env, sdk_client  # noqa: F401
from aliyunsdkcore.acs_exception.exceptions import ServerException

from tests.scenarios import ALIYUN_ZONES, scenario, sold_out
from tests.test_aliyun_flow import run

DOOMED = "i-bp1ecr7pz2yq4v5go2go"
BASE_IMAGE = "m-bp1clonebase0000000"
BURSTABLE = {"type": "ecs.t6-c1m2.large", "family": "ecs.t6", "cpu": 2, "memory_gib": 4}
# The original as aliyun-ops users run it: reached by password, billed by bandwidth, a burstable
# type in unlimited mode, a spot price cap of its own, in a deployment set, a resource group and an
# E-HPC cluster.
CLONED = {"type": BURSTABLE["type"], "key_pair": "", "internet_charge_type": "PayByBandwidth", "bandwidth_out": 7,
          "credit": "Unlimited", "spot_strategy": "SpotWithPriceLimit", "spot_price_limit": 0.052,
          "spot_duration": 0, "spot_interruption": "Stop", "deployment_set": "ds-bp1clone00000000000",
          "resource_group": "rg-aek2clone0000000", "hpc_cluster": "hpc-bp1clone00000000"}

# Fields that differ on purpose: a new instance has its own id, image (made from the original),
# addresses (RESPONDER_KEEP_PRIVATE_IP off), clock, and no release lock; its tags add the
# responder's own (compared apart: the original's are all there).
DIFFER_ON_PURPOSE = {"InstanceId", "ImageId", "CreationTime", "StartTime", "PublicIpAddress.IpAddress",
                     "OperationLocks.LockReason", "VpcAttributes.PrivateIpAddress.IpAddress", "Tags.Tag"}


def _scenario(instance=None, offers=(), **top):
    data = scenario(offers=list(offers), cloud="aliyun", instances={DOOMED: dict(CLONED, **(instance or {}))}, **top)
    region = data["regions"][0]
    region["instance_types"].append(dict(BURSTABLE))
    region["hpc_clusters"] = [{"id": CLONED["hpc_cluster"], "zone": "cn-hangzhou-i"}]
    region["images"] = [BASE_IMAGE]
    return data


def _flatten(value, prefix=""):
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def _tags(row: dict) -> set[tuple[str, str]]:
    return {(t["TagKey"], t["TagValue"]) for t in row["Tags"]["Tag"]}


def _describe(client, instance_id: str) -> dict:
    rows = ecs_call(client, "DescribeInstances", InstanceIds=f'["{instance_id}"]')["Instances"]["Instance"]
    assert len(rows) == 1
    return rows[0]


def test_the_replacement_describes_as_the_original_but_for_what_differs_on_purpose(responder_factory):
    client, runner, box = responder_factory(_scenario())
    task = run(client, runner)
    assert task.status == "done", task.reason
    replacement = task.record.launch.replacement_ids[0]
    ecs = sdk_client(box.emulators["aliyun"])
    original, clone = _flatten(_describe(ecs, DOOMED)), _flatten(_describe(ecs, replacement))
    differing = {k for k in original.keys() | clone.keys() if original.get(k) != clone.get(k)}
    assert differing - DIFFER_ON_PURPOSE == set(), {k: (original.get(k), clone.get(k)) for k in differing}
    assert _tags(_describe(ecs, DOOMED)) <= _tags(_describe(ecs, replacement))
    # what the fields above are, so the test cannot pass on two empty describes
    assert (clone["InternetChargeType"], clone["InternetMaxBandwidthOut"], clone["CreditSpecification"]) == (
        "PayByBandwidth", 7, "Unlimited")
    assert (clone["SpotStrategy"], clone["SpotPriceLimit"], clone["SpotInterruptionBehavior"]) == (
        "SpotWithPriceLimit", 0.052, "Stop")
    assert (clone["DeploymentSetId"], clone["ResourceGroupId"], clone["HpcClusterId"]) == (
        CLONED["deployment_set"], CLONED["resource_group"], CLONED["hpc_cluster"])
    assert clone["PublicIpAddress.IpAddress"] and clone["PublicIpAddress.IpAddress"] != original[
        "PublicIpAddress.IpAddress"]
    # reached by password: the password preset in the image is kept (DescribeInstances does not say it)
    assert box.emulators["aliyun"].world.instances[replacement]["password_inherit"] is True


def test_an_on_demand_fallback_to_another_family_drops_the_credit_mode_and_the_spot_bid(responder_factory):
    # no t6 left on either market, no spot c7: the on-demand c7 of the same memory is the clone
    gone = sold_out([BURSTABLE["type"], "ecs.c7.large"], ALIYUN_ZONES) + sold_out(
        [BURSTABLE["type"]], ALIYUN_ZONES, market="ondemand")
    client, runner, box = responder_factory(_scenario(offers=gone, instance={"hpc_cluster": ""}))
    task = run(client, runner)
    assert task.status == "done", task.reason
    clone = _describe(sdk_client(box.emulators["aliyun"]), task.record.launch.replacement_ids[0])
    assert clone["InstanceType"] == "ecs.c7.large" and clone["CreditSpecification"] == ""
    assert (clone["SpotStrategy"], clone["SpotPriceLimit"]) == ("NoSpot", 0.0)
    assert clone["InternetChargeType"] == "PayByBandwidth" and clone["DeploymentSetId"] == CLONED["deployment_set"]


def test_a_key_pair_of_the_original_is_kept_and_no_password_is_inherited(responder_factory):
    client, runner, box = responder_factory(_scenario(instance={"key_pair": "my-kp"}))
    task = run(client, runner)
    assert task.status == "done", task.reason
    replacement = task.record.launch.replacement_ids[0]
    assert _describe(sdk_client(box.emulators["aliyun"]), replacement)["KeyPairName"] == "my-kp"
    assert box.emulators["aliyun"].world.instances[replacement]["password_inherit"] is False


@pytest.mark.parametrize("params, code, status", [
    ({"KeyPairName": "no-such-kp"}, "InvalidKeyPairName.NotFound", 404),
    ({"DeploymentSetId": "ds-nosuch"}, "InvalidDeploymentSetId.NotFound", 404),
    ({"ResourceGroupId": "rg-nosuch"}, "InvalidResourceGroupId.NotFound", 404),
    ({"HpcClusterId": "hpc-nosuch"}, "InvalidHpcClusterId.NotFound", 404),
    ({"InternetChargeType": "PayByMonth"}, "InvalidInternetChargeType.ValueNotSupported", 400),
    ({"InstanceType": "ecs.g7.large", "CreditSpecification": "Unlimited"}, "InvalidParameter.CreditSpecification", 400),
    ({"PasswordInherit": "true", "Password": "Secret#123"}, "InvalidPasswordParam.Mismatch", 400),
    # the E-HPC cluster is in zone i: a launch into zone j cannot join it
    ({"HpcClusterId": CLONED["hpc_cluster"], "ZoneId": "cn-hangzhou-j", "VSwitchId": "vsw-bp1j4k2lmn7opq3rst5uv"},
     "InvalidHpcClusterId.Unnecessary", 400),
])
def test_run_instances_refuses_what_ecs_refuses_and_launches_nothing(aliyun_emulator, params, code, status):  # noqa: F811
    emulator = aliyun_emulator(_scenario())
    ecs = sdk_client(emulator, key="sandbox-key")
    before = set(emulator.world.instances)
    base = {"ImageId": BASE_IMAGE, "InstanceType": BURSTABLE["type"], "ZoneId": "cn-hangzhou-i", "VSwitchId": VSW_I,
            "ClientToken": "t-" + code}
    with pytest.raises(ServerException) as caught:
        ecs_call(ecs, "RunInstances", **dict(base, **params))
    assert (caught.value.get_error_code(), caught.value.get_http_status()) == (code, status)
    assert set(emulator.world.instances) == before

