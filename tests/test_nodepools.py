"""`responder nodepools`: two karpenter.sh/v1 NodePools from the families that scored well, valid
against Karpenter's NodePool CRD (tests/data/karpenter.sh_nodepools.yaml, openAPIV3Schema checked
with jsonschema; the CEL rules the output could break are checked by hand below).

Parts: SCHEMA, validate (schema + CEL-rule checks), the command on the sandbox, the builder.
"""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from aws_fixtures import *  # noqa: F401,F403
from responder.spot.nodepools import HealthyFamily, PoolError, PoolOptions, nodepools
from spot_fixtures import family_scenario, run_cli, scenario_file

CRD = yaml.safe_load((Path(__file__).parent / "data" / "karpenter.sh_nodepools.yaml").read_text())
SCHEMA = next(v for v in CRD["spec"]["versions"] if v["name"] == "v1")["schema"]["openAPIV3Schema"]
# The CRD's own CEL rule lists the karpenter.k8s.aws labels a requirement may use.
_AWS_KEYS = set(re.findall(r'"(karpenter\.k8s\.aws/[a-z-]+)"', yaml.safe_dump(SCHEMA)))
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def validate(doc: dict) -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    assert doc["apiVersion"] == "karpenter.sh/v1" and doc["kind"] == "NodePool"
    assert DNS_1123.match(doc["metadata"]["name"])
    for req in doc["spec"]["template"]["spec"]["requirements"]:
        key = req["key"]
        assert key not in ("karpenter.sh/nodepool", "kubernetes.io/hostname")
        assert key == "karpenter.sh/capacity-type" or not key.split("/")[0].endswith("karpenter.sh")
        assert not key.split("/")[0].endswith("karpenter.k8s.aws") or key in _AWS_KEYS
        assert req["operator"] != "In" or req["values"]


def requirement(doc: dict, suffix: str) -> list[str]:
    return next(r["values"] for r in doc["spec"]["template"]["spec"]["requirements"] if r["key"].endswith(suffix))


@pytest.fixture
def scenario(tmp_path, scenario_dict):
    return scenario_file(tmp_path, family_scenario(scenario_dict))


FAMILY_ARGS = ("--families", "m5,m6i,c5,r5", "--sizes", "large,xlarge,2xlarge")


def test_nodepools_are_valid_spot_first_and_leave_out_the_family_that_scored_low(scenario):
    result = run_cli("nodepools", "--sandbox", "--scenario", scenario, *FAMILY_ARGS)
    assert result.exit_code == 0, result.stderr
    spot, ondemand = list(yaml.safe_load_all(result.stdout))
    for doc in (spot, ondemand):
        validate(doc)
        assert requirement(doc, "/instance-family") == ["m5", "m6i", "r5"]  # c5 is sold out on spot
        assert requirement(doc, "/instance-category") == ["m", "r"]
        assert requirement(doc, "/instance-generation") == ["5", "6"]
        assert requirement(doc, "/instance-cpu") == ["2", "4", "8"]
        assert doc["spec"]["template"]["spec"]["nodeClassRef"] == {"group": "eks.amazonaws.com", "kind": "NodeClass",
                                                                    "name": "default"}
        assert doc["spec"]["template"]["spec"]["taints"] == [{"key": "workload-type", "value": "flexible",
                                                              "effect": "NoSchedule"}]
        assert doc["spec"]["disruption"] == {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "30s"}
    assert requirement(spot, "capacity-type") == ["spot"] and requirement(ondemand, "capacity-type") == ["on-demand"]
    assert spot["spec"]["weight"] > ondemand["spec"]["weight"] == 10
    assert spot["spec"]["template"]["metadata"]["labels"] == {"capacity-type": "spot", "workload-type": "flexible"}
    assert ondemand["spec"]["template"]["metadata"]["labels"]["capacity-type"] == "ondemand"
    assert "left out: c5 (best score 1 < 7)" in result.stderr


def test_karpenters_ec2nodeclass_uses_its_own_label_domain_and_limits_are_written(scenario):
    result = run_cli("nodepools", "--sandbox", "--scenario", scenario, *FAMILY_ARGS, "--node-class", "ec2nodeclass",
                     "--node-class-name", "workers", "--limit-cpu", "1000", "--limit-memory", "1000Gi",
                     "--labels", "team=batch", "--taints", "", "--name", "batch", "--min-score", "10")
    assert result.exit_code == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["metadata"]["name"] for d in docs] == ["batch-spot", "batch-ondemand"]
    for doc in docs:
        validate(doc)
        assert doc["spec"]["template"]["spec"]["nodeClassRef"] == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass",
                                                                    "name": "workers"}
        assert requirement(doc, "karpenter.k8s.aws/instance-family") == ["m5", "m6i", "r5"]
        assert doc["spec"]["limits"] == {"cpu": "1000", "memory": "1000Gi"}
        assert "taints" not in doc["spec"]["template"]["spec"]
        assert doc["spec"]["template"]["metadata"]["labels"]["team"] == "batch"


def test_when_every_family_scores_low_no_nodepool_is_written(tmp_path, scenario_dict):
    path = scenario_file(tmp_path, family_scenario(scenario_dict))
    result = run_cli("nodepools", "--sandbox", "--scenario", path, "--families", "c5", "--sizes", "large,xlarge,2xlarge")
    assert result.exit_code == 1 and result.stdout == ""
    assert "no family scored at least 7" in result.stderr


@pytest.mark.parametrize("args, named", [
    (["--families", "m5", "--spot-weight", "5", "--ondemand-weight", "10"], "--spot-weight"),
    (["--families", "m5", "--ondemand-weight", "0"], "--ondemand-weight"),
    (["--families", "m5", "--taints", "workload-type=flexible"], "--taints"),
    (["--families", "m5", "--labels", "nokey"], "--labels"),
    (["--families", "m5", "--min-score", "12"], "--min-score"),
    (["--instance-types", "m5.large,x9.large"], "x9.large"),
    (["--sizes", "large"], "no families"),
    (["--families", "m5", "--consolidate-after", "soon"], "--consolidate-after"),
    (["--families", "m5", "--limit-cpu", "lots"], "--limit-cpu"),
    (["--families", "m5", "--name", "Flexible_Pool"], "--name"),
])
def test_nodepools_refuses_bad_input_with_exit_2_before_scoring(scenario, args, named):
    result = run_cli("nodepools", "--sandbox", "--scenario", scenario, *args)
    assert result.exit_code == 2 and named in result.stderr and result.stdout == ""


def test_the_builder_refuses_an_empty_family_list_and_an_unknown_node_class():
    family = HealthyFamily("m6g", "m", 6, (2, 4), ("arm64",))
    with pytest.raises(PoolError, match="no family"):
        nodepools([])
    with pytest.raises(PoolError, match="--node-class"):
        nodepools([family], PoolOptions(node_class="fargate"))
    spot, _ = nodepools([family])
    validate(spot)
    assert requirement(spot, "kubernetes.io/arch") == ["arm64"]
