"""Spot Placement Scores that mean what EC2 means: the emulator's scoring rules through boto3, the
scorer's groups and cache through the adapter, and `responder spot-scores`.

Parts: the emulator's rules (sets, units, Regions, zones, the 24-hour configuration limit, bad
input), candidate groups (pure), the adapter's per-(type, zone) scores, the command.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from hypothesis import given, strategies as st
from botocore.exceptions import ClientError

from aws_fixtures import *  # noqa: F401,F403
from aws_fixtures import REGION, client_for
from responder.clouds.aws import AwsCloud
from responder.clouds.spot_groups import base_variant, candidate_groups, distinct_count, parse_type
from spot_fixtures import family_scenario, run_cli, scenario_file

M_LARGE = ["m5.large", "m6i.large", "r5.large"]


@pytest.fixture
def families_emulator(scenario_dict, make_emulator):
    return make_emulator(family_scenario(scenario_dict))


def scores(ec2, **kwargs):
    answer = ec2.get_spot_placement_scores(**kwargs)["SpotPlacementScores"]
    zone_of = {z["ZoneId"]: z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]}
    return {zone_of.get(s.get("AvailabilityZoneId"), s["Region"]): s["Score"] for s in answer}


# -- the emulator scores a set, as EC2 does ------------------------------------------------------

def test_three_different_types_score_by_their_free_capacity_against_the_target(families_emulator):
    ec2 = client_for(families_emulator)
    assert scores(ec2, InstanceTypes=M_LARGE, TargetCapacity=1, SingleAvailabilityZone=True) == {
        "us-east-2a": 10, "us-east-2b": 10, "us-east-2c": 10}
    # 300 free per zone for the set: a target of 100 is likely (3), of 250 barely possible (1).
    assert set(scores(ec2, InstanceTypes=M_LARGE, TargetCapacity=100, SingleAvailabilityZone=True).values()) == {3}
    assert set(scores(ec2, InstanceTypes=M_LARGE, TargetCapacity=250, SingleAvailabilityZone=True).values()) == {1}


def test_one_or_two_types_score_low_however_much_is_free(families_emulator):
    ec2 = client_for(families_emulator)
    assert scores(ec2, InstanceTypes=["m5.large"], TargetCapacity=1) == {REGION: 3}
    assert scores(ec2, InstanceTypes=["m5.large", "m6i.large"], TargetCapacity=1) == {REGION: 3}


def test_a_type_with_and_without_instance_storage_counts_as_one_type(families_emulator):
    ec2 = client_for(families_emulator)
    assert base_variant("m5d.large") == "m5.large" and base_variant("m6gd.xlarge") == "m6g.xlarge"
    assert scores(ec2, InstanceTypes=["m5.large", "m5d.large", "m6i.large"], TargetCapacity=1) == {REGION: 3}


def test_a_region_score_counts_every_zone_and_a_zone_score_only_its_own(families_emulator):
    ec2 = client_for(families_emulator)
    # 300 free per zone, 900 in the Region: a target of 120 is 2 in any one zone, 7 across the Region.
    assert set(scores(ec2, InstanceTypes=M_LARGE, TargetCapacity=120, SingleAvailabilityZone=True).values()) == {2}
    assert scores(ec2, InstanceTypes=M_LARGE, TargetCapacity=120, RegionNames=[REGION]) == {REGION: 7}


def test_a_vcpu_target_counts_each_type_by_its_vcpus(families_emulator):
    ec2 = client_for(families_emulator)
    xlarge = ["m5.xlarge", "m6i.xlarge", "r5.xlarge"]  # 4 vCPUs each, 100 free each per zone
    by_units = scores(ec2, InstanceTypes=xlarge, TargetCapacity=400, SingleAvailabilityZone=True)
    by_vcpu = scores(ec2, InstanceTypes=xlarge, TargetCapacity=400, TargetCapacityUnitType="vcpu",
                     SingleAvailabilityZone=True)
    assert set(by_units.values()) == {1} and set(by_vcpu.values()) == {3}  # 300 // 400 vs 1200 // 400


def test_a_family_sold_out_on_spot_scores_one(families_emulator):
    ec2 = client_for(families_emulator)
    assert scores(ec2, InstanceTypes=["c5.large", "c5.xlarge", "c5.2xlarge"], TargetCapacity=1) == {REGION: 1}


def test_new_request_configurations_are_limited_per_24_hours_and_used_ones_can_be_retried(scenario_dict, make_emulator):
    emu = make_emulator(family_scenario(scenario_dict, configs_per_day=2))
    ec2 = client_for(emu)
    scores(ec2, InstanceTypes=M_LARGE, TargetCapacity=1)
    scores(ec2, InstanceTypes=M_LARGE, TargetCapacity=2)
    with pytest.raises(ClientError) as refused:
        scores(ec2, InstanceTypes=M_LARGE, TargetCapacity=3)
    assert refused.value.response["Error"]["Code"] == "MaxConfigLimitExceeded"
    assert scores(ec2, InstanceTypes=M_LARGE, TargetCapacity=1) == {REGION: 10}  # already used: answered
    emu.clock.advance(24 * 3600)
    assert scores(ec2, InstanceTypes=M_LARGE, TargetCapacity=3) == {REGION: 10}  # a new day


@pytest.mark.parametrize("kwargs, code, named", [
    ({"InstanceTypes": ["m5.large", "m5.huge"], "TargetCapacity": 1}, "InvalidParameterValue", "m5.huge"),
    ({"InstanceTypes": M_LARGE, "TargetCapacity": 0}, "InvalidParameterValue", "TargetCapacity"),
    ({"InstanceTypes": M_LARGE, "TargetCapacity": 1, "TargetCapacityUnitType": "cores"}, "InvalidParameterValue", "cores"),
    ({"InstanceTypes": M_LARGE, "TargetCapacity": 1, "RegionNames": ["mars-north-1"]}, "InvalidParameterValue",
     "mars-north-1"),
])
def test_bad_score_requests_are_refused_with_a_message_naming_the_problem(families_emulator, kwargs, code, named):
    # botocore would catch TargetCapacity=0 itself; the emulator must refuse what curl could send.
    unchecked = boto3.client("ec2", region_name=REGION, endpoint_url=families_emulator.endpoint_url,
                             config=Config(retries={"total_max_attempts": 1}, parameter_validation=False))
    with pytest.raises(ClientError) as refused:
        unchecked.get_spot_placement_scores(**kwargs)
    assert refused.value.response["Error"]["Code"] == code and named in refused.value.response["Error"]["Message"]


# -- candidate groups (pure) ---------------------------------------------------------------------

SHAPES = {"m5.large": (2, 8), "m6i.large": (2, 8), "m7i.large": (2, 8), "m5a.large": (2, 8),
          "c5.xlarge": (4, 8), "c6i.xlarge": (4, 8), "m5.xlarge": (4, 16), "r5.large": (2, 16)}


def test_candidates_are_grouped_by_shape_in_groups_of_at_least_three_different_types():
    groups = candidate_groups(["m5.large", "m6i.large", "m7i.large", "m5a.large", "c5.xlarge", "c6i.xlarge",
                               "m5.xlarge"], SHAPES.get)
    assert groups == [("m5.large", "m5a.large", "m6i.large", "m7i.large"),
                      ("c5.xlarge", "c6i.xlarge", "m5.xlarge")]  # two small shapes make one group


def test_a_short_tail_joins_the_group_before_it_and_few_candidates_make_one_group():
    assert candidate_groups(["m5.large", "m6i.large", "m7i.large", "r5.large"], SHAPES.get) == [
        ("m5.large", "m6i.large", "m7i.large", "r5.large")]
    assert candidate_groups(["m5.large", "r5.large"], SHAPES.get) == [("m5.large", "r5.large")]


def test_type_names_split_into_family_category_generation_and_size():
    name = parse_type("m6id.2xlarge")
    assert (name.family, name.category, name.generation, name.attributes, name.size) == ("m6id", "m", 6, "id", "2xlarge")
    assert parse_type("not-a-type") is None


# -- the adapter: per (type, zone) from groups, cached, within the limit --------------------------

PROBE = ["m5.large", "m6i.large", "r5.large", "c5.xlarge", "m5.xlarge", "r5.xlarge"]


def test_the_probe_scores_groups_of_three_or_more_and_each_type_gets_its_groups_zone_scores(families_emulator):
    cloud = AwsCloud(endpoint_url=families_emulator.endpoint_url, region_name=REGION)
    got = cloud.placement_scores(REGION, PROBE)
    sent = [c["params"] for c in families_emulator.calls_of("GetSpotPlacementScores")]
    assert len(sent) == 2
    for params in sent:
        types = [v for k, v in params.items() if k.startswith("InstanceType.")]
        assert len(types) >= 3 and params["SingleAvailabilityZone"] == "true" and params["RegionName.1"] == REGION
    assert set(got) == {(t, z) for t in PROBE for z in ("us-east-2a", "us-east-2b", "us-east-2c")}
    # c5.xlarge is sold out on spot, but its group (4 vCPUs) also holds m5.xlarge and r5.xlarge.
    assert got[("c5.xlarge", "us-east-2a")] == got[("m5.xlarge", "us-east-2a")] == 10


def test_a_repeated_probe_is_answered_from_the_configuration_cache(families_emulator):
    cloud = AwsCloud(endpoint_url=families_emulator.endpoint_url, region_name=REGION)
    first = cloud.placement_scores(REGION, PROBE)
    assert cloud.placement_scores(REGION, list(reversed(PROBE))) == first
    assert len(families_emulator.calls_of("GetSpotPlacementScores")) == 2


def test_a_group_the_configuration_limit_refuses_is_left_unscored_and_the_probe_goes_on(scenario_dict, make_emulator):
    emu = make_emulator(family_scenario(scenario_dict, configs_per_day=1))
    cloud = AwsCloud(endpoint_url=emu.endpoint_url, region_name=REGION)
    got = cloud.placement_scores(REGION, PROBE)
    assert {t for t, _ in got} == {"m5.large", "m6i.large", "r5.large"}
    refused = [c for c in emu.calls_of("GetSpotPlacementScores") if c["code"] == "MaxConfigLimitExceeded"]
    assert len(refused) == 1
    cloud.placement_scores(REGION, PROBE)  # within the cooldown: the refused group is not asked again
    assert len(emu.calls_of("GetSpotPlacementScores")) == 2


# -- responder spot-scores -----------------------------------------------------------------------

def test_spot_scores_ranks_the_families_and_marks_the_sold_out_one_unhealthy(tmp_path, scenario_dict):
    path = scenario_file(tmp_path, family_scenario(scenario_dict))
    result = run_cli("spot-scores", "--sandbox", "--scenario", path, "--families", "c5,m5,m6i,r5",
                     "--sizes", "large,xlarge,2xlarge", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["scores"] == [{"region": REGION, "score": 10}]
    assert [f["family"] for f in report["families"]] == ["m5", "m6i", "r5", "c5"]
    c5 = report["families"][-1]
    assert c5["best"] == 1 and not c5["healthy"] and c5["instance_types"] == ["c5.large", "c5.xlarge", "c5.2xlarge"]
    assert all(f["healthy"] for f in report["families"][:3])


def test_spot_scores_names_the_types_asked_that_the_region_does_not_offer_even_with_json(tmp_path, scenario_dict):
    path = scenario_file(tmp_path, family_scenario(scenario_dict))
    result = run_cli("spot-scores", "--sandbox", "--scenario", path, "--families", "m5,m6i",
                     "--sizes", "large,xlarge,2xlarge,huge", "--json")
    assert result.exit_code == 0, result.stderr
    scored = json.loads(result.stdout)["instance_types"]
    assert len(scored) == 6 and not any(t.endswith(".huge") for t in scored)
    assert f"scoring 6 of the 8 types asked: m5.huge, m6i.huge not offered in {REGION}" in result.stderr


def test_spot_scores_per_zone_and_the_few_types_warning(tmp_path, scenario_dict):
    path = scenario_file(tmp_path, family_scenario(scenario_dict))
    result = run_cli("spot-scores", "--sandbox", "--scenario", path, "--instance-types", "m5.large,m6i.large,r5.large,m5.xlarge",
                     "--single-az")
    assert result.exit_code == 0, result.stderr
    assert "spot placement scores per zone" in result.stdout and "us-east-2 us-east-2b" in result.stdout
    m5 = next(line for line in result.stdout.splitlines() if line.strip().startswith("m5 "))
    assert "fewer than 3 types" in m5 and " 3 low" in m5  # m5.large + m5.xlarge: two types score low


@pytest.mark.parametrize("args, named", [
    (["--instance-types", "m5.large,m5.huge"], "m5.huge"),
    (["--families", "m5,zz9"], "zz9"),
    (["--families", ""], "no families"),
    (["--families", "m5", "--min-score", "11"], "--min-score"),
    (["--families", "m5", "--min-score", "0"], "--min-score"),
    (["--families", "m5", "--instance-types", "m5.large"], "not both"),
    (["--families", "m5", "--regions", "mars-north-1"], "mars-north-1"),
])
def test_spot_scores_refuses_bad_input_with_exit_2_and_a_message(tmp_path, scenario_dict, args, named):
    path = scenario_file(tmp_path, family_scenario(scenario_dict))
    result = run_cli("spot-scores", "--sandbox", "--scenario", path, *args)
    assert result.exit_code == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_spot_scores_names_every_region_asked_and_a_family_sold_out_in_one_is_healthy_in_another(tmp_path, scenario_dict):
    data = family_scenario(scenario_dict)
    east = next(r for r in data["regions"] if r["cloud"] == "aws")
    data["regions"].append({"cloud": "aws", "region": "us-west-2", "account": east["account"],
                            "zones": ["us-west-2a", "us-west-2b"], "instance_types": east["instance_types"],
                            "subnets": [], "instances": []})
    result = run_cli("spot-scores", "--sandbox", "--scenario", scenario_file(tmp_path, data), "--families", "c5",
                     "--sizes", "large,xlarge,2xlarge", "--regions", "us-east-2,us-west-2", "--single-az", "--json")
    assert result.exit_code == 0, result.stderr
    c5 = json.loads(result.stdout)["families"][0]
    by_zone = {(s["region"], s["zone"]): s["score"] for s in c5["scores"]}
    assert by_zone == {("us-east-2", "us-east-2a"): 1, ("us-east-2", "us-east-2b"): 1, ("us-east-2", "us-east-2c"): 1,
                       ("us-west-2", "us-west-2a"): 10, ("us-west-2", "us-west-2b"): 10}
    assert c5["best"] == 10 and c5["healthy"]


def test_spot_scores_runs_on_the_credential_chain_against_an_endpoint(families_emulator, monkeypatch):
    monkeypatch.setenv("RESPONDER_AWS_ENDPOINT_URL", families_emulator.endpoint_url)
    result = run_cli("spot-scores", "--region", REGION, "--families", "m5,r5", "--sizes", "large,xlarge,2xlarge", "--json")
    assert result.exit_code == 0, result.stderr
    assert [f["family"] for f in json.loads(result.stdout)["families"]] == ["m5", "r5"]
    assert len(families_emulator.calls_of("GetSpotPlacementScores")) == 3  # the set, then each family


@given(st.lists(st.sampled_from(sorted(SHAPES)), max_size=8))
def test_candidate_groups_cover_every_candidate_once_and_are_never_short_when_they_need_not_be(candidates):
    groups = candidate_groups(candidates, SHAPES.get)
    flat = [t for g in groups for t in g]
    assert sorted(flat) == sorted(set(candidates))
    if distinct_count(set(candidates)) >= 3:
        assert all(distinct_count(g) >= 3 for g in groups)
    else:
        assert len(groups) <= 1
