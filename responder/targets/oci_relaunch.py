"""The relaunch of a preempted OCI instance that no target owns: a one-shot hunting target made
from the instance's own configuration.

Parts: relaunch_name (the target's name, from the instance OCID), one_shot_target (the Target:
the original's shape, OCPUs and memory, image, boot volume, subnet, display name, freeform tags,
SSH key, user data and market; its AD first, then the region's others in API order),
CannotRelaunch (OCI did not say what a relaunch needs), relaunch_preempted (add the target, or
find it already added).

Why a target and not a launch here: the replacement then goes through what every hunt goes
through — the shared capacity engine with its deterministic retry token per launch, the money
caps (spend cap 1: one replacement, ever), RESPONDER_HUNT_MIN_INTERVAL_SECONDS, the row's
statistics and the notifications — and when OCI is out of host capacity the target keeps
hunting on later ticks. The name comes from the OCID, so a redelivered event finds the row it
made (TargetExists) and adds nothing. The target is `once`: when its instance is there it is
done and never launches again (responder.targets.reconcile), so the original is replaced at
most once; it is kept, not removed, as the record of the relaunch and the guard against a
late redelivery.
"""

from __future__ import annotations

from responder.clouds.base import TOKEN_TAG, InstanceInfo
from responder.errors import CloudError, Transient
from responder.targets.model import TARGET_TAG, LaunchSpec, Target
from responder.targets.oci_spec import BOOT_VOLUME_GB, is_flex
from responder.targets.table import TargetExists, TargetStore

NAME_PREFIX = "preempted-"


class CannotRelaunch(ValueError):
    """What the original says is not enough to launch its like (the reason names the field)."""


def relaunch_name(instance_id: str) -> str:
    """preempted-<the OCID's last 12 characters>: the same for every copy of the event."""
    return NAME_PREFIX + instance_id[-12:]


def one_shot_target(info: InstanceInfo, region: str, ads: list[str]) -> Target:
    for field, value in (("subnet_id", info.subnet_id), ("image_id", info.image_id),
                         ("availability_domain", info.zone), ("shape", info.instance_type)):
        if not value:
            raise CannotRelaunch(f"OCI did not say the instance's {field}")
    flex = is_flex(info.instance_type)
    # The responder's own tags (a launch token, a target name) belong to the original's launch.
    tags = tuple((k, v) for k, v in info.tags if k not in (TOKEN_TAG, TARGET_TAG))
    boot = info.system_disk_size if BOOT_VOLUME_GB[0] <= info.system_disk_size <= BOOT_VOLUME_GB[1] else 0
    spec = LaunchSpec(image_id=info.image_id, subnet=info.subnet_id, tags=tags, user_data=info.user_data,
                      market="spot" if info.spot else "ondemand", name=info.name,
                      ocpus=(info.ocpus or float(info.cpu)) if flex else 0.0,
                      memory_gb=info.memory_mib / 1024 if flex else 0.0, boot_volume_gb=boot,
                      ssh_public_key=info.ssh_public_key, once=True)
    zones = (info.zone,) + tuple(ad for ad in ads if ad != info.zone)
    return Target(name=relaunch_name(info.instance_id), cloud="oci", region=region, zones=zones,
                  instance_types=(info.instance_type,), count=1, kind="instances", spend_cap=1, launch=spec)


def relaunch_preempted(cloud, tstore: TargetStore, region: str, info: InstanceInfo,
                       preemption: dict) -> tuple[str, bool]:
    """(the one-shot target's name, whether this call added it). Raises CannotRelaunch, or
    Transient when OCI could not list the region's ADs (the sender redelivers)."""
    name = relaunch_name(info.instance_id)
    if tstore.get(name) is not None:  # a copy of the event: the target is already there
        return name, False
    try:
        ads = list(cloud.availability_domains(region))
    except Transient:
        raise
    except CloudError:  # not allowed to list them: the original's AD alone
        ads = []
    target = one_shot_target(info, region, ads)
    try:
        tstore.add(target, {"preempted": 1, "preemptions": [preemption], "relaunch_of": info.instance_id})
    except TargetExists:  # another copy of the event added it a moment ago
        return name, False
    return name, True
