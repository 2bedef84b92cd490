"""Back to spot on the EC2 sandbox through boto3: a Spot Instance that fell back to on-demand moves
back to Spot on its type once stock returns (EC2 tells stock only at the launch: refused launches
buy nothing and are tried again), with the root state written on the on-demand one, its data
volume, its Elastic IP and the original's private IP, buying exactly one more instance; a crash at
every step resumes."""

from __future__ import annotations

import pytest

from revert_fixtures import ON_DEMAND, RETURN, WRITES, Back
from responder.settings import Settings


@pytest.fixture
def back(tmp_path):
    started = []

    def start(**settings_changes):
        settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                            **settings_changes)
        folder = tmp_path / str(len(started))
        folder.mkdir()
        one = Back("aws", settings, folder)
        started.append(one)
        return one

    yield start
    for one in started:
        one.stop()


def moved_back(b: Back, crash: bool = False):
    fell = b.fall_back()
    data = next(d.disk_id for d in fell.record.race.disks if d.kind == "data")
    b.clock.advance_to(fell.record.timings["running"] + b.settings.revert_after_seconds)
    if crash:  # from when the stock is back: the first launch buys, and its answer is lost
        b.clock.advance_to(RETURN + 1)
        b.lose_answers(WRITES["aws"])
    move = b.move(crash=crash)
    assert move.status == "done" and move.record.revert.outcome == "moved", move.reason
    return fell, move, data


def test_a_fallback_to_on_demand_moves_back_to_spot_with_its_state_volume_and_address(back):
    b = back(keep_private_ip=True)
    fell, move, data = moved_back(b)
    on_demand, spot = fell.record.launch.replacement_ids[0], move.record.revert.bought_instance_id
    assert b.instances()[spot] == ("m5.large", True, "running")
    assert b.instances()[on_demand][2] == "terminated" and b.running() == [spot]
    assert b.root_of(spot) == ON_DEMAND and b.data_disk_on(data) == spot and b.address_on() == spot
    assert b.purchases() == 2  # refused launches before the stock came back bought nothing
    original_ip = fell.record.source.private_ip  # moved onto the on-demand one, and on again with the state
    assert original_ip in b.private_ips(spot)[1:] and move.record.revert.private_ip == original_ip
    assert move.record.revert.started_at >= RETURN and move.record.revert.stock_checks >= 1


def test_a_crash_at_every_step_of_the_move_resumes_without_a_second_purchase(back):
    b = back()
    fell, move, data = moved_back(b, crash=True)
    lost = {c["action"] for c in b.emulator.calls if c.get("fault") == "lost"}
    assert {"CreateFleet", "CreateImage", "CreateReplaceRootVolumeTask", "TerminateInstances", "AttachVolume"} <= lost
    spot = move.record.revert.bought_instance_id
    assert b.purchases() == 2 and b.running() == [spot]
    assert b.root_of(spot) == ON_DEMAND and b.data_disk_on(data) == spot and b.address_on() == spot
    assert len(b.moves()) == 1
