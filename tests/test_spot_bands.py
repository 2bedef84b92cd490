"""The interruption bands the clouds publish, through the real SDKs on the sandbox: DescribeSpotAdvice
answers the scenario's bands in ECS's documented shape (the SDK's own DescribeSpotAdviceRequest),
the Spot Instance Advisor's document is served over HTTP and read once per process per day, the
ranking puts a calmer pool first with its reason in the record, and no band data (none published,
a failed read) leaves the old order without failing a task."""

from __future__ import annotations

import copy

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aws_fixtures import *  # the emulator, cloud and scenario_dict fixtures
from aws_fixtures import REGION as AWS_REGION

from responder.clouds import spot_bands
from responder.clouds.aliyun import AliyunCloud
from responder.clouds.aws import AwsCloud
from responder.replace import bands
from responder.replace.planner import SAME_SHAPE_OTHER_FAMILY, SAME_TYPE_OTHER_ZONE, SAME_TYPE_SAME_ZONE, Candidate
from responder.replace.runner import TaskRunner
from responder.sandbox.scenario import load_scenario
from responder.sandbox.stock import ScenarioError
from responder.store import Store
from responder.web import create_app
from tests.aliyun_fixtures import aliyun_emulator, no_proxy_env  # noqa: F401
from tests.conftest import event_bytes
from tests.scenarios import scenario

ALI = "cn-hangzhou"
SAMPLE = "i-bp1ecr7pz2yq4v5go2go"  # ecs.g7.large in cn-hangzhou-i (the default scenario)
STRESSED = {"default": "<5%", "pools": [{"type": "ecs.g7.large", "zone": "cn-hangzhou-i", "band": ">20%"},
                                        {"type": "ecs.g6.large", "rate": 7.0}]}


def aliyun_scenario(advice=STRESSED) -> dict:
    data = scenario(offers=[], cloud="aliyun")
    if advice is None:
        data["regions"][0].pop("spot_advice")
    else:
        data["regions"][0]["spot_advice"] = copy.deepcopy(advice)
    return data


def adapter(emulator) -> AliyunCloud:
    return AliyunCloud("sandbox-key", "sandbox-secret", endpoint=emulator.endpoint)


# -- the emulators -------------------------------------------------------------------------------
def test_describe_spot_advice_answers_the_scenarios_bands_in_the_documented_shape(aliyun_emulator):  # noqa: F811
    cloud = adapter(aliyun_emulator(aliyun_scenario()))
    answer = cloud._call(ALI, "DescribeSpotAdvice", "test", {"RegionId": ALI, "InstanceTypes.1": "ecs.g7.large",
                                                            "InstanceTypes.2": "ecs.g6.large"})
    assert answer["RegionId"] == ALI and answer["RequestId"]
    zones = {z["ZoneId"]: z["AvailableSpotResources"]["AvailableSpotResource"]
             for z in answer["AvailableSpotZones"]["AvailableSpotZone"]}
    assert sorted(zones) == ["cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"]
    first = {r["InstanceType"]: r for r in zones["cn-hangzhou-i"]}
    assert set(first) == {"ecs.g7.large", "ecs.g6.large"}
    assert first["ecs.g7.large"]["InterruptionRate"] == 25.0 and first["ecs.g7.large"]["InterruptRateDesc"] == "10-100%"
    assert first["ecs.g6.large"]["InterruptionRate"] == 7.0 and first["ecs.g6.large"]["InterruptRateDesc"] == "5-10%"
    assert {r["InstanceType"]: r["InterruptRateDesc"] for r in zones["cn-hangzhou-j"]}["ecs.g7.large"] == "0-3%"
    assert all(1 <= r["AverageSpotDiscount"] <= 100 for z in zones.values() for r in z)
    # By shape rather than by name, and one zone: the documented filters.
    shaped = cloud._call(ALI, "DescribeSpotAdvice", "test", {"RegionId": ALI, "Cores": 2, "Memory": 8.0,
                                                            "ZoneId": "cn-hangzhou-j"})
    (only,) = shaped["AvailableSpotZones"]["AvailableSpotZone"]
    assert only["ZoneId"] == "cn-hangzhou-j"
    assert {r["InstanceType"] for r in only["AvailableSpotResources"]["AvailableSpotResource"]} == {
        "ecs.g7.large", "ecs.g6.large", "ecs.hfg7.large", "ecs.g8y.large"}
    # The adapter's reading: every pool on the Advisor's scale, the stressed one in the top band.
    read = cloud.spot_bands(ALI, ["ecs.g7.large", "ecs.g6.large"])
    assert read[("ecs.g7.large", "cn-hangzhou-i")] == spot_bands.TOP
    assert read[("ecs.g6.large", "cn-hangzhou-k")] == 1 and read[("ecs.g7.large", "cn-hangzhou-j")] == 0


@pytest.mark.parametrize("params,code", [
    ({f"InstanceTypes.{n}": "ecs.g7.large" for n in range(1, 12)}, "InvalidParameter.InstanceTypes"),
    ({"ZoneId": "cn-hangzhou-z"}, "InvalidZoneId.NotFound"),
])
def test_describe_spot_advice_refuses_what_the_api_refuses(aliyun_emulator, params, code):  # noqa: F811
    with pytest.raises(Exception) as refused:
        adapter(aliyun_emulator(aliyun_scenario()))._call(ALI, "DescribeSpotAdvice", "test",
                                                          {"RegionId": ALI, **params})
    cause = refused.value.__cause__
    assert isinstance(cause, ServerException) and cause.get_error_code() == code


def test_the_adapter_asks_ten_types_a_call(aliyun_emulator):  # noqa: F811
    emulator = aliyun_emulator(aliyun_scenario())
    types = ["ecs.g7.large", "ecs.g6.large", "ecs.hfg7.large", "ecs.c7.xlarge"] * 3  # twelve names
    adapter(emulator).spot_bands(ALI, types)
    asked = [c for c in emulator.calls if c["action"] == "DescribeSpotAdvice"]
    assert len(asked) == 2 and all(c["status"] == 200 for c in asked)


def test_the_advisor_document_is_served_over_http_and_read_once_a_day(make_emulator, scenario_dict):
    region = next(r for r in scenario_dict["regions"] if r["cloud"] == "aws")
    region["spot_advice"] = {"default": "<5%", "pools": [{"type": "m5.large", "zone": "us-east-2a", "band": ">20%"},
                                                         {"type": "m6i.large", "band": "15-20%"}]}
    emulator = make_emulator(scenario_dict)
    now = [0.0]
    cloud = AwsCloud(endpoint_url=emulator.endpoint_url, region_name=AWS_REGION,
                     advisor_url=emulator.endpoint_url + "/spot-advisor-data.json")
    cloud.advisor.clock = lambda: now[0]
    found = cloud.spot_bands(AWS_REGION, ["m5.large", "m6i.large", "m7i.large", "x9.huge"])
    # Per region and type: m5.large's zones (25 %, 2.5 %, 2.5 %) average 10 %, on the edge: the higher band.
    assert found == {("m5.large", ""): 2, ("m6i.large", ""): 3, ("m7i.large", ""): 0}
    assert spot_bands.band_for(found, "m6i.large", "us-east-2b") == 3
    cloud.spot_bands("eu-west-1", ["m5.large"])
    now[0] += 86399.0
    cloud.spot_bands(AWS_REGION, ["m5.large"])
    assert emulator.advisor_fetches == 1  # one document for every region, a day
    now[0] += 2.0
    cloud.spot_bands(AWS_REGION, ["m5.large"])
    assert emulator.advisor_fetches == 2
    assert not [c for c in emulator.calls if "advisor" in c["action"].lower()]  # not an EC2 call


def test_a_failed_advisor_fetch_raises_once_and_waits_before_the_next(make_emulator):
    emulator = make_emulator()
    cloud = AwsCloud(endpoint_url=emulator.endpoint_url, region_name=AWS_REGION,
                     advisor_url=emulator.endpoint_url + "/nothing-here.json")
    with pytest.raises(OSError, match="Spot Instance Advisor"):
        cloud.spot_bands(AWS_REGION, ["m5.large"])
    cloud.advisor.url = emulator.endpoint_url + "/spot-advisor-data.json"
    with pytest.raises(OSError, match="lately"):  # not asked again at once
        cloud.spot_bands(AWS_REGION, ["m5.large"])
    assert emulator.advisor_fetches == 0


def test_a_scenario_band_that_is_not_one_is_named_at_load():
    data = aliyun_scenario({"pools": [{"type": "ecs.g7.large", "band": "30-40%"}]})
    with pytest.raises(ScenarioError, match=r"regions\[0\]\.spot_advice\.pools\[0\]\.band"):
        load_scenario(data)


# -- the rule ------------------------------------------------------------------------------------
def spot(instance_type: str, zone: str, tier: str) -> Candidate:
    return Candidate(instance_type, zone, "spot", f"vsw-{zone}", tier)


CANDIDATES = [spot("g7", "i", SAME_TYPE_SAME_ZONE), spot("g7", "j", SAME_TYPE_OTHER_ZONE),
              spot("g6", "i", SAME_SHAPE_OTHER_FAMILY), spot("g6", "j", SAME_SHAPE_OTHER_FAMILY)]


def test_a_top_band_pool_goes_after_calmer_equivalents_and_a_lower_band_first_within_a_class():
    view = bands.BandView({("g7", "i"): 4, ("g7", "j"): 4, ("g6", "i"): 1, ("g6", "j"): 0}, "DescribeSpotAdvice")
    ranked, reasons = bands.rank(CANDIDATES, view)
    assert [(c.instance_type, c.zone) for c in ranked] == [("g6", "j"), ("g6", "i"), ("g7", "i"), ("g7", "j")]
    assert len(reasons) == 2 and all(">20%" in r and "DescribeSpotAdvice" in r for r in reasons)
    # Below the top band, the rank class stays first: only the zones of the original type reorder.
    ranked, reasons = bands.rank(CANDIDATES, bands.BandView({("g7", "i"): 3, ("g7", "j"): 1}, "x"))
    assert [(c.instance_type, c.zone) for c in ranked] == [("g7", "j"), ("g7", "i"), ("g6", "i"), ("g6", "j")]
    assert reasons == [("ranked after calmer pools: g7 in i (spot) is in the published interruption band 15-20% "
                        "a month (x)")]


def test_no_bands_keep_the_planners_order():
    for view in (None, bands.BandView(note="no published interruption bands: down")):
        ranked, reasons = bands.rank(CANDIDATES, view)
        assert ranked == CANDIDATES and reasons == ([] if view is None else [view.note])


# -- end to end on the Aliyun sandbox -----------------------------------------------------------
@pytest.fixture
def replace_on(sandbox_factory, test_settings):
    def run(data, settings=None):
        box = sandbox_factory(data)
        chosen = test_settings.with_(**(settings or {}))
        runner = TaskRunner(Store(chosen.database_url), box.clouds, chosen)
        client = create_app(chosen, runner=runner).test_client()
        response = client.post("/events", data=event_bytes("aliyun/cloudmonitor-interruption.json"),
                               content_type="application/octet-stream")
        assert response.status_code in (200, 202), response.get_json()
        task = runner.run_to_end(response.get_json()["task"]["id"], timeout=60)
        assert task.status == "done", task.reason
        return task, box
    return run


def placed(task) -> tuple[str, str]:
    return task.record.launch.replacement.instance_type, task.record.launch.replacement.zone


def test_a_replacement_out_of_a_top_band_pool_goes_to_a_calmer_zone_of_the_same_type(replace_on):
    task, box = replace_on(aliyun_scenario())
    assert placed(task) == ("ecs.g7.large", "cn-hangzhou-j")
    order = [(c.instance_type, c.zone) for c in task.record.plan.candidates]
    assert order.index(("ecs.g7.large", "cn-hangzhou-i")) > order.index(("ecs.g6.large", "cn-hangzhou-i"))
    assert any("ecs.g7.large in cn-hangzhou-i" in r and ">20%" in r and "DescribeSpotAdvice" in r
               for r in task.record.plan.ranking)
    assert [c["action"] for c in box.emulators["aliyun"].calls].count("RunInstances") == 1


def test_no_band_data_replaces_in_the_old_order(replace_on):
    task, _ = replace_on(aliyun_scenario(advice=None))
    assert placed(task) == ("ecs.g7.large", "cn-hangzhou-i")
    assert any("no published interruption bands" in r for r in task.record.plan.ranking)


def test_bands_turned_off_are_not_read(replace_on):
    off, box = replace_on(aliyun_scenario(), settings={"spot_bands": False})
    assert placed(off) == ("ecs.g7.large", "cn-hangzhou-i") and off.record.plan.ranking == []
    assert "DescribeSpotAdvice" not in [c["action"] for c in box.emulators["aliyun"].calls]


def test_a_failed_band_read_never_fails_the_task(replace_on):
    failing = aliyun_scenario()
    failing["faults"] = [{"action": "DescribeSpotAdvice", "code": "InternalError", "times": 5}]
    task, _ = replace_on(failing)
    assert placed(task) == ("ecs.g7.large", "cn-hangzhou-i")
    assert any("could not be read" in r for r in task.record.plan.ranking)


def test_on_aws_a_top_band_type_goes_after_a_calm_type_of_the_same_shape(responder_factory):
    """The Advisor's band is per type: m5.large at >20 % in every zone sends the replacement to a
    calm same-shape type, with one fleet call and one fetch of the document."""
    data = scenario(offers=[], cloud="aws")
    data["regions"][0]["spot_advice"] = {"default": "<5%", "pools": [{"type": "m5.large", "band": ">20%"}]}
    client, runner, box = responder_factory(data)
    response = client.post("/events", data=event_bytes("aws/spot-interruption-warning.json"),
                           content_type="application/json")
    assert response.status_code in (200, 202), response.get_json()
    task = runner.run_to_end(response.get_json()["task"]["id"], timeout=60)
    assert task.status == "done", task.reason
    assert task.record.launch.replacement.instance_type in ("m6i.large", "m7i.large")
    assert any("m5.large" in r and "the Spot Instance Advisor" in r for r in task.record.plan.ranking)
    assert box.calls("aws").count("CreateFleet") == 1 and box.emulators["aws"].advisor_fetches == 1
