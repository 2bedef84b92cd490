"""The Aliyun ECS emulator, exercised at the wire with the real aliyunsdkcore client."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.request import CommonRequest
from aliyunsdkecs.request.v20140526.DescribeInstancesRequest import DescribeInstancesRequest

from aliyun_fixtures import (  # noqa: F401  (fixtures are used by name)
    DOOMED, REGION, VSW_I, VSW_J, aliyun_emulator, ecs_call, no_proxy_env, sdk_client, small_scenario,
)


call = ecs_call


def error_of(client, action: str, **params) -> ServerException:
    with pytest.raises(ServerException) as info:
        call(client, action, **params)
    return info.value


def test_describe_instances_returns_the_recycling_lock_and_memory_in_mib(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    body = call(sdk_client(emu), "DescribeInstances", InstanceIds=json.dumps([DOOMED]))
    inst = body["Instances"]["Instance"][0]
    assert body["TotalCount"] == 1 and body["RequestId"]
    assert inst["OperationLocks"]["LockReason"][0]["LockReason"] == "Recycling"
    assert inst["Memory"] == 8192 and inst["SpotStrategy"] == "SpotAsPriceGo"
    assert inst["VpcAttributes"]["VpcId"] == "vpc-bp171csbkbnjhg1bj3npw"
    assert inst["SecurityGroupIds"]["SecurityGroupId"] == ["sg-bp16q7p8yafqaure63n4"]
    assert inst["Tags"]["Tag"] == [{"TagKey": "app", "TagValue": "batch"}]
    assert inst["PublicIpAddress"]["IpAddress"] == ["47.96.10.20"] and inst["InternetMaxBandwidthOut"] == 5


def test_unknown_instance_ids_give_an_empty_list_not_an_error(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    body = call(sdk_client(emu), "DescribeInstances", InstanceIds=json.dumps(["i-nope"]))
    assert body["Instances"]["Instance"] == [] and body["TotalCount"] == 0


def test_a_wrong_secret_is_rejected_as_the_real_api_does(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    with pytest.raises(ServerException) as info:
        sdk_client(emu, secret="not-the-secret").do_action_with_exception(DescribeInstancesRequest())
    # The server says SignatureDoesNotMatch; a typed SDK request recognises its own string-to-sign
    # in the message and renames the error (a CommonRequest keeps SignatureDoesNotMatch).
    assert info.value.get_http_status() == 400
    assert info.value.get_error_code() == "InvalidAccessKeySecret"
    assert emu.calls[-1]["code"] == "SignatureDoesNotMatch"


def test_an_unknown_access_key_is_404_not_found(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    err = error_of(sdk_client(emu, key="someone-else"), "DescribeInstances")
    assert (err.get_http_status(), err.get_error_code()) == (404, "InvalidAccessKeyId.NotFound")


def test_a_tampered_request_fails_the_signature_check(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    response = requests.post(f"http://{emu.endpoint}/?Action=DescribeInstances&RegionId={REGION}"
                             "&AccessKeyId=sandbox-key&Signature=forged&SignatureNonce=1&Version=2014-05-26"
                             "&Timestamp=2024-01-01T00:00:00Z", timeout=5)
    body = response.json()
    assert response.status_code == 400 and body["Code"] == "SignatureDoesNotMatch"
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}


def test_unknown_action_is_refused(aliyun_emulator, small_scenario):
    err = error_of(sdk_client(aliyun_emulator(small_scenario)), "DescribeUnicorns")
    assert err.get_error_code() == "InvalidAction.NotFound"


def test_a_throttling_fault_fails_the_named_calls_then_clears(aliyun_emulator, small_scenario):
    small_scenario["faults"] = [{"action": "DescribeImages", "code": "Throttling.User", "times": 2}]
    emu = aliyun_emulator(small_scenario)
    client = sdk_client(emu)
    for _ in range(2):
        err = error_of(client, "DescribeImages")
        assert (err.get_http_status(), err.get_error_code()) == (400, "Throttling.User")
    assert call(client, "DescribeImages", ImageOwnerAlias="self")["Images"]["Image"] == []  # none of ours
    assert [c["status"] for c in emu.calls_of("DescribeImages")] == [400, 400, 200]


def test_create_image_is_idempotent_and_becomes_available_after_the_build_time(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    client = sdk_client(emu)
    first = call(client, "CreateImage", InstanceId=DOOMED, ImageName="worker-1-rescue", ClientToken="tok-1")
    again = call(client, "CreateImage", InstanceId=DOOMED, ImageName="worker-1-rescue", ClientToken="tok-1")
    assert first["ImageId"] == again["ImageId"]
    # Default DescribeImages hides a Creating image, exactly as ECS does.
    assert call(client, "DescribeImages", ImageId=first["ImageId"])["Images"]["Image"] == []
    creating = call(client, "DescribeImages", ImageId=first["ImageId"], Status="Creating,Available,CreateFailed")
    assert creating["Images"]["Image"][0]["Status"] == "Creating"
    emu.clock.advance(2)
    done = call(client, "DescribeImages", ImageId=first["ImageId"])["Images"]["Image"]
    assert done[0]["Status"] == "Available" and done[0]["ImageName"] == "worker-1-rescue"


def test_a_reused_client_token_with_other_parameters_is_refused(aliyun_emulator, small_scenario):
    client = sdk_client(aliyun_emulator(small_scenario))
    call(client, "CreateImage", InstanceId=DOOMED, ImageName="first-name", ClientToken="tok-2")
    err = error_of(client, "CreateImage", InstanceId=DOOMED, ImageName="other-name", ClientToken="tok-2")
    assert err.get_error_code() == "IdempotenceParamNotMatch"


def test_an_instance_marked_create_failed_yields_a_failed_image(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    client = sdk_client(emu)
    image_id = call(client, "CreateImage", InstanceId="i-bp1broken00000000000", ImageName="broken")["ImageId"]
    emu.clock.advance(5)
    rows = call(client, "DescribeImages", ImageId=image_id, Status="CreateFailed")["Images"]["Image"]
    assert rows[0]["Status"] == "CreateFailed"


def test_available_resource_reports_stock_per_zone_and_market(aliyun_emulator, small_scenario):
    client = sdk_client(aliyun_emulator(small_scenario))
    body = call(client, "DescribeAvailableResource", DestinationResource="InstanceType",
                InstanceChargeType="PostPaid", SpotStrategy="SpotAsPriceGo")
    seen = {(z["ZoneId"], r["Value"]): r["StatusCategory"]
            for z in body["AvailableZones"]["AvailableZone"]
            for r in z["AvailableResources"]["AvailableResource"][0]["SupportedResources"]["SupportedResource"]}
    assert seen[("cn-hangzhou-i", "ecs.g7.large")] == "WithoutStock"
    assert seen[("cn-hangzhou-j", "ecs.g7.large")] == "WithStock"
    assert ("cn-hangzhou-i", "ecs.g8y.large") not in seen  # only sold in zone j
    ondemand = call(client, "DescribeAvailableResource", DestinationResource="InstanceType",
                    SpotStrategy="NoSpot", ZoneId="cn-hangzhou-i", InstanceType="ecs.g7.large")
    zone = ondemand["AvailableZones"]["AvailableZone"][0]
    assert zone["AvailableResources"]["AvailableResource"][0]["SupportedResources"]["SupportedResource"][0][
        "StatusCategory"] == "WithStock"


def test_stock_frees_up_on_the_scenario_schedule(aliyun_emulator, small_scenario):
    small_scenario["stock"]["offers"][0]["schedule"] = [{"at": 60, "add": 2}]
    emu = aliyun_emulator(small_scenario)
    client = sdk_client(emu)
    image_id = call(client, "CreateImage", InstanceId=DOOMED, ImageName="img")["ImageId"]
    emu.clock.advance(5)
    launch = dict(ImageId=image_id, InstanceType="ecs.g7.large", VSwitchId=VSW_I, SpotStrategy="SpotAsPriceGo")
    assert error_of(client, "RunInstances", **launch).get_error_code() == "OperationDenied.NoStock"
    requests.post(f"http://{emu.endpoint}/_sandbox/advance?seconds=60", timeout=5)
    assert len(call(client, "RunInstances", **launch)["InstanceIdSets"]["InstanceIdSet"]) == 1


def test_run_instances_is_all_or_nothing_and_idempotent(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    client = sdk_client(emu)
    image_id = call(client, "CreateImage", InstanceId=DOOMED, ImageName="img")["ImageId"]
    launch = dict(ImageId=image_id, InstanceType="ecs.g7.large", VSwitchId=VSW_J, SpotStrategy="SpotAsPriceGo")
    assert error_of(client, "RunInstances", **launch).get_error_code() == "IncorrectImageStatus"
    emu.clock.advance(5)
    err = error_of(client, "RunInstances", Amount=4, **launch)
    assert (err.get_http_status(), err.get_error_code()) == (403, "OperationDenied.NoStock")
    assert emu.stock.available("ecs.g7.large", "cn-hangzhou-j", "spot") == 3
    first = call(client, "RunInstances", Amount=2, ClientToken="run-1", **launch)
    again = call(client, "RunInstances", Amount=2, ClientToken="run-1", **launch)
    assert first["InstanceIdSets"] == again["InstanceIdSets"]
    assert emu.stock.available("ecs.g7.large", "cn-hangzhou-j", "spot") == 1
    ids = first["InstanceIdSets"]["InstanceIdSet"]
    states = call(client, "DescribeInstances", InstanceIds=json.dumps(ids))["Instances"]["Instance"]
    assert {s["Status"] for s in states} == {"Pending"}
    emu.clock.advance(1)
    states = call(client, "DescribeInstances", InstanceIds=json.dumps(ids))["Instances"]["Instance"]
    assert {s["Status"] for s in states} == {"Running"} and states[0]["ZoneId"] == "cn-hangzhou-j"


def test_instance_types_page_with_next_token_and_filter_by_name(aliyun_emulator, small_scenario):
    client = sdk_client(aliyun_emulator(small_scenario))
    first = call(client, "DescribeInstanceTypes", MaxResults=2)
    assert len(first["InstanceTypes"]["InstanceType"]) == 2 and first["NextToken"]
    rest = call(client, "DescribeInstanceTypes", MaxResults=2, NextToken=first["NextToken"])
    assert [t["InstanceTypeId"] for t in rest["InstanceTypes"]["InstanceType"]] == ["ecs.g8y.large"]
    assert rest["NextToken"] == "" and rest["InstanceTypes"]["InstanceType"][0]["CpuArchitecture"] == "ARM"
    one = call(client, "DescribeInstanceTypes", **{"InstanceTypes.1": "ecs.g6.large"})
    assert one["InstanceTypes"]["InstanceType"][0]["MemorySize"] == 8.0


def test_reservations_are_created_grown_and_described(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    client = sdk_client(emu)
    created = call(client, "CreateCapacityReservation", InstanceType="ecs.g6.large", InstanceAmount=4,
                   ClientToken="crp-1", **{"ZoneId.1": "cn-hangzhou-i", "PrivatePoolOptions.MatchCriteria": "Open"})
    same = call(client, "CreateCapacityReservation", InstanceType="ecs.g6.large", InstanceAmount=4,
                ClientToken="crp-1", **{"ZoneId.1": "cn-hangzhou-i", "PrivatePoolOptions.MatchCriteria": "Open"})
    pool_id = created["PrivatePoolOptionsId"]
    assert same["PrivatePoolOptionsId"] == pool_id
    assert emu.stock.available("ecs.g6.large", "cn-hangzhou-i", "ondemand") == 6
    call(client, "ModifyCapacityReservation", InstanceAmount=6, **{"PrivatePoolOptions.Id": pool_id})
    err = error_of(client, "ModifyCapacityReservation", InstanceAmount=20, **{"PrivatePoolOptions.Id": pool_id})
    assert (err.get_http_status(), err.get_error_code()) == (403, "OperationDenied.NoStock")
    body = call(client, "DescribeCapacityReservations", **{"PrivatePoolOptions.Ids": json.dumps([pool_id])})
    item = body["CapacityReservationSet"]["CapacityReservationItem"][0]
    res = item["AllocatedResources"]["AllocatedResource"][0]
    assert (item["PrivatePoolOptionsId"], res["TotalAmount"], res["AvailableAmount"]) == (pool_id, 6, 6)
    assert emu.stock.available("ecs.g6.large", "cn-hangzhou-i", "ondemand") == 4


def test_two_hundred_concurrent_calls_all_succeed(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario, latency_ms=5)
    client = sdk_client(emu)

    def one(n: int) -> int:
        body = call(client, "DescribeInstances", InstanceIds=json.dumps([DOOMED]))
        return body["TotalCount"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, range(200)))
    assert results == [1] * 200
    assert len(emu.calls) == 200 and {c["status"] for c in emu.calls} == {200}


def test_the_call_log_never_holds_credentials(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    call(sdk_client(emu), "DescribeVSwitches", VpcId="vpc-bp171csbkbnjhg1bj3npw")
    logged = requests.get(f"http://{emu.endpoint}/_sandbox/calls", timeout=5).json()["calls"]
    assert logged[0]["action"] == "DescribeVSwitches"
    assert not {"AccessKeyId", "Signature", "SecurityToken"} & set(logged[0]["params"])


def test_a_run_instances_token_reused_for_another_amount_is_refused_and_buys_nothing(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    client = sdk_client(emu)
    image_id = call(client, "CreateImage", InstanceId=DOOMED, ImageName="img")["ImageId"]
    emu.clock.advance(5)
    launch = dict(ImageId=image_id, InstanceType="ecs.g7.large", VSwitchId=VSW_J, SpotStrategy="SpotAsPriceGo",
                  ClientToken="run-2")
    call(client, "RunInstances", Amount=1, **launch)
    err = error_of(client, "RunInstances", Amount=2, **launch)
    assert (err.get_http_status(), err.get_error_code()) == (400, "IdempotenceParamNotMatch")
    assert emu.stock.available("ecs.g7.large", "cn-hangzhou-j", "spot") == 2


def test_a_region_outside_the_scenario_is_invalid_region_id_not_found(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    client = sdk_client(emu)
    request = CommonRequest(domain=None, version="2014-05-26", action_name="DescribeInstances")
    request.set_method("POST")
    request.set_product("Ecs")
    request.add_query_param("RegionId", "cn-atlantis")
    with pytest.raises(ServerException) as err:
        client.do_action_with_exception(request)
    assert (err.value.get_http_status(), err.value.get_error_code()) == (404, "InvalidRegionId.NotFound")
    assert emu.calls_of("DescribeInstances")[-1]["code"] == "InvalidRegionId.NotFound"
