"""OciCloud through the real `oci` SDK, signed, over HTTP to the OCI emulator (tests/oci_fixtures.py)."""

from __future__ import annotations

import pytest

from oci_fixtures import (A1, AD1, AD2, MICRO, REGION, SUBNET_ID, UBUNTU_ARM_NEW, UBUNTU_X86_NEW, oci_scenario,
                          oci_box, oci_box_factory)  # noqa: F401 - fixtures
from responder.clouds.base import TOKEN_TAG, InstanceInfo, LaunchRequest
from responder.clouds.oci import OciCloud
from responder.errors import (AccountLimit, Fatal, Invalid, NoCapacity, NotFound, PermissionDenied, Throttled,
                              TokenReused, Transient)
from responder.model import Market, Offering


def request(token: str, shape: str = A1, ad: str = AD1, ocpus: float = 1, memory: float = 6, name: str = "a1-free",
            image: str = UBUNTU_ARM_NEW, market: Market = Market.ONDEMAND, **kwargs) -> LaunchRequest:
    source = InstanceInfo("", REGION, ad, shape, "", False, False, name=name, tags=(("responder:target", "t1"),))
    sized = {"shape_ocpus": ocpus, "shape_memory_gb": memory} if shape == A1 else {}
    return LaunchRequest(source=source, image_id=image, offerings=(Offering(shape, ad, market),),
                         subnet_by_zone=(("", SUBNET_ID),), client_token=token, **sized, **kwargs)


def micro(token: str, name: str = "micro") -> LaunchRequest:
    return request(token, shape=MICRO, image=UBUNTU_X86_NEW, name=name)


# -- error classification: each OCI answer becomes one kind of error ---------------------------
ERRORS = [
    (500, "InternalError", "Out of host capacity.", NoCapacity, "OutOfHostCapacity"),
    (429, "TooManyRequests", "User-rate limit exceeded.", Throttled, "TooManyRequests"),
    (400, "LimitExceeded", "The following service limits were exceeded: standard-a1-core-count.", AccountLimit,
     "LimitExceeded"),
    (400, "QuotaExceeded", "Quota exceeded.", AccountLimit, "QuotaExceeded"),
    (401, "NotAuthenticated", "The required information to complete authentication was not provided.", Fatal,
     "NotAuthenticated"),
    # On LaunchInstance (the compartment its only target) a 404 can only be a missing permission.
    (404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found.", PermissionDenied,
     "NotAuthorizedOrNotFound"),
    (500, "InternalError", "Internal error.", Transient, "InternalError"),
    (503, "ServiceUnavailable", "Service unavailable.", Transient, "ServiceUnavailable"),
    (409, "InvalidatedRetryToken", "The retry token was used with different parameters.", TokenReused,
     "InvalidatedRetryToken"),
    (400, "InvalidParameter", "Shape is not valid.", Invalid, "InvalidParameter"),
    (409, "SomethingNew", "An answer nobody has seen.", Fatal, "SomethingNew"),
]


@pytest.mark.parametrize("status,code,message,kind,our_code", ERRORS, ids=[e[1] + str(e[0]) for e in ERRORS])
def test_each_oci_error_is_classified_once(oci_box_factory, status, code, message, kind, our_code):
    faults = [{"action": "LaunchInstance", "kind": "error", "status": status, "code": code, "message": message}]
    box = oci_box_factory(oci_scenario(), faults=faults)
    with pytest.raises(kind) as caught:
        box.cloud.launch(REGION, request("tok-err"))
    assert type(caught.value) is kind  # not merely a subclass: AccountLimit is a NoCapacity
    assert caught.value.code == our_code and caught.value.http_status == status
    assert box.cloud.list_instances(REGION, names=("a1-free",)) == []  # the refusal launched nothing


def test_an_account_limit_says_it_is_the_accounts_limit_not_the_regions_stock(oci_box):
    for n in range(2):
        oci_box.cloud.launch(REGION, micro(f"tok-micro-{n}", name=f"micro-{n}"))
    with pytest.raises(AccountLimit) as caught:
        oci_box.cloud.launch(REGION, micro("tok-micro-2", name="micro-2"))
    assert isinstance(caught.value, NoCapacity)
    assert "this account's service limit, not the region's stock" in str(caught.value)


def test_a_refused_signature_is_fatal_with_a_hint_naming_the_key_settings(oci_box, tmp_path):
    from responder.sandbox.oci_setup import write_private_key
    from responder.sandbox.oci_sign import new_api_key

    other_key = write_private_key(new_api_key().private_pem, tmp_path)
    c = oci_box.emulator.config
    wrong = OciCloud(c.user, oci_box.sandbox.oci.fingerprint, c.tenancy, REGION, other_key,
                     endpoint=oci_box.sandbox.oci.endpoint)
    with pytest.raises(Fatal) as caught:
        wrong.availability_domains(REGION)
    assert caught.value.code == "NotAuthenticated" and caught.value.http_status == 401
    assert "OCI_FINGERPRINT" in str(caught.value) and "OCI_KEY_FILE" in str(caught.value)


def test_a_key_file_that_does_not_exist_is_fatal_before_any_call(oci_box, tmp_path):
    c = oci_box.emulator.config
    broken = OciCloud(c.user, "aa:bb", c.tenancy, REGION, str(tmp_path / "missing.pem"),
                      endpoint=oci_box.sandbox.oci.endpoint)
    with pytest.raises(Fatal, match="OCI_KEY_FILE"):
        broken.availability_domains(REGION)
    assert oci_box.calls() == []


def test_no_answer_at_all_is_transient(oci_box):
    from responder.sandbox.loopback import LoopbackServer

    server = LoopbackServer(lambda e, s: [], 0)
    port = server.start()
    server.stop()  # the port is now closed: connection refused
    c = oci_box.emulator.config
    gone = OciCloud(c.user, oci_box.sandbox.oci.fingerprint, c.tenancy, REGION, oci_box.sandbox.oci.key_file,
                    endpoint=f"http://127.0.0.1:{port}/oci", timeout=2)
    with pytest.raises(Transient):
        gone.availability_domains(REGION)


# -- idempotency: a retried launch never buys twice ------------------------------------------
def test_a_lost_launch_answer_retried_with_the_same_token_makes_one_instance(oci_box_factory):
    box = oci_box_factory(oci_scenario(), faults=[{"action": "LaunchInstance", "kind": "lost", "times": 1}])
    with pytest.raises(Transient):
        box.cloud.launch(REGION, request("tok-lost"))
    assert len(box.emulator.world.instances) == 1  # it happened, though the caller never heard
    again = box.cloud.launch(REGION, request("tok-lost"))
    assert again.instance_ids == box.cloud.find_launched(REGION, "tok-lost")
    assert len(box.emulator.world.instances) == 1
    assert box.calls().count("LaunchInstance") == 2


def test_the_same_retry_token_with_another_body_is_refused_as_token_reused(oci_box):
    first = oci_box.cloud.launch(REGION, request("tok-same", ocpus=1, memory=6))
    with pytest.raises(TokenReused):
        oci_box.cloud.launch(REGION, request("tok-same", ocpus=2, memory=12))
    assert oci_box.cloud.find_launched(REGION, "tok-same") == first.instance_ids


def test_a_launch_carries_shape_size_boot_volume_ssh_key_and_tags(oci_box):
    result = oci_box.cloud.launch(REGION, request("tok-full", ocpus=2, memory=12, boot_volume_gb=100,
                                                  ssh_public_key="ssh-ed25519 AAAA test", extra_tags=(("team", "x"),)))
    raw = oci_box.emulator.world.instances[result.instance_ids[0]]
    assert raw["shapeConfig"] == {"ocpus": 2.0, "memoryInGBs": 12.0}
    assert raw["sourceDetails"]["bootVolumeSizeInGBs"] == 100
    assert raw["metadata"] == {"ssh_authorized_keys": "ssh-ed25519 AAAA test"}
    assert raw["freeformTags"] == {"responder:target": "t1", "team": "x", TOKEN_TAG: "tok-full"}
    assert raw["displayName"] == "a1-free" and raw["createVnicDetails"]["subnetId"] == SUBNET_ID
    info = oci_box.cloud.describe_instance(REGION, result.instance_ids[0])
    assert (info.cpu, info.memory_mib, info.spot, info.architecture) == (2, 12 * 1024, False, "arm64")


def test_describe_instance_reads_what_a_relaunch_needs_and_the_subnet_from_the_primary_vnic(oci_box):
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq2Z0pd7vWkSjQ0 me@laptop"
    made = oci_box.cloud.launch(REGION, request("tok-describe", ocpus=3, memory=18, boot_volume_gb=60,
                                                ssh_public_key=key, market=Market.SPOT)).instance_ids[0]
    early = oci_box.cloud.describe_instance(REGION, made)  # PROVISIONING: the attachment has no VNIC id yet
    assert (early.subnet_id, early.private_ip) == (SUBNET_ID, "")
    oci_box.clock.advance(60)
    info = oci_box.cloud.describe_instance(REGION, made)
    assert (info.zone, info.instance_type, info.ocpus, info.memory_mib) == (AD1, A1, 3.0, 18 * 1024)
    assert (info.image_id, info.system_disk_size, info.name, info.spot) == (UBUNTU_ARM_NEW, 60, "a1-free", True)
    assert (info.subnet_id, info.private_ip, info.ssh_public_key) == (SUBNET_ID, "10.0.0.2", key)
    assert info.public_ip and dict(info.tags)["responder:target"] == "t1"
    assert oci_box.calls()[-2:] == ["ListVnicAttachments", "GetVnic"]
    oci_box.cloud.terminate_instance(REGION, made)
    oci_box.clock.advance(30)  # TERMINATED: the VNIC is gone, the DETACHED attachment still names the subnet
    gone = oci_box.cloud.describe_instance(REGION, made)
    assert (gone.status, gone.subnet_id, gone.private_ip, gone.reclaiming) == ("TERMINATED", SUBNET_ID, "", True)


def test_a_spot_offering_launches_a_preemptible_instance(oci_box):
    result = oci_box.cloud.launch(REGION, request("tok-spot", market=Market.SPOT))
    assert result.offering == Offering(A1, AD1, Market.SPOT)
    assert oci_box.cloud.describe_instance(REGION, result.instance_ids[0]).spot is True


def test_more_than_one_instance_per_launch_is_refused_without_a_call(oci_box):
    with pytest.raises(Invalid, match="one instance per call"):
        oci_box.cloud.launch(REGION, request("tok-many", count=2))
    assert "LaunchInstance" not in oci_box.calls()


# -- lookups ---------------------------------------------------------------------------------
def test_the_newest_image_of_an_os_version_and_shape_is_chosen(oci_box):
    assert oci_box.cloud.platform_image(REGION, "Canonical Ubuntu", "22.04", A1) == UBUNTU_ARM_NEW
    assert oci_box.cloud.platform_image(REGION, "Canonical Ubuntu", "22.04", MICRO) == UBUNTU_X86_NEW
    with pytest.raises(NotFound) as caught:
        oci_box.cloud.platform_image(REGION, "Canonical Ubuntu", "20.04", A1)
    assert all(part in str(caught.value) for part in ("Canonical Ubuntu", "20.04", A1))


def test_a_subnet_is_found_by_display_name_and_by_ocid(oci_box):
    by_name = oci_box.cloud.find_subnet(REGION, "public-subnet")
    assert by_name.subnet_id == SUBNET_ID and by_name.zone == ""  # regional: every AD
    assert oci_box.cloud.find_subnet(REGION, SUBNET_ID) == by_name
    with pytest.raises(NotFound, match="private-subnet"):
        oci_box.cloud.find_subnet(REGION, "private-subnet")
    with pytest.raises(NotFound):
        oci_box.cloud.find_subnet(REGION, "ocid1.subnet.oc1.ap-chuncheon-1.nosuch")


def test_availability_domains_shapes_and_static_offerings(oci_box):
    assert oci_box.cloud.availability_domains(REGION) == [AD1, AD2]
    types = oci_box.cloud.instance_types(REGION)
    assert types[MICRO].memory_gib == 1.0 and types[A1].architecture == "arm64"
    assert oci_box.cloud.offerings_with_stock(REGION, [A1], Market.ONDEMAND) == {(A1, AD1), (A1, AD2)}
    assert oci_box.cloud.capabilities.offerings_are_static


def test_instances_are_listed_by_name_or_tag_and_states_normalised(oci_box):
    launched = oci_box.cloud.launch(REGION, request("tok-list")).instance_ids[0]
    assert [s.state for s in oci_box.cloud.list_instances(REGION, names=("a1-free",))] == ["pending"]
    oci_box.clock.advance(60)
    assert [s.instance_id for s in oci_box.cloud.list_instances(REGION, tag_key="responder:target")] == [launched]
    assert oci_box.cloud.list_instances(REGION, names=("a1-free",))[0].state == "running"
    oci_box.cloud.terminate_instance(REGION, launched)
    assert oci_box.cloud.list_instances(REGION, names=("a1-free",)) == []
    assert oci_box.cloud.find_launched(REGION, "tok-list") == ()
    with pytest.raises(NotFound):
        oci_box.cloud.terminate_instance(REGION, "ocid1.instance.oc1.ap-chuncheon-1.nosuch")


def test_every_page_of_a_long_listing_is_read(oci_box_factory):
    box = oci_box_factory(oci_scenario(page_size=2, limits=[]))
    made = {box.cloud.launch(REGION, micro(f"tok-p{n}", name="many")).instance_ids[0] for n in range(5)}
    assert {s.instance_id for s in box.cloud.list_instances(REGION, names=("many",))} == made
    assert box.calls().count("ListInstances") == 3  # 2 + 2 + 1


# -- capacity, limits and throttling as OCI applies them -------------------------------------
def test_out_of_host_capacity_for_an_hour_then_one_slot(oci_box_factory):
    capacity = {"offers": [{"shape": A1, "availability_domain": AD1, "available": 0,
                            "schedule": [{"at": 3600, "available": 1}]}]}
    box = oci_box_factory(oci_scenario(capacity=capacity))
    with pytest.raises(NoCapacity) as caught:
        box.cloud.launch(REGION, request("tok-cap-1"))
    assert caught.value.code == "OutOfHostCapacity" and not isinstance(caught.value, AccountLimit)
    box.clock.advance(3599)
    with pytest.raises(NoCapacity):
        box.cloud.launch(REGION, request("tok-cap-2"))
    box.cloud.launch(REGION, request("tok-cap-2", ad=AD2, name="elsewhere"))  # AD2 was never short
    box.clock.advance(1)
    assert box.cloud.launch(REGION, request("tok-cap-3")).instance_ids
    with pytest.raises(NoCapacity):
        box.cloud.launch(REGION, request("tok-cap-4"))


def test_always_free_limits_hold_until_an_instance_is_terminated(oci_box):
    first = oci_box.cloud.launch(REGION, request("tok-af-1", ocpus=3, memory=18)).instance_ids[0]
    oci_box.cloud.launch(REGION, request("tok-af-2", ocpus=1, memory=6, name="a1-second"))
    with pytest.raises(AccountLimit):  # 4 OCPUs / 24 GB are taken
        oci_box.cloud.launch(REGION, request("tok-af-3", ocpus=1, memory=6, name="a1-third"))
    oci_box.cloud.terminate_instance(REGION, first)
    with pytest.raises(AccountLimit):  # TERMINATING still holds its share
        oci_box.cloud.launch(REGION, request("tok-af-3", ocpus=1, memory=6, name="a1-third"))
    oci_box.clock.advance(30)
    assert oci_box.cloud.launch(REGION, request("tok-af-3", ocpus=1, memory=6, name="a1-third")).instance_ids


def test_calls_faster_than_the_users_rate_are_throttled(oci_box_factory):
    box = oci_box_factory(oci_scenario(throttle={"rate_per_second": 1, "burst": 3}))
    for _ in range(3):
        box.cloud.availability_domains(REGION)
    with pytest.raises(Throttled):
        box.cloud.availability_domains(REGION)
    box.clock.advance(1)
    assert box.cloud.availability_domains(REGION) == [AD1, AD2]


# -- settings, the factory, and secrets --------------------------------------------------------
OLD_DOTENV = {"OCI_USER_OCID": "ocid1.user.oc1..u", "OCI_FINGERPRINT": "aa:bb", "OCI_TENANCY_OCID": "ocid1.tenancy.oc1..t",
              "OCI_REGION": REGION, "OCI_KEY_FILE": "/keys/oci.pem", "A1_SHAPE": A1}


def test_an_oci_provisioners_dotenv_configures_oci_unchanged():
    from responder.clouds.factory import clouds_from_settings, unconfigured_clouds
    from responder.settings import Settings

    settings = Settings.from_env(OLD_DOTENV, dotenv=False)
    assert settings.clouds == ("aliyun", "aws", "oci")
    assert settings.oci_compartment == "ocid1.tenancy.oc1..t"  # the tenancy unless OCI_COMPARTMENT_OCID is set
    assert (settings.oci_user, settings.oci_fingerprint, settings.oci_key_file) == ("ocid1.user.oc1..u", "aa:bb",
                                                                                    "/keys/oci.pem")
    only = settings.with_(clouds=("oci",))
    assert unconfigured_clouds(only) == {} and isinstance(clouds_from_settings(only)["oci"], OciCloud)
    assert Settings.from_env({}, dotenv=False).clouds == ("aliyun", "aws")  # not in the plain default
    assert Settings.from_env(dict(OLD_DOTENV, RESPONDER_CLOUDS="oci"), dotenv=False).clouds == ("oci",)


def test_a_missing_oci_setting_is_named_and_oci_is_left_unconfigured():
    from responder.clouds.factory import clouds_from_settings, unconfigured_clouds, unconfigured_reason
    from responder.settings import Settings

    settings = Settings.from_env({k: v for k, v in OLD_DOTENV.items() if k != "OCI_FINGERPRINT"}, dotenv=False)
    settings = settings.with_(clouds=("oci",))
    assert unconfigured_clouds(settings) == {"oci": "no OCI API key: set OCI_FINGERPRINT"}
    assert "OCI_FINGERPRINT" in unconfigured_reason("oci", settings)
    assert clouds_from_settings(settings) == {}


def test_the_key_passphrase_and_pem_keys_never_reach_a_log_line():
    from responder.logsafe import Redactor, secret_values
    from responder.sandbox.oci_sign import new_api_key
    from responder.settings import Settings

    settings = Settings.from_env(dict(OLD_DOTENV, OCI_KEY_PASSPHRASE="correct-horse"), dotenv=False)
    assert "correct-horse" not in repr(settings)
    pem = new_api_key().private_pem
    body = pem.splitlines()[1]
    shown = Redactor(secret_values(settings)).redact(f"loading key {pem} with correct-horse; cut: {pem[:120]}")
    assert "correct-horse" not in shown and body not in shown and pem[40:100] not in shown


def test_the_oci_policy_names_every_operation_the_adapter_calls(oci_box):
    from pathlib import Path

    from oci_fixtures import SUBNET_ID as subnet

    cloud = oci_box.cloud
    cloud.availability_domains(REGION)
    image = cloud.platform_image(REGION, "Canonical Ubuntu", "22.04", A1)
    cloud.find_subnet(REGION, "public-subnet"), cloud.find_subnet(REGION, subnet), cloud.subnets(REGION, "vcn")
    cloud.instance_types(REGION)
    launched = cloud.launch(REGION, request("tok-policy", image=image)).instance_ids[0]
    oci_box.clock.advance(60)
    cloud.describe_instance(REGION, launched), cloud.list_instances(REGION, names=("a1-free",))
    made = cloud.create_image(REGION, launched, "img", "tok-image")
    cloud.describe_image(REGION, made)
    cloud.terminate_instance(REGION, launched)
    policy = (Path(__file__).resolve().parents[1] / "deploy" / "oci-policy.txt").read_text()
    called = set(oci_box.calls())
    assert len(called) == 13
    assert not [op for op in called if op not in policy], "operations deploy/oci-policy.txt does not name"


def test_the_app_with_oci_configured_starts_without_importing_the_sdk(oci_box, tmp_path):
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", **oci_box.env, "RESPONDER_CLOUDS": "oci", "RESPONDER_BACKGROUND_TICKER": "false",
           "RESPONDER_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    code = "import sys, responder.wsgi; print(sorted(m for m in sys.modules if m == 'oci' or m.startswith('oci.')))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"  # the SDK is loaded by the first OCI call, not by start-up


def test_a_scheduled_preemption_terminates_a_preemptible_instance_and_keeps_its_host(oci_box_factory):
    capacity = {"offers": [{"shape": A1, "availability_domain": AD1, "market": "spot", "available": 1}]}
    box = oci_box_factory(oci_scenario(capacity=capacity, preemptions=[{"at": 600, "shape": A1}]))
    spot = box.cloud.launch(REGION, request("tok-pre-1", market=Market.SPOT, name="spot")).instance_ids[0]
    steady = box.cloud.launch(REGION, request("tok-pre-2", name="steady")).instance_ids[0]
    box.clock.advance(599)
    assert box.cloud.describe_instance(REGION, spot).reclaiming is False
    box.clock.advance(1)
    info = box.cloud.describe_instance(REGION, spot)
    assert (info.spot, info.reclaiming, info.status) == (True, True, "TERMINATING")
    assert [s.instance_id for s in box.cloud.list_instances(REGION, tag_key="responder:target")] == [steady]
    box.clock.advance(60)
    with pytest.raises(NoCapacity):  # the reclaimed host went to someone else
        box.cloud.launch(REGION, request("tok-pre-3", market=Market.SPOT, name="spot"))
