"""Snapshots nobody can predict (`snapshot_time:`, race_model.SnapshotTime): each disk's snapshot
takes the nominal figure times a seeded factor, the same for the same seed and disk on every run,
inside [min_factor, max_factor] with a heavy right tail; met through the real ECS SDK on a
ManualClock (the image turns Available exactly when its drawn duration has passed)."""

from __future__ import annotations

import copy
import statistics

import pytest
from aliyun_fixtures import DOOMED, SMALL, ecs_call, no_proxy_env, sdk_client  # noqa: F401

from responder.sandbox import race_model
from responder.sandbox.aliyun_ecs import AliyunEcsEmulator
from responder.sandbox.race_model import SnapshotTime
from responder.sandbox.scenario import ScenarioError, load_scenario
from responder.sandbox.stock import ManualClock

SPREAD = {"distribution": "lognormal", "sigma": 0.6, "min_factor": 0.5, "max_factor": 3, "seed": 7}


def test_factors_stay_in_range_with_a_heavy_right_tail():
    spread = SnapshotTime.parse(SPREAD)
    factors = [spread.factor(f"d-{n}", 0) for n in range(4000)]
    assert min(factors) == 0.5 and max(factors) == 3.0  # both clips are reached
    assert 0.9 < statistics.median(factors) < 1.1  # around the nominal figure
    beyond_double = sum(f > 2 for f in factors) / len(factors)
    below_half = sum(f < 0.55 for f in factors) / len(factors)
    assert 0.08 < beyond_double < 0.18 and below_half > 0.08
    assert statistics.mean(factors) > statistics.median(factors)  # the tail is on the slow side


def test_the_draw_is_keyed_by_seed_disk_and_snapshot_number():
    one, again, other = SnapshotTime.parse(SPREAD), SnapshotTime.parse(dict(SPREAD)), \
        SnapshotTime.parse(dict(SPREAD, seed=8))
    draws = [one.factor("d-a", n) for n in range(20)]
    assert draws == [again.factor("d-a", n) for n in range(20)]  # the same scenario, the same world
    assert draws != [other.factor("d-a", n) for n in range(20)]
    assert len(set(draws)) > 10  # each snapshot of a disk draws anew
    assert SnapshotTime.parse(None).factor("d-a", 0) == 1.0  # absent: the nominal figure
    assert SnapshotTime.parse({"distribution": "fixed"}).factor("d-a", 3) == 1.0


@pytest.mark.parametrize("value, message", [
    ({"distribution": "normal"}, "snapshot_time.distribution: must be lognormal or fixed"),
    ({"sigma": "wide"}, "snapshot_time.sigma: must be a number above 0"),
    ({"min_factor": 2, "max_factor": 1}, "snapshot_time.min_factor: must not exceed max_factor"),
    ({"seed": 1.5}, "snapshot_time.seed: must be a whole number"),
    ({"spread": 1}, "snapshot_time.spread: not a field"),
    ([0.5, 3], "snapshot_time: must be a mapping"),
])
def test_a_bad_snapshot_time_is_named(value, message):
    with pytest.raises(ScenarioError, match=message):
        load_scenario(dict(copy.deepcopy(SMALL), snapshot_time=value))


def _image_ready_at(seed: int) -> tuple[float, float]:
    """(drawn seconds, nominal seconds) of DOOMED's first image, seen through the SDK."""
    data = dict(copy.deepcopy(SMALL), image_timing="disks", snapshot_time=dict(SPREAD, seed=seed))
    clock = ManualClock(0.0)
    emu = AliyunEcsEmulator(load_scenario(data), clock=clock).start()
    try:
        client = sdk_client(emu)
        image = ecs_call(client, "CreateImage", InstanceId=DOOMED, ImageName="probe")["ImageId"]
        disk = emu.world.instances[DOOMED]["disk_ids"][0]
        nominal = race_model.snapshot_seconds("cloud_essd", 40, incremental=False)
        drawn = nominal * SnapshotTime.parse(dict(SPREAD, seed=seed)).factor(disk, 0)

        def status() -> str:
            found = ecs_call(client, "DescribeImages", ImageId=image, Status="Creating,Available")
            return found["Images"]["Image"][0]["Status"]

        clock.advance(drawn - 1)
        assert status() == "Creating"
        clock.advance(2)
        assert status() == "Available"
        return drawn, nominal
    finally:
        emu.stop()


def test_an_image_is_ready_when_its_drawn_snapshot_time_has_passed(no_proxy_env):  # noqa: F811
    seven, nominal = _image_ready_at(7)
    eight, _ = _image_ready_at(8)
    assert seven != eight and seven != nominal
    assert 0.5 * nominal <= min(seven, eight) and max(seven, eight) <= 3 * nominal
