"""Seed 002 (eksspot): its NodePool layout and its pod snippet, from `responder nodepools` with no
option but the families, validated against Karpenter's NodePool CRD (the helper in test_nodepools).

The seed's documented settings: limits cpu 100 / memory 200Gi, taint workload-type=flexible:NoSchedule,
label workload-type=flexible, and a pod snippet tolerating the taint, selecting the label and
preferring spot (weight 100) over on-demand (weight 50).
"""

from __future__ import annotations

import yaml
from aws_fixtures import *
from spot_fixtures import family_scenario, run_cli, scenario_file
from test_nodepools import FAMILY_ARGS, validate

from responder.spot.nodepools import PoolOptions, workload_snippet

# Copied from the seed's "Pod 配置" section.
SEED_TOLERATIONS = yaml.safe_load("""
tolerations:
  - key: workload-type
    operator: Equal
    value: flexible
    effect: NoSchedule
""")["tolerations"]
SEED_NODE_SELECTOR = {"workload-type": "flexible"}


def snippet_from_comments(stdout: str) -> dict:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# Workload snippet"))
    return yaml.safe_load("\n".join(line.removeprefix("#   ") for line in lines[start + 1:]))


def tolerates(toleration: dict, taint: dict) -> bool:
    """Kubernetes' rule for operator Equal (Taints and Tolerations concept page)."""
    return (toleration["key"], toleration["value"], toleration["effect"]) == (taint["key"], taint["value"],
                                                                              taint["effect"])


def test_the_default_nodepools_carry_the_seeds_limits_and_the_seeds_snippet(tmp_path, scenario_dict):
    path = scenario_file(tmp_path, family_scenario(scenario_dict))
    result = run_cli("nodepools", "--sandbox", "--scenario", path, *FAMILY_ARGS, "--snippet-file",
                     tmp_path / "snippet.yaml")
    assert result.exit_code == 0, result.stderr
    spot, ondemand = list(yaml.safe_load_all(result.stdout))  # the snippet is comments: kubectl applies two pools
    for doc in (spot, ondemand):
        validate(doc)
        assert doc["spec"]["limits"] == {"cpu": "100", "memory": "200Gi"}
    snippet = snippet_from_comments(result.stdout)
    assert snippet == yaml.safe_load((tmp_path / "snippet.yaml").read_text())
    assert snippet["tolerations"] == SEED_TOLERATIONS and snippet["nodeSelector"] == SEED_NODE_SELECTOR
    for doc in (spot, ondemand):  # the pod can land on either pool...
        template = doc["spec"]["template"]
        assert all(any(tolerates(t, taint) for t in snippet["tolerations"]) for taint in template["spec"]["taints"])
        assert SEED_NODE_SELECTOR.items() <= template["metadata"]["labels"].items()
    preferred = snippet["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    by_weight = sorted(preferred, key=lambda p: -p["weight"])
    # ...and prefers the spot one: its heaviest preference is what the spot pool requires.
    assert [p["weight"] for p in by_weight] == [100, 50]
    spot_req = next(r for r in spot["spec"]["template"]["spec"]["requirements"] if r["key"] == "karpenter.sh/capacity-type")
    od_req = next(r for r in ondemand["spec"]["template"]["spec"]["requirements"]
                  if r["key"] == "karpenter.sh/capacity-type")
    assert by_weight[0]["preference"]["matchExpressions"] == [spot_req]
    assert by_weight[1]["preference"]["matchExpressions"] == [od_req]


def test_limits_are_overridable_and_no_limits_drops_them(tmp_path, scenario_dict):
    path = scenario_file(tmp_path, family_scenario(scenario_dict))
    raised = run_cli("nodepools", "--sandbox", "--scenario", path, *FAMILY_ARGS, "--limit-cpu", "400")
    assert raised.exit_code == 0, raised.stderr
    assert [d["spec"]["limits"] for d in yaml.safe_load_all(raised.stdout)] == [{"cpu": "400", "memory": "200Gi"}] * 2
    dropped = run_cli("nodepools", "--sandbox", "--scenario", path, *FAMILY_ARGS, "--no-limits")
    assert dropped.exit_code == 0, dropped.stderr
    for doc in yaml.safe_load_all(dropped.stdout):
        validate(doc)
        assert "limits" not in doc["spec"]


def test_without_taints_or_labels_the_snippet_keeps_only_the_spot_preference():
    snippet = workload_snippet(PoolOptions(labels=(), taints=()))
    assert set(snippet) == {"affinity"}
