"""Two Karpenter `karpenter.sh/v1` NodePools from the families that scored well: spot first,
on-demand as the fallback.

Parts: NODE_CLASSES (EKS Auto Mode `eks.amazonaws.com/NodeClass`, Karpenter's
`karpenter.k8s.aws/EC2NodeClass`, and the label domain each one's requirements use),
PoolOptions (names, NodeClass, labels, taints, weights, disruption, limits), HealthyFamily,
PoolError, nodepools (the two documents), workload_snippet (the pod spec part that lands pods on
them, spot preferred), to_yaml, snippet_comment.

Limits are on by default (DEFAULT_LIMITS, the old design's cpu 100 / memory 200Gi): a NodePool
without limits lets Karpenter launch without bound, and spot that is cheap per hour is not cheap
without a ceiling. `--limit-cpu` / `--limit-memory` change them, `--no-limits` drops them.

The layout keeps the old design's: labels `capacity-type=spot|ondemand` and
`workload-type=flexible`, taint `workload-type=flexible:NoSchedule`, consolidation `WhenEmpty`
after 30s, the same families and sizes in both pools. One thing is deliberately different:
Karpenter orders NodePools by weight, higher first, and "a nodepool with no weight will be treated
as if it is a nodepool with a weight of 0" (NodePool CRD, spec.weight). The old spot pool had no
weight and the on-demand pool 10, so Karpenter tried on-demand first; here spot gets the higher
weight (100 by default) and a lower one is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

# --node-class → (NodeClass group, kind, the label domain of instance requirements)
NODE_CLASSES = {
    "eks-auto": ("eks.amazonaws.com", "NodeClass", "eks.amazonaws.com"),
    "ec2nodeclass": ("karpenter.k8s.aws", "EC2NodeClass", "karpenter.k8s.aws"),
}
_ARCH = {"x86_64": "amd64", "arm64": "arm64", "i386": "386"}
# The NodePool CRD's patterns for disruption.consolidateAfter and a limits quantity.
_DURATION = re.compile(r"^(([0-9]+(s|m|h))+|Never)$")
_QUANTITY = re.compile(r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
                       r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# The old design's (seed 002) NodePool limits, on each pool: a ceiling on what it may launch.
DEFAULT_LIMITS = (("cpu", "100"), ("memory", "200Gi"))
# Pod nodeAffinity weights of the old design: spot 100, on-demand 50 (1..100, Kubernetes API).
SPOT_AFFINITY_WEIGHT, ONDEMAND_AFFINITY_WEIGHT = 100, 50


class PoolError(ValueError):
    """The options cannot make valid NodePools; the message names the option."""


@dataclass(frozen=True)
class HealthyFamily:
    family: str
    category: str
    generation: int
    cpus: tuple[int, ...]  # vCPUs of the selected sizes
    architectures: tuple[str, ...]  # x86_64 | arm64, as EC2 says


@dataclass(frozen=True)
class PoolOptions:
    name: str = "flexible"  # → flexible-spot, flexible-ondemand
    node_class: str = "eks-auto"
    node_class_name: str = "default"
    labels: tuple[tuple[str, str], ...] = (("workload-type", "flexible"),)
    taints: tuple[tuple[str, str, str], ...] = (("workload-type", "flexible", "NoSchedule"),)
    spot_weight: int = 100
    ondemand_weight: int = 10
    consolidation_policy: str = "WhenEmpty"
    consolidate_after: str = "30s"
    limits: tuple[tuple[str, str], ...] = DEFAULT_LIMITS  # () for none

    def check(self) -> None:
        if self.node_class not in NODE_CLASSES:
            raise PoolError(f"--node-class must be one of {', '.join(NODE_CLASSES)}, not {self.node_class}")
        for label, weight in (("--spot-weight", self.spot_weight), ("--ondemand-weight", self.ondemand_weight)):
            if not 1 <= weight <= 100:
                raise PoolError(f"{label} must be 1..100 (NodePool spec.weight), not {weight}")
        if not _NAME.match(self.name) or len(self.name) > 50:
            raise PoolError(f"--name must be lower-case letters, digits and '-' (a Kubernetes name), not {self.name!r}")
        if not _DURATION.match(self.consolidate_after):
            raise PoolError(f"--consolidate-after must be like 30s, 5m, 1h30m or Never, not {self.consolidate_after!r}")
        for resource, quantity in self.limits:
            if not _QUANTITY.match(quantity):
                raise PoolError(f"--limit-{resource} must be a Kubernetes quantity (1000, 500m, 1000Gi), not {quantity!r}")
        if self.spot_weight <= self.ondemand_weight:
            raise PoolError(f"--spot-weight ({self.spot_weight}) must be above --ondemand-weight "
                            f"({self.ondemand_weight}): Karpenter tries the higher weight first")


def _requirement(key: str, values) -> dict:
    return {"key": key, "operator": "In", "values": [str(v) for v in values]}


def _pool(name: str, capacity_type: str, label_value: str, weight: int, families: list[HealthyFamily],
          options: PoolOptions) -> dict:
    group, kind, domain = NODE_CLASSES[options.node_class]
    archs = sorted({_ARCH.get(a, a) for f in families for a in f.architectures})
    requirements = [
        _requirement("karpenter.sh/capacity-type", [capacity_type]),
        _requirement(f"{domain}/instance-category", sorted({f.category for f in families})),
        _requirement(f"{domain}/instance-family", sorted({f.family for f in families})),
        _requirement(f"{domain}/instance-generation", sorted({f.generation for f in families})),
        _requirement(f"{domain}/instance-cpu", sorted({c for f in families for c in f.cpus})),
        _requirement("kubernetes.io/os", ["linux"]),
    ]
    if archs:
        requirements.append(_requirement("kubernetes.io/arch", archs))
    spec: dict = {
        "template": {
            "metadata": {"labels": {"capacity-type": label_value, **dict(options.labels)}},
            "spec": {
                "nodeClassRef": {"group": group, "kind": kind, "name": options.node_class_name},
                "requirements": requirements,
                "taints": [{"key": k, "value": v, "effect": e} for k, v, e in options.taints],
            },
        },
        "disruption": {"consolidationPolicy": options.consolidation_policy,
                       "consolidateAfter": options.consolidate_after},
        "weight": weight,
    }
    if not spec["template"]["spec"]["taints"]:
        del spec["template"]["spec"]["taints"]
    if options.limits:
        spec["limits"] = dict(options.limits)
    return {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": name}, "spec": spec}


def nodepools(families: list[HealthyFamily], options: PoolOptions = PoolOptions()) -> list[dict]:
    """[spot NodePool, on-demand NodePool] over the same families and sizes."""
    options.check()
    if not families:
        raise PoolError("no family to put in the NodePools")
    return [
        _pool(f"{options.name}-spot", "spot", "spot", options.spot_weight, families, options),
        _pool(f"{options.name}-ondemand", "on-demand", "ondemand", options.ondemand_weight, families, options),
    ]


def workload_snippet(options: PoolOptions = PoolOptions()) -> dict:
    """The pod spec fields a workload needs to run on these NodePools, spot first: tolerations of
    their taints, a nodeSelector on their shared labels, and a nodeAffinity preferring
    `karpenter.sh/capacity-type: spot` (weight 100) over on-demand (50) — the old design's snippet,
    keyed on the label Karpenter itself sets on every node, so it also works without our labels."""
    snippet: dict = {}
    if options.taints:
        snippet["tolerations"] = [{"key": k, "operator": "Equal", "value": v, "effect": e} for k, v, e in options.taints]
    if options.labels:
        snippet["nodeSelector"] = dict(options.labels)
    prefer = [(SPOT_AFFINITY_WEIGHT, "spot"), (ONDEMAND_AFFINITY_WEIGHT, "on-demand")]
    snippet["affinity"] = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": weight, "preference": {"matchExpressions": [_requirement("karpenter.sh/capacity-type", [value])]}}
        for weight, value in prefer]}}
    return snippet


def snippet_comment(snippet: dict) -> str:
    """The snippet as YAML comment lines, after the NodePools: `kubectl apply` skips them, a reader
    of the file finds what to put in the Deployment's pod template."""
    body = yaml.safe_dump(snippet, sort_keys=False).splitlines()
    return "\n".join(["# Workload snippet: add to the pod template spec to run on these NodePools, spot first:",
                      *(f"#   {line}" for line in body)]) + "\n"


def to_yaml(documents: list[dict]) -> str:

    return yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True)
