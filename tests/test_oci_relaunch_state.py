"""Which state an OCI relaunch starts from, through the `oci` SDK on the emulator: the record of a
preemption says the relaunch starts clean from the original's image, and where OCI preserved the
boot volume (preemption action preserve_boot_volume) that the original's state is on it."""

from __future__ import annotations

from oci_fixtures import REGION, oci_box_factory, preemption_event  # noqa: F401
from responder.intake import handle_body
from test_oci_relaunch import by_hand, forget_answers, rig  # noqa: F401


def relaunch_record(box, runner, tstore, original: str) -> dict:
    box.clock.advance(60)
    box.cloud.terminate_instance(REGION, original)  # what OCI does when it takes the capacity back
    status, answer = handle_body(runner, preemption_event(box, original))
    assert status == 202 and answer["outcome"] == "accepted", answer
    return tstore.get(answer["target"]).to_json()["preemptions"][0]


def test_a_relaunch_of_an_instance_whose_boot_volume_went_with_it_starts_clean(rig):  # noqa: F811
    box, runner, tstore = rig()
    original = by_hand(box)  # launched preemptible with preserve_boot_volume=false
    preemption = relaunch_record(box, runner, tstore, original)
    assert "starts clean" in preemption["root_state"] and "not preserved" in preemption["root_state"]


def test_a_preserved_boot_volume_is_named_as_the_holder_of_the_original_state(rig):  # noqa: F811
    box, runner, tstore = rig()
    original = by_hand(box)
    config = box.emulator.world.instances[original]["preemptibleInstanceConfig"]
    config["preemptionAction"]["preserveBootVolume"] = True  # as its owner launched it
    preemption = relaunch_record(box, runner, tstore, original)
    assert "preserved (preserve_boot_volume)" in preemption["root_state"]
    assert box.emulator.world.instances[original]["availabilityDomain"] in preemption["root_state"]
