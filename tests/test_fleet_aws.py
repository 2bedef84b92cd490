"""The fleet read on the EC2 sandbox through boto3 and the AWS adapter: the running instances of a
tag as InstanceInfo in one DescribeInstances (no call per instance), and which of them the revert
pass adopts: none, for the Advisor publishes bands per region and type, so no other zone of a
stressed type is calmer and a planned move would only wait (docs/churn.md)."""

from __future__ import annotations

import pytest
from race_fixtures import Race, shape

from responder.revert.fleet import look_fleet
from responder.settings import Settings

WEB, API, DB, CACHE = "i-0aaa00000000000a1", "i-0aaa00000000000a2", "i-0aaa00000000000a3", "i-0aaa00000000000a4"


@pytest.fixture
def race(tmp_path):
    scenario = shape("aws", "web", "api", "db", "cache")
    region = scenario["regions"][0]
    for inst in region["instances"]:
        inst.pop("spot_request_state")  # healthy: no interruption in flight
        if inst["id"] != CACHE:
            inst["tags"]["fleet"] = "yes"
    region["spot_advice"] = {"default": "<5%", "pools": [{"type": "m5.large", "band": ">20%"}]}
    one = Race(scenario, Settings(database_url="sqlite://", background_ticker=False,
                                  fleet_selectors=(("aws", region["region"], "fleet", "yes"),)), tmp_path)
    yield one
    one.stop()


def test_the_fleet_is_read_by_its_tag_in_one_call_and_none_adopted_where_bands_are_per_type(race):
    cloud = race.box.clouds["aws"]
    found = {i.instance_id: i for i in cloud.fleet_instances(race.region, "fleet", "yes")}
    assert sorted(found) == [WEB, API, DB] and all(i.spot for i in found.values())
    assert found[DB].instance_type == "m5.xlarge" and found[DB].zone == "us-east-2b"
    before = len([a for a in race.actions() if a == "DescribeInstances"])
    looks = {look.info.instance_id: look for look in look_fleet(race.runner, race.clock())}
    assert len([a for a in race.actions() if a == "DescribeInstances"]) == before + 1
    for stressed in (WEB, API):  # m5.large: >20 % in the region, so in every zone
        assert "no other zone of its type is published calmer" in looks[stressed].why
    assert "below RESPONDER_CALM_BAND" in looks[DB].why and CACHE not in looks
    assert [r for r in race.store.list(limit=20) if r.kind == "adopted"] == []
