"""Instance-type names and the groups they are scored in.

Parts: TypeName (family, category, generation, attributes, size of a name such as m6id.2xlarge),
parse_type, base_variant (the name without the instance-storage `d`, which EC2 counts as the same
type), MIN_GROUP (3), candidate_groups (the probe's candidates cut into groups of >= 3 types of
one shape where possible), family_types (family x size names the catalog has).

Pure: no cloud, no I/O. The scorer and the emulator both use these rules, so a set the client
thinks has three different types is a set the emulator counts the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Hashable, Iterable

# EC2: "We recommend that you specify at least three instance types. If you specify one or two
# instance types, or specify variations of a single instance type (for example, an m3.xlarge with
# and without instance storage), the returned placement score will always be low."
# (GetSpotPlacementScores, InstanceType.N, Amazon EC2 API Reference)
MIN_GROUP = 3

_NAME = re.compile(r"^(?P<category>[a-z]+?)(?P<generation>\d+)(?P<attributes>[a-z0-9-]*)\.(?P<size>[a-z0-9-]+)$")


@dataclass(frozen=True)
class TypeName:
    instance_type: str
    family: str  # m6id
    category: str  # m
    generation: int  # 6
    attributes: str  # id
    size: str  # 2xlarge


def parse_type(instance_type: str) -> TypeName | None:
    """`m6id.2xlarge` → TypeName(family m6id, category m, generation 6, attributes id, size 2xlarge);
    None for a name that is not an EC2 instance type name (`u-6tb1.metal` parses: category u)."""
    match = _NAME.match(instance_type.strip().lower())
    if not match:
        return None
    category, generation, attributes, size = match.group("category", "generation", "attributes", "size")
    return TypeName(instance_type, f"{category}{generation}{attributes}", category, int(generation), attributes, size)


def base_variant(instance_type: str) -> str:
    """The type without instance storage: m5d.large → m5.large, m6gd.xlarge → m6g.xlarge. EC2 scores
    such variations as one type when it counts "different" types."""
    name = parse_type(instance_type)
    if name is None or "d" not in name.attributes:
        return instance_type
    return f"{name.category}{name.generation}{name.attributes.replace('d', '', 1)}.{name.size}"


def distinct_count(instance_types: Iterable[str]) -> int:
    """How many different types a request names, as EC2 counts them for the three-type rule."""
    return len({base_variant(t) for t in instance_types})


def candidate_groups(instance_types: list[str], shape_of: Callable[[str], Hashable | None]) -> list[tuple[str, ...]]:
    """Cut the probe's candidates (best first) into groups to score, each of >= MIN_GROUP different
    types where the candidates allow it.

    Types of one shape (vCPU, memory, architecture) go together: they are interchangeable for the
    replacement, and the group for a shape is the same whichever of its types was interrupted, so
    later probes reuse the configuration instead of spending a new one. A shape with too few types
    joins the next shape in candidate order; a short tail joins the group before it. Fewer than
    MIN_GROUP candidates in all make one short group (it will score low; it is still the best
    information there is)."""
    buckets: dict[Hashable, list[str]] = {}
    for t in dict.fromkeys(instance_types):
        shape = shape_of(t)
        buckets.setdefault(shape if shape is not None else ("unknown", t), []).append(t)
    groups: list[list[str]] = []
    current: list[str] = []
    for bucket in buckets.values():
        current.extend(sorted(bucket))
        if distinct_count(current) >= MIN_GROUP:
            groups.append(current)
            current = []
    if current:
        if groups:
            groups[-1].extend(current)
        else:
            groups.append(current)
    return [tuple(g) for g in groups]


def family_types(families: Iterable[str], sizes: Iterable[str], known: Iterable[str]) -> dict[str, list[str]]:
    """family → the `family.size` names the catalog has, in the order of `sizes`."""
    catalog = set(known)
    sizes = list(sizes)
    return {f: [f"{f}.{s}" for s in sizes if f"{f}.{s}" in catalog] for f in families}


def families_of(instance_types: Iterable[str]) -> dict[str, list[str]]:
    """family → its types, in the order given (for `--instance-types`)."""
    out: dict[str, list[str]] = {}
    for t in instance_types:
        name = parse_type(t)
        out.setdefault(name.family if name else t, []).append(t)
    return out
