"""The relaunch of a preempted OCI instance that no target owns: a one-shot hunting target made
from the instance's own configuration.

Parts: relaunch_name (the target's name, from the instance OCID), one_shot_target (the Target:
the original's shape, OCPUs and memory, image, boot volume, subnet, display name, freeform tags,
SSH key, user data and market; its AD first, then the region's others in API order),
CannotRelaunch (OCI did not say what a relaunch needs), relaunch_preempted (add the target, or
find it already added), root_state (what the relaunch starts from, for the record),
launch_from_boot_volume (the launch of such a target: the preserved boot volume, or the image
when the volume is gone or refused), fallback_token.

The preserved boot volume: when the original's preemption action kept it (preserve_boot_volume),
the volume is AVAILABLE and detached once the original is TERMINATED, and a relaunch that boots
from it (InstanceSourceViaBootVolumeDetails) keeps the original's state — files, packages, keys.
A boot volume is a block volume of one AD, so that target launches in the original's AD only.
While the original is still TERMINATING the volume is attached and LaunchInstance refuses it
(409 Conflict): that is a wait, not a failure — the target hunts again on a later tick (the
holder is read with ListBootVolumeAttachments and GetInstance). A volume another live instance
holds, one that is gone (404) or refused for another reason (400) leaves the image: the relaunch starts
clean, in the same AD, and the log and the `relaunch_fallback` event say so.

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

import dataclasses
import logging

from responder.clouds.base import TOKEN_TAG, InstanceInfo, LaunchRequest, LaunchResult
from responder.errors import CloudError, Invalid, NoCapacity, NotFound, PermissionDenied, Transient
from responder.targets import events
from responder.targets.model import TARGET_TAG, LaunchSpec, Target
from responder.targets.oci_spec import BOOT_VOLUME_GB, is_flex
from responder.targets.table import TargetExists, TargetStore

NAME_PREFIX = "preempted-"
OCI_TOKEN_CHARS = 64  # opc-retry-token: "Maximum Length: 64" (LaunchInstance API reference)
FALLBACK_SUFFIX = "-image"
# The holder of a refused (409) volume that is on its way out: wait for it. Any other holder (an
# instance someone launched from the volume meanwhile) keeps it: the relaunch takes the image.
LEAVING = ("", "STOPPING", "TERMINATING", "TERMINATED")
log = logging.getLogger("responder.targets")


class CannotRelaunch(ValueError):
    """What the original says is not enough to launch its like (the reason names the field)."""


def relaunch_name(instance_id: str) -> str:
    """preempted-<the OCID's last 12 characters>: the same for every copy of the event."""
    return NAME_PREFIX + instance_id[-12:]


def one_shot_target(info: InstanceInfo, region: str, ads: list[str], boot_volume_id: str = "") -> Target:
    """The original's like; with `boot_volume_id` (its preserved boot volume) it boots from that
    volume, in the original's AD only."""
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
                      ssh_public_key=info.ssh_public_key, once=True, boot_volume_id=boot_volume_id)
    zones = (info.zone,) if boot_volume_id else (info.zone,) + tuple(ad for ad in ads if ad != info.zone)
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
    volume = _preserved_volume(cloud, region, info)
    target = one_shot_target(info, region, ads, volume)
    preemption = {**preemption, "root_state": root_state(info, volume)}
    stats = {"preempted": 1, "preemptions": [preemption], "relaunch_of": info.instance_id,
             "root_state": preemption["root_state"]}
    if volume:
        stats["boot_volume_id"] = volume
    try:
        tstore.add(target, stats)
    except TargetExists:  # another copy of the event added it a moment ago
        return name, False
    return name, True


def _preserved_volume(cloud, region: str, info: InstanceInfo) -> str:
    """The original's preserved boot volume, "" when there is none to boot from (Transient propagates)."""
    if not info.boot_volume_preserved:
        return ""
    try:
        return cloud.preserved_boot_volume(region, info)
    except Transient:
        raise
    except CloudError as exc:  # not allowed to read it: the image, and the record says why
        log.warning("OCI boot volume of %s not readable (%s): the relaunch starts from the image",
                    info.instance_id, exc.code)
        return ""


def root_state(info: InstanceInfo, volume: str) -> str:
    """What state the relaunch starts from, as the record says it."""
    if volume:
        return (f"the relaunch boots from the original's boot volume {volume}, preserved (preserve_boot_volume), "
                f"in {info.zone}: it keeps the original's boot volume state")
    if info.boot_volume_preserved:
        return (f"the relaunch starts clean from image {info.image_id}: the original's boot volume was preserved "
                f"(preserve_boot_volume) but is gone or not readable, so the image is the fallback")
    return f"the relaunch starts clean from image {info.image_id}: the boot volume was not preserved"


def fallback_token(token: str) -> str:
    """The retry token of the image launch that stands in for a refused boot volume launch: its
    own (OCI may refuse a token sent again with another body), derived, so a retry repeats it."""
    return token[:OCI_TOKEN_CHARS - len(FALLBACK_SUFFIX)] + FALLBACK_SUFFIX


def _holder(cloud, target: Target, request: LaunchRequest) -> str:
    """The state of the instance that holds the volume; "" when none is listed (it is detaching)."""
    return cloud.boot_volume_holder(target.region, target.zones[0], request.boot_volume_id)


def launch_from_boot_volume(cloud, target: Target, request: LaunchRequest) -> LaunchResult:
    """Launch from request.boot_volume_id; the image when OCI says the volume is gone or refuses
    it; NoCapacity (hunt again later) while the volume is still attached to the original."""
    try:
        return cloud.launch(target.region, request)
    except Invalid as exc:
        holder = _holder(cloud, target, request) if exc.code == "Conflict" else ""
        if exc.code == "Conflict" and holder in LEAVING:  # 409: still attached to the terminating original
            raise NoCapacity("BootVolumeAttached", f"boot volume {request.boot_volume_id} is still attached "
                                                   f"to an instance that is going ({holder or 'detaching'}); "
                                                   f"target {target.name} tries again") from exc
        reason = f"attached to a {holder} instance ({exc.code})" if holder else f"refused ({exc.code})"
    except (NotFound, PermissionDenied) as exc:
        # A launch's 404 NotAuthorizedOrNotFound reads as a refused permission (oci_errors), but
        # with a boot volume source it is, first, the volume gone; a real refusal refuses the image
        # launch too, and that one propagates.
        reason = f"gone ({exc.code})"
    log.warning("target %s: boot volume %s %s: relaunching from image %s, clean", target.name,
                request.boot_volume_id, reason, request.image_id)
    events.emit("relaunch_fallback", target=target.name, cloud=target.cloud, region=target.region,
                boot_volume_id=request.boot_volume_id, image_id=request.image_id, reason=reason)
    # The instance carries the claim's own token (extra_tags): a resumed run finds it by that.
    image_request = dataclasses.replace(request, boot_volume_id="", client_token=fallback_token(request.client_token))
    return cloud.launch(target.region, image_request)

