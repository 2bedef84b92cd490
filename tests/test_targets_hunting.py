"""Hunting on the sandbox, through the real SDKs, on both clouds: an `instances` target for a
scarce shape is tried on every tick across its zones, keeps its statistics, lands when the
drought ends, and then skips (its instance is found by tag, or by Name when it predates us).
"""

from __future__ import annotations

import time

import pytest

from responder.targets import events
from responder.targets.model import LaunchSpec
from tests.scenarios import scenario
from tests.targets_fixtures import CLOUD_PLACES, Rig, drought, make_target

SOURCES = {"aws": ("i-0b662ef9931388ba0", {"us-east-2a": "subnet-0a1b2c3d4e5f60001",
                                           "us-east-2b": "subnet-0a1b2c3d4e5f60002"}),
           "aliyun": ("i-bp1healthy0000000000", {"cn-hangzhou-i": "vsw-bp1xgvok3myac6ctry030",
                                                 "cn-hangzhou-j": "vsw-bp1j4k2lmn7opq3rst5uv"})}


def _image(box, cloud: str) -> str:
    region = CLOUD_PLACES[cloud][0]
    port = box.clouds[cloud]
    image = port.create_image(region, SOURCES[cloud][0], f"hunt-{cloud}", f"hunt-{cloud}-image")
    for _ in range(200):
        if port.describe_image(region, image).state == "available":
            return image
        time.sleep(0.05)
    raise AssertionError("the sandbox image never became available")


def _hunter(cloud: str, image: str, **launch) -> "object":
    spec = LaunchSpec(image_id=image, subnets=tuple(SOURCES[cloud][1].items()), tags=(("team", "ml"),), **launch)
    return make_target(cloud, name="gpu", count=1, zones=2, kind="instances", launch=spec)


@pytest.mark.parametrize("cloud", ["aws", "aliyun"])
def test_a_hunt_keeps_trying_every_zone_through_a_drought_then_lands_and_then_skips(sandbox_factory, tmp_path, cloud):
    dry = [drought(cloud, 0, []), drought(cloud, 0, [{"at": 3600, "add": 1}], zone_index=1)]
    box = sandbox_factory(scenario(offers=dry, cloud=cloud), time_scale=1)
    rig = Rig(box, f"sqlite:///{tmp_path}/hunt.db")
    rig.tstore.add(_hunter(cloud, _image(box, cloud)))
    rig.tick()
    rig.tick()
    dry_row = rig.row("gpu")
    assert dry_row.stats["held"] == 0 and dry_row.to_json()["state"] == "hunting"
    assert dry_row.stats["attempts"] == 4  # two zones refused, on each of two ticks
    assert dry_row.stats["last_error"] in ("InsufficientInstanceCapacity", "OperationDenied.NoStock")
    assert dry_row.stats["first_attempt"] <= dry_row.stats["last_attempt"]
    assert ("hunt_started", "gpu") in [(k, f["target"]) for k, f in events.recent("hunt_started")]
    rig.advance(3600)
    rig.tick()
    landed = rig.row("gpu").to_json()
    # the first zone is still dry and is asked first (zones are in order of preference): 4 + 2
    assert (landed["held"], landed["state"], landed["attempts"]) == (1, "met", 6)
    assert landed["acquired_at"] and landed["holdings"][0]["zone"] == CLOUD_PLACES[cloud][1][1]
    calls_before = len(box.calls(cloud))
    rig.tick()
    after = box.calls(cloud)[calls_before:]
    assert after == ["DescribeInstances"]  # found by its tag: nothing launched
    assert rig.row("gpu").stats["attempts"] == 6


@pytest.mark.parametrize("cloud", ["aws", "aliyun"])
def test_an_instance_made_before_the_responder_is_found_by_its_name_and_nothing_is_launched(sandbox_factory, tmp_path, cloud):
    box = sandbox_factory(scenario(cloud=cloud), time_scale=1)
    rig = Rig(box, f"sqlite:///{tmp_path}/hunt.db")
    rig.tstore.add(_hunter(cloud, "img-unused", name="worker-1"))
    rig.tick()
    row = rig.row("gpu")
    assert (row.stats["held"], row.stats.get("attempts", 0)) == (1, 0)
    assert not [c for c in box.calls(cloud) if c in ("RunInstances", "CreateFleet")]
