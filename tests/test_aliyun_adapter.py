"""AliyunCloud against the ECS emulator: the real SDK signs, sends and parses every call."""

from __future__ import annotations

import pytest

from aliyun_fixtures import (  # noqa: F401  (fixtures are used by name)
    DOOMED, REGION, VPC, VSW_I, VSW_J, aliyun_emulator, no_proxy_env, small_scenario,
)
from responder.clouds.aliyun import AliyunCloud
from responder.clouds.aliyun_errors import classify, is_no_capacity, is_throttled
from responder.clouds.base import LaunchRequest
from responder.errors import Fatal, Invalid, NoCapacity, NotFound, Throttled, TokenReused, Transient
from responder.model import Market, Offering


def cloud_for(emulator, secret: str = "sandbox-secret") -> AliyunCloud:
    return AliyunCloud("sandbox-key", secret, endpoint=emulator.endpoint, timeout=5)


def ready_image(emu, cloud: AliyunCloud, token: str = "img-1") -> str:
    image_id = cloud.create_image(REGION, DOOMED, "worker-1-rescue", token)
    emu.clock.advance(emu.scenario.image_build_seconds)
    return image_id


def launch_request(cloud: AliyunCloud, image_id: str, offering: Offering, token: str, count: int = 1) -> LaunchRequest:
    source = cloud.clone_details(REGION, cloud.describe_instance(REGION, DOOMED))
    return LaunchRequest(source=source, image_id=image_id, offerings=(offering,),
                         subnet_by_zone=(("cn-hangzhou-i", VSW_I), ("cn-hangzhou-j", VSW_J)),
                         client_token=token, count=count, extra_tags=(("responder", "replacement"),))


def test_describe_instance_sees_the_recycling_lock_and_everything_needed_to_clone(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    cloud = cloud_for(emu)
    info = cloud.describe_instance(REGION, DOOMED)
    assert [c["action"] for c in emu.calls] == ["DescribeInstances"]  # verification is one call
    info = cloud.clone_details(REGION, info)
    assert info.reclaiming and info.spot and info.memory_mib == 8192 and info.cpu == 2
    assert (info.zone, info.subnet_id, info.vpc_id) == ("cn-hangzhou-i", VSW_I, VPC)
    assert info.security_group_ids == ("sg-bp16q7p8yafqaure63n4",) and info.key_pair == "my-kp"
    assert info.role == "worker-role" and info.user_data == "IyEvYmluL3NoCmVjaG8gaGVsbG8K"
    assert (info.public_ip, info.public_bandwidth_out) == ("47.96.10.20", 5)
    assert (info.system_disk_category, info.system_disk_size) == ("cloud_essd", 40)
    assert info.tags == (("app", "batch"),)


def test_an_absent_instance_is_not_found(aliyun_emulator, small_scenario):
    with pytest.raises(NotFound):
        cloud_for(aliyun_emulator(small_scenario)).describe_instance(REGION, "i-bp1gone0000000000000")


def test_a_wrong_secret_is_fatal_and_never_retried(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    with pytest.raises(Fatal) as info:
        cloud_for(emu, secret="wrong").describe_instance(REGION, DOOMED)
    assert info.value.code in ("SignatureDoesNotMatch", "InvalidAccessKeySecret")
    assert len(emu.calls) == 1  # SDK retries are off


def test_throttling_surfaces_as_throttled_after_exactly_one_call(aliyun_emulator, small_scenario):
    small_scenario["faults"] = [{"action": "CreateImage", "code": "Throttling", "times": 1}]
    emu = aliyun_emulator(small_scenario)
    cloud = cloud_for(emu)
    with pytest.raises(Throttled) as info:
        cloud.create_image(REGION, DOOMED, "worker-1-rescue", "img-1")
    assert "creating image for " + DOOMED in str(info.value)
    assert len(emu.calls_of("CreateImage")) == 1
    assert cloud.create_image(REGION, DOOMED, "worker-1-rescue", "img-1").startswith("m-")


def test_create_image_is_idempotent_and_describe_image_sees_creating(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    cloud = cloud_for(emu)
    first = cloud.create_image(REGION, DOOMED, "worker-1-rescue", "img-1", tags=(("responder", "task-1"),))
    assert cloud.create_image(REGION, DOOMED, "worker-1-rescue", "img-1", tags=(("responder", "task-1"),)) == first
    assert cloud.describe_image(REGION, first).state == "creating"
    emu.clock.advance(2)
    assert cloud.describe_image(REGION, first).state == "available"


def test_a_failed_image_is_reported_failed(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    cloud = cloud_for(emu)
    image_id = cloud.create_image(REGION, "i-bp1broken00000000000", "broken-image", "img-b")
    emu.clock.advance(3)
    assert cloud.describe_image(REGION, image_id).state == "failed"
    with pytest.raises(NotFound):
        cloud.describe_image(REGION, "m-bp1nosuchimage0000000")


def test_catalog_and_stock_probe_in_one_call(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    cloud = cloud_for(emu)
    catalog = cloud.instance_types(REGION)
    assert catalog["ecs.g8y.large"].architecture == "arm64" and catalog["ecs.g7.large"].memory_gib == 8.0
    spot = cloud.offerings_with_stock(REGION, ["ecs.g7.large", "ecs.g6.large"], Market.SPOT)
    assert ("ecs.g7.large", "cn-hangzhou-j") in spot and ("ecs.g7.large", "cn-hangzhou-i") not in spot
    assert all(t in ("ecs.g7.large", "ecs.g6.large") for t, _ in spot)
    assert len(emu.calls_of("DescribeAvailableResource")) == 1
    assert {s.subnet_id for s in cloud.subnets(REGION, VPC)} == {VSW_I, VSW_J}


def test_launch_copies_the_source_and_is_idempotent(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    cloud = cloud_for(emu)
    image_id = ready_image(emu, cloud)
    offering = Offering("ecs.g7.large", "cn-hangzhou-j", Market.SPOT)
    request = launch_request(cloud, image_id, offering, "run-1", count=2)
    first = cloud.launch(REGION, request)
    again = cloud.launch(REGION, request)
    assert first.instance_ids == again.instance_ids and len(first.instance_ids) == 2
    assert emu.stock.available("ecs.g7.large", "cn-hangzhou-j", "spot") == 1  # consumed once
    sent = emu.calls_of("RunInstances")[0]["params"]
    assert sent["SpotStrategy"] == "SpotAsPriceGo" and sent["VSwitchId"] == VSW_J
    assert sent["SecurityGroupIds.1"] == "sg-bp16q7p8yafqaure63n4" and sent["RamRoleName"] == "worker-role"
    assert sent["InternetMaxBandwidthOut"] == "5" and sent["SystemDisk.Category"] == "cloud_essd"
    clone = cloud.clone_details(REGION, cloud.describe_instance(REGION, first.instance_ids[0]))
    assert ("responder", "replacement") in clone.tags and ("app", "batch") in clone.tags
    assert clone.user_data == "IyEvYmluL3NoCmVjaG8gaGVsbG8K" and clone.spot
    emu.clock.advance(1)
    assert set(cloud.instance_states(REGION, list(first.instance_ids)).values()) == {"Running"}


def test_no_stock_is_no_capacity(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    cloud = cloud_for(emu)
    image_id = ready_image(emu, cloud)
    with pytest.raises(NoCapacity) as info:
        cloud.launch(REGION, launch_request(cloud, image_id, Offering("ecs.g7.large", "cn-hangzhou-i", Market.SPOT), "r"))
    assert info.value.code == "OperationDenied.NoStock" and info.value.http_status == 403


def test_a_type_not_sold_in_the_zone_is_no_capacity_and_an_unknown_type_is_invalid(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    cloud = cloud_for(emu)
    image_id = ready_image(emu, cloud)
    with pytest.raises(NoCapacity):
        cloud.launch(REGION, launch_request(cloud, image_id, Offering("ecs.g8y.large", "cn-hangzhou-i"), "a"))
    with pytest.raises(Invalid):
        cloud.launch(REGION, launch_request(cloud, image_id, Offering("ecs.zz9.large", "cn-hangzhou-i"), "b"))


def test_a_dry_run_launches_nothing(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    cloud = cloud_for(emu)
    image_id = ready_image(emu, cloud)
    base = launch_request(cloud, image_id, Offering("ecs.g6.large", "cn-hangzhou-i"), "dry")
    dry = LaunchRequest(**{**base.__dict__, "dry_run": True})
    assert cloud.launch(REGION, dry).instance_ids == ()
    assert emu.stock.available("ecs.g6.large", "cn-hangzhou-i", "ondemand") == 10


def test_reservations_create_grow_describe_and_release(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    cloud = cloud_for(emu)
    offering = Offering("ecs.g6.large", "cn-hangzhou-j")
    made = cloud.create_reservation(REGION, offering, 3, "crp-1")
    assert cloud.create_reservation(REGION, offering, 3, "crp-1").reservation_id == made.reservation_id
    grown = cloud.modify_reservation(REGION, made.reservation_id, 5)
    assert (grown.total, grown.available, grown.zone, grown.state) == (5, 5, "cn-hangzhou-j", "active")
    with pytest.raises(NoCapacity):
        cloud.modify_reservation(REGION, made.reservation_id, 50)
    with pytest.raises(NoCapacity):
        cloud.create_reservation(REGION, offering, 6, "crp-2")
    assert [r.reservation_id for r in cloud.list_reservations(REGION, "ecs.g6.large")] == [made.reservation_id]
    cloud.cancel_reservation(REGION, made.reservation_id)
    assert emu.stock.available("ecs.g6.large", "cn-hangzhou-j", "ondemand") == 10
    assert cloud.describe_reservation(REGION, made.reservation_id).state == "released"
    with pytest.raises(NotFound):
        cloud.describe_reservation(REGION, "crp-bp1nosuchpool0000000")


def test_proxy_variables_do_not_divert_loopback_calls(aliyun_emulator, small_scenario, monkeypatch):
    emu = aliyun_emulator(small_scenario)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    assert cloud_for(emu).describe_instance(REGION, DOOMED).reclaiming


def test_codes_are_classified_once():
    assert is_no_capacity("Zone.NotOnSale") and is_no_capacity("InstanceType.Offline")
    assert is_throttled("Throttling.User") and not is_throttled("ServiceUnavailable")
    from aliyunsdkcore.acs_exception.exceptions import ServerException

    def kind(code: str, status: int = 400) -> type:
        return type(classify(ServerException(code, "m", http_status=status), "Act", "doing"))

    assert kind("InvalidInstanceId.NotFound", 404) is NotFound
    assert kind("InvalidImageName.Malformed") is Invalid and kind("MissingParameter.RegionId") is Invalid
    assert kind("SomethingNew.Unheard") is Fatal
    # Server-side faults may succeed when sent again (same token, same parameters): Transient.
    assert kind("InternalError", 500) is Transient and kind("ServiceUnavailable", 503) is Transient
    assert kind("SomethingNew.Unheard", 502) is Transient
    assert kind("IdempotenceParamNotMatch") is TokenReused
    assert kind("InvalidResourceType.NotSupported", 403) is NoCapacity


def test_sts_credentials_sign_with_the_security_token(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    cloud = AliyunCloud("sandbox-key", "sandbox-secret", security_token="sts-token", endpoint=emu.endpoint)
    assert cloud.describe_instance(REGION, DOOMED).reclaiming
    assert "sts-token" not in repr(cloud) and "sandbox-secret" not in repr(cloud)
    assert "SecurityToken" not in emu.calls[0]["params"]  # the call log keeps no credentials
