"""The sandbox knows the real world's names, so the old ODCR tool's examples run as typed.

Parts: the default scenario's regions (every AWS region moto knows, every Aliyun region, the ECS
catalogue), the old tool's examples on `--sandbox` (us-west-2 with moto's EC2 catalogue, an Aliyun
region the samples never use), an unknown zone's error naming it with its square brackets, and
`odcr expand` of a reservation made by `odcr create` on one shared sandbox.
"""
import json

import pytest
from click.testing import CliRunner

from responder.cli import cli
from responder.sandbox.scenario import load_scenario
from responder.sandbox.world import ALIYUN_ZONES, aws_regions, ecs_type_catalogue


def odcr(*args: str, env: dict | None = None, tmp_path=None):
    ledger = ["--ledger", f"sqlite:///{tmp_path}/ledger.db"] if tmp_path else []
    result = CliRunner().invoke(cli, ["odcr", *args, "--wait-after-success", "0", *ledger], env=env,
                                catch_exceptions=False)
    last = result.stdout.strip().splitlines()[-1]
    return result.exit_code, json.loads(last), result.stderr


def test_the_default_scenario_holds_every_aws_and_aliyun_region():
    scenario = load_scenario()
    aws = {r.region for r in scenario.regions_of("aws")}
    aliyun = {r.region for r in scenario.regions_of("aliyun")}
    assert aws == set(aws_regions()) and {"us-west-2", "eu-central-1", "ap-southeast-7", "us-east-2"} <= aws
    assert aliyun == set(ALIYUN_ZONES) and {"cn-hangzhou", "cn-shanghai", "ap-southeast-1"} <= aliyun
    west = next(r for r in scenario.regions_of("aws") if r.region == "us-west-2")
    assert west.zones[:2] == ["us-west-2a", "us-west-2b"] and west.instance_types == [], "moto's catalogue applies"


def test_the_regions_the_samples_use_keep_their_own_data():
    hangzhou = next(r for r in load_scenario().regions_of("aliyun") if r.region == "cn-hangzhou")
    assert hangzhou.zones == ["cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"] and hangzhou.instances


def test_the_ecs_catalogue_is_realistic():
    catalogue = {t["type"]: t for t in ecs_type_catalogue()}
    assert len(catalogue) > 200
    assert catalogue["ecs.g7.large"] == {"type": "ecs.g7.large", "family": "ecs.g7", "cpu": 2, "memory_gib": 8}
    assert catalogue["ecs.r8i.4xlarge"]["memory_gib"] == 128 and catalogue["ecs.c8y.xlarge"]["arch"] == "arm64"


@pytest.mark.parametrize("itype,zone,count", [("m5.large", "us-west-2a", 8), ("r7i.metal-24xl", "us-west-2a", 2),
                                              ("t3.medium", "us-west-2b", 3)])
def test_the_old_tools_examples_run_as_typed_on_the_sandbox(itype, zone, count, tmp_path):
    code, result, _ = odcr("create", "--instance-type", itype, "--availability-zone", zone, "--count", str(count),
                           "--region", "us-west-2", "--sandbox", tmp_path=tmp_path)
    assert code == 0 and result["success"] is True and result["actual_count"] == count, result
    assert result["created_odcrs"][0]["availability_zone"] == zone


def test_an_aliyun_region_the_samples_never_use_sells_from_the_catalogue(tmp_path):
    code, result, _ = odcr("create", "--cloud", "aliyun", "--instance-type", "ecs.g8i.xlarge", "--availability-zone",
                           "cn-shanghai-l", "--count", "2", "--region", "cn-shanghai", "--sandbox", tmp_path=tmp_path)
    assert code == 0 and result["actual_count"] == 2, result


def test_an_unknown_zone_is_named_with_its_square_brackets(tmp_path):
    code, result, stderr = odcr("create", "--instance-type", "m5.large", "--availability-zone", "us-west-2z",
                                "--count", "2", "--region", "us-west-2", "--sandbox", tmp_path=tmp_path)
    assert code == 2 and "[us-west-2z]" in result["error"]["message"]
    assert "Invalid availability zone: [us-west-2z]" in stderr, stderr


def test_odcr_expand_grows_a_reservation_made_on_the_shared_sandbox(tmp_path):
    from responder.sandbox.shared import SharedSandbox, export_lines

    with SharedSandbox(load_scenario()) as box:
        env = dict(line.removeprefix("export ").split("=", 1) for line in export_lines(box))
        code, created, _ = odcr("create", "--instance-type", "m5.large", "--availability-zone", "us-west-2a",
                                "--count", "4", "--region", "us-west-2", env=env, tmp_path=tmp_path)
        assert code == 0, created
        reservation = created["created_odcrs"][0]["odcr_id"]
        code, expanded, _ = odcr("expand", "--odcr-id", reservation, "--count", "3", "--region", "us-west-2",
                                 env=env, tmp_path=tmp_path)
        state = box.state()["aws"]["reservations"]
    assert code == 0 and expanded["success"] is True, expanded
    held = next(r for r in state if reservation in json.dumps(r))
    assert "7" in json.dumps(held), held
