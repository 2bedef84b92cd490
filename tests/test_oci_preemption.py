"""An OCI preemption event (events/oci/), through the `oci` SDK on the emulator: verified against
the cloud (preemptible, terminating), recorded on the owning target's row and relaunched at once
by that target with the original's shape, size, image, subnet and tags; a redelivery buys
nothing more; an event the cloud does not confirm is rejected; an instance whose target is gone
is relaunched by a one-shot target (tests/test_oci_relaunch.py).
"""

from __future__ import annotations

import pytest

from oci_fixtures import (A1, REGION, SUBNET_ID, UBUNTU_ARM_NEW, launched, oci_box_factory,  # noqa: F401
                          oci_scenario, preemption_event)
from responder.intake import handle_body
from responder.replace.runner import TaskRunner
from responder.settings import Settings
from responder.store import Store
from responder.targets import events, preemption
from responder.targets.model import LaunchSpec, Target
from responder.targets.table import TargetStore

SPEC = LaunchSpec(ocpus=2, memory_gb=12, image_os="Canonical Ubuntu", image_os_version="22.04",
                  subnet="public-subnet", market="spot", tags=(("team", "batch"),), name="batch-worker")


@pytest.fixture(autouse=True)
def forget_answers():
    preemption._answers.clear()  # each test's instances are its own


@pytest.fixture
def world(oci_box_factory, tmp_path):
    box = oci_box_factory(oci_scenario(limits=[]))
    url = f"sqlite:///{tmp_path}/oci.db"
    settings = box.settings(Settings(database_url=url, targets_interval_seconds=0.0, hunt_min_interval_seconds=0.0,
                                     background_ticker=False))
    runner = TaskRunner(Store(url, upgrade=True), {"oci": box.cloud}, settings)
    tstore = TargetStore(runner.store.engine)
    tstore.add(Target(name="workers", cloud="oci", region=REGION, zones=(), instance_types=(A1,), count=1,
                      kind="instances", launch=SPEC))
    return box, runner, tstore


def test_a_preempted_target_instance_is_verified_recorded_and_relaunched_once_like_the_original(world):
    box, runner, tstore = world
    handle_body(runner, b'{"kind": "tick"}')
    (original,) = launched(box)
    box.clock.advance(60)
    box.cloud.terminate_instance(REGION, original["id"])  # what OCI does when it takes the capacity back
    status, answer = handle_body(runner, preemption_event(box, original["id"]))
    assert (status, answer["outcome"], answer["target"]) == (202, "accepted", "workers")
    first, replacement = launched(box)
    assert first["id"] == original["id"] and replacement["id"] != original["id"]
    for field in ("shape", "shapeConfig", "sourceDetails", "displayName", "preemptibleInstanceConfig"):
        assert replacement[field] == original[field], field
    assert replacement["sourceDetails"]["imageId"] == UBUNTU_ARM_NEW
    assert replacement["createVnicDetails"]["subnetId"] == SUBNET_ID
    assert {k: v for k, v in replacement["freeformTags"].items() if k != "responder:token"} == \
        {k: v for k, v in original["freeformTags"].items() if k != "responder:token"}
    assert replacement["freeformTags"]["responder:token"] != original["freeformTags"]["responder:token"]
    row = tstore.get("workers").to_json()
    assert (row["preempted"], row["held"], row["preemptions"][0]["instance_id"]) == (1, 1, original["id"])
    assert ("preempted", "workers") in [(k, f["target"]) for k, f in events.recent("preempted")]
    again = handle_body(runner, preemption_event(box, original["id"]))[1]  # the same event, delivered again
    assert (again["outcome"], again["duplicate"]) == ("accepted", True) and len(launched(box)) == 2
    preemption._answers.clear()  # later than the remembered answer: verified again, and still no second buy
    late = handle_body(runner, preemption_event(box, original["id"]))[1]
    assert (late["outcome"], late.get("duplicate")) == ("accepted", None) and len(launched(box)) == 2


def test_an_event_the_cloud_does_not_confirm_is_rejected_and_nothing_is_launched(world):
    box, runner, tstore = world
    handle_body(runner, b'{"kind": "tick"}')
    (running,) = launched(box)
    status, answer = handle_body(runner, preemption_event(box, running["id"]))  # still RUNNING: not reclaimed
    assert (status, answer["outcome"]) == (200, "rejected") and "not marked for reclamation" in answer["reason"]
    missing = "ocid1.instance.oc1.ap-chuncheon-1.anwhksljdoesnotexist00001"
    assert handle_body(runner, preemption_event(box, missing))[1]["outcome"] == "rejected"
    assert len(launched(box)) == 1 and tstore.get("workers").to_json()["preempted"] == 0
    box.cloud.terminate_instance(REGION, running["id"])  # the real reclamation follows the early event
    assert handle_body(runner, preemption_event(box, running["id"]))[1]["outcome"] == "accepted"
    assert len(launched(box)) == 2


def test_copies_of_an_event_for_an_instance_oci_does_not_know_cost_one_read_an_hour(world, monkeypatch):
    box, runner, _ = world
    missing = preemption_event(box, "ocid1.instance.oc1.ap-chuncheon-1.anwhksljdoesnotexist00002")
    now = [1000.0]
    monkeypatch.setattr(preemption.time, "monotonic", lambda: now[0])  # mock only time: the hour passes at once
    answers = []
    for step in (0, 61, 3000, 538, 2):  # the copy at +3599 s is still answered from memory; +3601 s is read
        now[0] += step
        answers.append(handle_body(runner, missing)[1])
    assert [a["outcome"] for a in answers] == ["rejected"] * 5
    assert [a.get("duplicate") for a in answers] == [None, True, True, True, None]
    assert box.calls().count("GetInstance") == 2


def test_a_preempted_instance_whose_target_is_gone_is_relaunched_by_a_one_shot_target(world):
    box, runner, tstore = world
    handle_body(runner, b'{"kind": "tick"}')
    (original,) = launched(box)
    tstore.remove("workers")  # its responder:target tag names a target that no longer exists
    box.cloud.terminate_instance(REGION, original["id"])
    status, answer = handle_body(runner, preemption_event(box, original["id"]))
    name = "preempted-" + original["id"][-12:]
    assert (status, answer["outcome"], answer["target"]) == (202, "accepted", name)
    replacement = launched(box)[-1]
    assert replacement["freeformTags"]["responder:target"] == name and replacement["freeformTags"]["team"] == "batch"
    assert tstore.get("workers") is None and tstore.get(name).to_json()["state"] == "done"
