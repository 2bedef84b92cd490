"""A preempted OCI instance no target owns, through the `oci` SDK on the emulator: a one-shot
target made from the instance relaunches it once with its shape, size, image, boot volume,
subnet (read from its primary VNIC), display name, tags and SSH key, its AD first; copies of
the event make nothing more; a forged event makes nothing; out of host capacity the one-shot
target hunts and lands later, then is done; RESPONDER_OCI_RELAUNCH_PREEMPTED=false records only.
"""

from __future__ import annotations

import pytest

from oci_fixtures import (A1, AD1, AD2, REGION, SUBNET_ID, UBUNTU_ARM_OLD, launched,  # noqa: F401
                          oci_box_factory, oci_scenario, preemption_event)
from responder.capacity.budget import ApiBudget
from responder.clouds.base import InstanceInfo, LaunchRequest
from responder.intake import handle_body
from responder.model import Market, Offering
from responder.replace.runner import TaskRunner
from responder.settings import Settings
from responder.store import Store
from responder.targets import events, preemption
from responder.targets.table import TargetStore

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq2Z0pd7vWkSjQ0mY4Y4mHc9m8b2Wn6d8Vw1c3pXyZa me@laptop"
TICK = b'{"kind": "tick"}'


@pytest.fixture(autouse=True)
def forget_answers():
    preemption._answers.clear()


@pytest.fixture
def rig(oci_box_factory, tmp_path):
    def make(scenario=None, faults=None, **settings):
        box = oci_box_factory(scenario or oci_scenario(limits=[]), **({"faults": faults} if faults else {}))
        url = f"sqlite:///{tmp_path}/oci.db"
        settings = {"targets_interval_seconds": 0.0, "hunt_min_interval_seconds": 0.0, **settings}
        base = Settings(database_url=url, background_ticker=False, **settings)
        # The API budget counts on the cloud's clock: the scenario's, here moved by hand.
        runner = TaskRunner(Store(url, upgrade=True), {"oci": box.cloud}, box.settings(base),
                            budget=ApiBudget(box.clock))
        return box, runner, TargetStore(runner.store.engine)
    return make


def by_hand(box, ad: str = AD2, market: Market = Market.SPOT) -> str:
    """An instance made outside the responder: no responder:target tag."""
    source = InstanceInfo("", REGION, "", A1, "", True, False, name="batch-7", tags=(("team", "batch"),),
                          user_data="I2Nsb3VkLWNvbmZpZwo=")
    return box.cloud.launch(REGION, LaunchRequest(
        source=source, image_id=UBUNTU_ARM_OLD, offerings=(Offering(A1, ad, market),),
        subnet_by_zone=(("", SUBNET_ID),), client_token="made-by-hand", shape_ocpus=2, shape_memory_gb=12,
        boot_volume_gb=60, ssh_public_key=KEY)).instance_ids[0]


def test_an_unowned_preempted_instance_is_relaunched_once_like_the_original(rig):
    box, runner, tstore = rig()
    original = by_hand(box)
    box.clock.advance(60)
    box.cloud.terminate_instance(REGION, original)  # what OCI does when it takes the capacity back
    status, answer = handle_body(runner, preemption_event(box, original))
    name = "preempted-" + original[-12:]
    assert (status, answer["outcome"], answer["target"], answer["created"]) == (202, "accepted", name, True)
    first, replacement = launched(box)
    assert first["id"] == original and replacement["id"] != original
    assert replacement["availabilityDomain"] == AD2  # the original's AD first (the API lists AD1 first)
    for field in ("shape", "shapeConfig", "sourceDetails", "displayName", "metadata", "preemptibleInstanceConfig"):
        assert replacement[field] == first[field], field
    assert (replacement["shapeConfig"], replacement["sourceDetails"]["bootVolumeSizeInGBs"]) == \
        ({"ocpus": 2.0, "memoryInGBs": 12.0}, 60)
    assert replacement["sourceDetails"]["imageId"] == UBUNTU_ARM_OLD  # the original's image, not the newest
    assert replacement["createVnicDetails"]["subnetId"] == SUBNET_ID  # from the original's primary VNIC
    assert replacement["metadata"] == {"ssh_authorized_keys": KEY, "user_data": "I2Nsb3VkLWNvbmZpZwo="}
    tags = replacement["freeformTags"]
    assert tags["team"] == "batch" and tags["responder:target"] == name
    assert tags["responder:token"] not in ("made-by-hand", "")
    row = tstore.get(name).to_json()
    assert (row["state"], row["held"], row["count"], row["spend_cap"], row["zones"]) == ("done", 1, 1, 1, [AD2, AD1])
    assert (row["preempted"], row["preemptions"][0]["instance_id"], row["launch"]["once"]) == (1, original, True)
    assert ("preempted", name) in [(k, f["target"]) for k, f in events.recent("preempted")]
    assert name in [f["target"] for _, f in events.recent("acquired")]


def test_the_same_event_delivered_five_times_makes_one_target_and_one_instance(rig):
    box, runner, tstore = rig()
    original = by_hand(box)
    box.cloud.terminate_instance(REGION, original)
    answers = []
    for n in range(5):
        if n % 2:
            preemption._answers.clear()  # later than the remembered answer: verified with OCI again
        answers.append(handle_body(runner, preemption_event(box, original))[1])
        handle_body(runner, TICK)
        box.clock.advance(60)
    assert [a["outcome"] for a in answers] == ["accepted"] * 5
    assert [a.get("created") for a in answers].count(True) == 1
    assert len(launched(box)) == 2 and box.calls().count("LaunchInstance") == 2
    assert [r.target.name for r in tstore.list()] == ["preempted-" + original[-12:]]
    assert tstore.list()[0].stats["state"] == "done"


@pytest.mark.parametrize("forgery", ["running", "on_demand", "no_such_instance"])
def test_an_event_oci_does_not_confirm_makes_no_target_and_no_launch(rig, forgery):
    box, runner, tstore = rig()
    if forgery == "no_such_instance":
        instance = "ocid1.instance.oc1.ap-chuncheon-1.anwhksljdoesnotexist00001"
    else:
        instance = by_hand(box, market=Market.ONDEMAND if forgery == "on_demand" else Market.SPOT)
        if forgery == "on_demand":
            box.cloud.terminate_instance(REGION, instance)  # terminating, but never preemptible
    before = len(launched(box))
    status, answer = handle_body(runner, preemption_event(box, instance))
    assert (status, answer["outcome"]) == (200, "rejected")
    handle_body(runner, TICK)
    assert tstore.list() == [] and len(launched(box)) == before
    assert box.calls().count("LaunchInstance") == before


def test_out_of_host_capacity_the_one_shot_target_hunts_and_lands_later_then_stops(rig):
    capacity = {"offers": [{"shape": A1, "availability_domain": AD2, "market": "spot", "available": 1},
                           {"shape": A1, "availability_domain": AD1, "market": "spot", "available": 0,
                            "schedule": [{"at": 1800, "available": 1}]}]}
    preempt = [{"at": 120, "shape": A1, "availability_domain": AD2, "count": 1}]
    box, runner, tstore = rig(oci_scenario(limits=[], capacity=capacity, preemptions=preempt))
    original = by_hand(box)
    box.clock.advance(120)  # OCI takes it back; its host goes to someone else
    answer = handle_body(runner, preemption_event(box, original))[1]
    name = answer["target"]
    assert answer["outcome"] == "accepted" and len(launched(box)) == 1
    hunting = tstore.get(name).to_json()
    assert (hunting["state"], hunting["attempts_by_zone"]) == ("hunting", {AD2: 1, AD1: 1})
    assert hunting["outcomes"] == {"out_of_capacity": 2}
    while box.clock() < 1800:
        box.clock.advance(60)
        handle_body(runner, TICK)
    landed = tstore.get(name).to_json()
    assert (landed["state"], landed["held"]) == ("done", 1) and landed["outcomes"]["launched"] == 1
    replacement = launched(box)[-1]
    assert (replacement["availabilityDomain"], replacement["displayName"]) == (AD1, "batch-7")
    launches = box.calls().count("LaunchInstance")
    box.cloud.terminate_instance(REGION, replacement["id"])  # gone again: a done one-shot target buys nothing
    for _ in range(3):
        box.clock.advance(60)
        handle_body(runner, TICK)
    assert box.calls().count("LaunchInstance") == launches
    assert tstore.get(name).to_json()["state"] == "done"


def test_the_one_shot_target_is_paced_like_every_oci_hunt(rig):
    from responder.capacity.ledger import SqlLedger
    from responder.targets import tick
    from responder.targets.reconcile import Reconciler

    capacity = {"offers": [{"shape": A1, "availability_domain": AD2, "market": "spot", "available": 1},
                           {"shape": A1, "availability_domain": AD1, "market": "spot", "available": 0,
                            "schedule": [{"at": 600, "available": 1}]}]}
    preempt = [{"at": 120, "shape": A1, "availability_domain": AD2, "count": 1}]
    box, runner, tstore = rig(oci_scenario(limits=[], capacity=capacity, preemptions=preempt),
                              hunt_min_interval_seconds=60.0)
    engine = runner.store.engine  # the ticks the event and the timer run, on the scenario's clock
    tick._made[runner] = Reconciler(TargetStore(engine, clock=box.clock), runner.store, runner.clouds,
                                    runner.settings, SqlLedger(engine), clock=box.clock, rand=lambda: 1.0)
    original = by_hand(box)
    box.clock.advance(120)
    name = handle_body(runner, preemption_event(box, original))[1]["target"]
    assert box.calls().count("LaunchInstance") == 3  # the original, then AD2 and AD1 refused
    for _ in range(3):  # ticks within the minimum interval ask OCI nothing for this target
        box.clock.advance(15)
        handle_body(runner, TICK)
    assert box.calls().count("LaunchInstance") == 3
    box.clock.advance(15)  # 60 s after the last try
    handle_body(runner, TICK)
    assert box.calls().count("LaunchInstance") == 5
    while box.clock() < 660:
        box.clock.advance(60)
        handle_body(runner, TICK)
    row = tstore.get(name).to_json()
    assert (row["state"], row["outcomes"]["launched"], len(launched(box))) == ("done", 1, 2)


@pytest.mark.parametrize("fault", [{"kind": "error", "code": "InternalError", "status": 500, "message": "Internal."},
                                   {"kind": "lost"}])
def test_a_failed_or_lost_relaunch_answer_is_retried_and_makes_one_instance(rig, fault):
    rule = dict(fault, action="LaunchInstance", after=1, times=1)  # the original's launch goes through
    box, runner, tstore = rig(faults=[rule])
    original = by_hand(box)
    box.cloud.terminate_instance(REGION, original)
    name = handle_body(runner, preemption_event(box, original))[1]["target"]
    for _ in range(3):
        box.clock.advance(60)
        handle_body(runner, TICK)
    row = tstore.get(name).to_json()
    assert (row["state"], row["held"], len(launched(box))) == ("done", 1, 2), row


def test_a_preempted_replacement_is_itself_relaunched_by_a_one_shot_target_of_its_own(rig):
    box, runner, tstore = rig()
    original = by_hand(box)
    box.cloud.terminate_instance(REGION, original)
    first = handle_body(runner, preemption_event(box, original))[1]["target"]
    replacement = launched(box)[-1]["id"]
    box.clock.advance(60)
    box.cloud.terminate_instance(REGION, replacement)
    second = handle_body(runner, preemption_event(box, replacement))[1]
    assert (second["outcome"], second["target"]) == ("accepted", "preempted-" + replacement[-12:])
    assert len(launched(box)) == 3 and {r.target.name for r in tstore.list()} == {first, second["target"]}


def test_with_relaunch_off_an_unowned_preemption_is_recorded_only(rig):
    box, runner, tstore = rig(oci_relaunch_preempted=False)
    original = by_hand(box)
    box.cloud.terminate_instance(REGION, original)
    status, answer = handle_body(runner, preemption_event(box, original))
    assert (status, answer["outcome"], answer["target"]) == (200, "noted", None)
    assert "not relaunched" in answer["reason"] and "RESPONDER_OCI_RELAUNCH_PREEMPTED" in answer["reason"]
    assert tstore.list() == [] and len(launched(box)) == 1
    assert ("preempted", "-") in [(k, f["target"]) for k, f in events.recent("preempted")]


def test_the_relaunch_setting_is_read_from_the_environment():
    assert Settings.from_env({}, dotenv=False).oci_relaunch_preempted is True
    assert Settings.from_env({"RESPONDER_OCI_RELAUNCH_PREEMPTED": "false"}, dotenv=False).oci_relaunch_preempted is False
