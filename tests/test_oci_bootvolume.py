"""The relaunch of a preempted OCI instance from its preserved boot volume, through the `oci` SDK
on the emulator: preserved → the one-shot target boots from that very volume, in its AD only, and
the record says the original's state is kept (the emulator shows the volume, with its content,
attached to the new instance); a redelivered event adds nothing; not preserved → from the image,
clean; a preserved volume that is gone by launch time → the image, and the fallback is named. The
emulator's rules (attached, other AD, gone) are checked at the wire too.
"""

from __future__ import annotations

import dataclasses

import oci
import pytest
from oci_fixtures import A1, AD1, AD2, REGION, SUBNET_ID, UBUNTU_ARM_OLD, launched, oci_box_factory, preemption_event  # noqa: F401
from test_oci_relaunch import TICK, by_hand, forget_answers, rig  # noqa: F401

from responder.clouds.base import InstanceInfo, LaunchRequest
from responder.intake import handle_body
from responder.model import Market, Offering
from responder.notify.messages import make_notice, render
from responder.targets import events, preemption
from responder.targets.hunt import spec_line
from responder.targets.model import LaunchSpec, Target, TargetInvalid
from responder.targets.oci_spec import check_oci

MARKER = "files written on the original before the preemption"


def preempt(box, original: str, preserve: bool) -> dict:
    """OCI takes the capacity back: the scenario's preemption fires and the instance's own
    preemption action decides whether its boot volume outlives it."""
    world = box.emulator.world
    instance = world.instances[original]
    instance["preemptibleInstanceConfig"]["preemptionAction"]["preserveBootVolume"] = preserve  # as launched
    volume = world.boot_volumes[instance["bootVolumeId"]]
    volume["content"] = MARKER
    world.config.preemptions.append({"at": box.clock(), "availability_domain": instance["availabilityDomain"]})
    return volume


def preempted(make_rig, preserve: bool, wait: float, **rig_kwargs):
    """An instance made by hand (AD2), preempted a minute later, the event handled `wait` seconds
    after: (box, runner, tstore, original, its boot volume, the event's answer)."""
    box, runner, tstore = make_rig(**rig_kwargs)
    original = by_hand(box)
    box.clock.advance(60)
    volume = preempt(box, original, preserve=preserve)
    box.clock.advance(wait)
    return box, runner, tstore, original, volume, relaunch(box, runner, original)


def relaunch(box, runner, original: str) -> dict:
    status, answer = handle_body(runner, preemption_event(box, original))
    assert status == 202 and answer["outcome"] == "accepted", answer
    return answer


def test_a_preserved_boot_volume_is_what_the_relaunch_boots_from_in_its_ad(rig):  # noqa: F811
    # In AD2 (the API lists AD1 first); TERMINATED by the event: the volume is detached, AVAILABLE.
    box, runner, tstore, original, volume, answer = preempted(rig, preserve=True, wait=31)
    _, replacement = launched(box)
    assert replacement["sourceDetails"] == {"sourceType": "bootVolume", "bootVolumeId": volume["id"]}
    assert replacement["availabilityDomain"] == AD2 and replacement["bootVolumeId"] == volume["id"]
    world = box.emulator.world
    assert world.boot_volumes[volume["id"]]["instance"] == replacement["id"]
    assert world.boot_volumes[volume["id"]]["content"] == MARKER  # the original's state is on the relaunch
    assert world.boot_volume_state(volume) == "ATTACHED"
    image_id = box.cloud.create_image(REGION, replacement["id"], "of-the-relaunch", "img-token")
    assert world.images[image_id]["os"] == world.images[UBUNTU_ARM_OLD]["os"]  # the volume's image is its base
    row = tstore.get(answer["target"]).to_json()
    assert (row["state"], row["held"], row["zones"], row["launch"]["boot_volume_id"]) == \
        ("done", 1, [AD2], volume["id"])
    assert "keeps the original's boot volume state" in row["preemptions"][0]["root_state"]
    notice = [f for _, f in events.recent("preempted") if f["target"] == answer["target"]][-1]
    assert volume["id"] in notice["root_state"] and volume["id"] in answer["root_state"]
    assert volume["id"] in tstore.get(answer["target"]).stats["root_state"]
    # A redelivered event adds nothing: no target, no launch.
    preemption._answers.clear()  # later than the remembered answer: verified with OCI again
    again = relaunch(box, runner, original)
    handle_body(runner, TICK)
    assert again["target"] == answer["target"] and not again.get("created")
    assert len(launched(box)) == 2 and box.calls().count("LaunchInstance") == 2


def test_a_relaunch_while_the_original_still_holds_its_volume_waits_then_boots_from_it(rig):  # noqa: F811
    # TERMINATING at the event: the volume is still attached, LaunchInstance answers 409.
    box, runner, tstore, _, volume, answer = preempted(rig, preserve=True, wait=1)
    assert len(launched(box)) == 1 and tstore.get(answer["target"]).to_json()["held"] == 0
    box.clock.advance(60)
    handle_body(runner, TICK)
    assert launched(box)[-1]["bootVolumeId"] == volume["id"] and len(launched(box)) == 2


def test_a_volume_that_went_with_the_instance_leaves_the_image_and_the_record_says_clean(rig):  # noqa: F811
    box, _, tstore, _, volume, answer = preempted(rig, preserve=False, wait=31)
    replacement = launched(box)[-1]
    assert replacement["sourceDetails"]["sourceType"] == "image"
    assert replacement["sourceDetails"]["imageId"] == UBUNTU_ARM_OLD
    assert box.emulator.world.boot_volume(volume["id"]) is None  # deleted with the instance
    row = tstore.get(answer["target"]).to_json()
    state = tstore.get(answer["target"]).stats["root_state"]
    assert "starts clean" in state and "not preserved" in state
    assert row["zones"] == [AD2, AD1] and not row["launch"]["boot_volume_id"]


def test_a_preserved_volume_gone_before_the_launch_falls_back_to_the_image_and_says_so(rig):  # noqa: F811
    # The event comes while the original is TERMINATING: the first launch waits.
    box, runner, tstore, original, volume, answer = preempted(rig, preserve=True, wait=1)
    # The volume is deleted meanwhile (DeleteBootVolume, which the emulator does not serve: it is
    # marked as gone with its instance).
    box.emulator.world.instances[original]["preserveBootVolume"] = False
    box.clock.advance(60)
    handle_body(runner, TICK)
    replacement = launched(box)[-1]
    assert replacement["sourceDetails"]["sourceType"] == "image" and replacement["availabilityDomain"] == AD2
    assert replacement["freeformTags"]["responder:target"] == answer["target"]
    fallback = [f for _, f in events.recent("relaunch_fallback") if f["target"] == answer["target"]]
    assert fallback and fallback[-1]["boot_volume_id"] == volume["id"] and "gone" in fallback[-1]["reason"]
    assert tstore.get(answer["target"]).to_json()["held"] == 1


@pytest.mark.parametrize("case", ["attached", "other_ad", "gone"])
def test_the_emulator_refuses_a_boot_volume_it_cannot_boot_from(oci_box_factory, case):  # noqa: F811
    box = oci_box_factory()
    original = by_hand(box)
    world = box.emulator.world
    box.clock.advance(60)
    if case != "attached":
        world.terminate(original, preserve_boot_volume=case != "gone")
        box.clock.advance(31)
    instance = world.instances[original]
    client = box.cloud._client(REGION, "compute")
    details = oci.core.models.LaunchInstanceDetails(
        availability_domain=AD1 if case == "other_ad" else instance["availabilityDomain"],
        compartment_id=instance["compartmentId"], shape=instance["shape"],
        shape_config=oci.core.models.LaunchInstanceShapeConfigDetails(ocpus=1, memory_in_gbs=6),
        source_details=oci.core.models.InstanceSourceViaBootVolumeDetails(boot_volume_id=instance["bootVolumeId"]),
        create_vnic_details=oci.core.models.CreateVnicDetails(subnet_id=instance["createVnicDetails"]["subnetId"]))
    with pytest.raises(oci.exceptions.ServiceError) as err:
        client.launch_instance(details)
    expected = {"attached": (409, "Conflict"), "other_ad": (400, "InvalidParameter"),
                "gone": (404, "NotAuthorizedOrNotFound")}[case]
    assert (err.value.status, err.value.code) == expected
    assert len(launched(box)) == 1



def oci_target(**launch) -> Target:
    spec = LaunchSpec(image_id=UBUNTU_ARM_OLD, subnet="ocid1.subnet.oc1.ap-chuncheon-1.aaaa", ocpus=1, memory_gb=6,
                      market="spot", **launch)
    return Target(name="t", cloud="oci", region=REGION, zones=(AD2,), instance_types=("VM.Standard.A1.Flex",),
                  count=1, kind="instances", launch=spec)


@pytest.mark.parametrize("change, field", [
    ({"launch": {"boot_volume_id": "vol-1"}}, "boot_volume_id"),
    ({"launch": {"boot_volume_id": "ocid1.image.oc1.ap-chuncheon-1.aaaa"}}, "boot_volume_id"),
    ({"launch": {"boot_volume_id": "ocid1.bootvolume.oc1.ap-chuncheon-1.aaaa"}, "zones": (AD2, AD1)}, "zones"),
])
def test_a_target_booting_from_a_volume_names_a_boot_volume_ocid_and_one_ad(change, field):
    t = oci_target(**change["launch"])
    if "zones" in change:
        t = dataclasses.replace(t, zones=change["zones"])
    with pytest.raises(TargetInvalid) as err:
        check_oci(t)
    assert err.value.field == field
    good = oci_target(boot_volume_id="ocid1.bootvolume.oc1.ap-chuncheon-1.aaaa")
    assert check_oci(good) is good
    assert "from boot volume ocid1.bootvolume.oc1.ap-chuncheon-1.aaaa" in spec_line(good)


def test_a_lost_answer_to_the_launch_from_the_volume_buys_one_instance(rig):  # noqa: F811
    # The first LaunchInstance is the original's (by hand); the relaunch's answer is lost: the
    # instance is made, and the next tick finds it by its token instead of buying a second one.
    lost = [{"action": "LaunchInstance", "kind": "lost", "after": 1, "times": 1}]
    box, runner, tstore, _, volume, answer = preempted(rig, preserve=True, wait=31, faults=lost)
    for _ in range(3):
        box.clock.advance(60)
        handle_body(runner, TICK)
    assert len(launched(box)) == 2 and launched(box)[-1]["bootVolumeId"] == volume["id"]
    assert tstore.get(answer["target"]).to_json()["held"] == 1
    assert [c.get("fault") for c in box.emulator.calls_of("LaunchInstance")] == [None, "lost"]


def test_a_volume_someone_else_boots_meanwhile_leaves_the_image(rig):  # noqa: F811
    # The first launch waits: the original still holds the volume.
    box, runner, tstore, _, volume, answer = preempted(rig, preserve=True, wait=1)
    box.clock.advance(31)
    source = InstanceInfo("", REGION, "", A1, "", True, False, name="by-hand")
    box.cloud.launch(REGION, LaunchRequest(
        source=source, image_id="", offerings=(Offering(A1, AD2, Market.SPOT),), subnet_by_zone=(("", SUBNET_ID),),
        client_token="someone-else", shape_ocpus=1, shape_memory_gb=6, boot_volume_id=volume["id"]))
    box.clock.advance(60)
    handle_body(runner, TICK)
    replacement = launched(box)[-1]
    assert replacement["sourceDetails"]["sourceType"] == "image" and len(launched(box)) == 3
    fallback = [f for _, f in events.recent("relaunch_fallback") if f["target"] == answer["target"]]
    assert fallback and "attached to a" in fallback[-1]["reason"]
    title, body = render(make_notice("relaunch_fallback", "k", **fallback[-1]))
    assert "starts clean" in title and volume["id"] in body and "attached to a RUNNING instance" in body
    assert tstore.get(answer["target"]).to_json()["held"] == 1


def test_boot_volume_attachments_are_listed_per_ad_and_compartment_and_stay_once_detached(oci_box_factory):  # noqa: F811
    box = oci_box_factory()
    original = by_hand(box)
    world, client = box.emulator.world, box.cloud._client(REGION, "compute")
    compartment = world.instances[original]["compartmentId"]
    listed = client.list_boot_volume_attachments(AD2, compartment, instance_id=original).data
    assert [(a.boot_volume_id, a.lifecycle_state) for a in listed] == \
        [(world.instances[original]["bootVolumeId"], "ATTACHING")]
    assert client.list_boot_volume_attachments(AD1, compartment, instance_id=original).data == []
    world.terminate(original, preserve_boot_volume=True)
    box.clock.advance(31)
    assert [a.lifecycle_state for a in client.list_boot_volume_attachments(AD2, compartment).data] == ["DETACHED"]
    with pytest.raises(oci.exceptions.ServiceError) as err:
        client.list_boot_volume_attachments(AD2, "")
    assert (err.value.status, err.value.code) == (400, "MissingParameter")
