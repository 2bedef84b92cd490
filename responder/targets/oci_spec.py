"""What an OCI target must say, checked before it is stored, and its availability domains.

Parts: AD_NAME / is_ad_name (the two forms a zone may take), is_flex, ALWAYS_FREE_FLEX (the
Always Free bounds of VM.Standard.A1.Flex), check_oci (kind, shape size, image, subnet, boot
volume size or boot volume OCID, SSH key), resolve_ads (the target's zones as the region's full AD names, in order).

OCI calls zones availability domains. Their full names carry a tenancy-specific prefix and do not
always spell the region (us-ashburn-1 → `Uocm:US-ASHBURN-AD-1`), so a target may name them in
full or by the short `AD-n` form, which is resolved against `availability_domains(region)` at hunt
time; no zones at all means every AD of the region, in the order the API lists them.
"""

from __future__ import annotations

import re

from responder.targets.model import Target, TargetInvalid

AD_NAME = re.compile(r"^(?:[A-Za-z0-9]{1,16}:[A-Z0-9-]{2,40}-)?AD-[1-9]$")
# "All tenancies get the first 3,000 OCPU hours and 18,000 GB hours per month for free for VM
# instances using the VM.Standard.A1.Flex shape ... For Always Free tenancies, this is equivalent
# to 4 OCPUs and 24 GB of memory" (docs.oracle.com, Content/FreeTier/freetier_topic-Always_Free_Resources.htm).
ALWAYS_FREE_FLEX = {"VM.Standard.A1.Flex": (4.0, 24.0)}
# "The size of the boot volume in GBs. The minimum value is 50 GB and the maximum value is
# 32,768 GB (32 TB)" (OCI API, InstanceSourceViaImageDetails.bootVolumeSizeInGBs).
BOOT_VOLUME_GB = (50, 32768)
_OCID = re.compile(r"^ocid1\.[a-z0-9]+\.[a-z0-9-]*\.[a-z0-9-]*\.[A-Za-z0-9._-]+$")
_KEY = re.compile(r"^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]{16,}( .*)?$")


def is_ad_name(zone: str) -> bool:
    return bool(AD_NAME.match(zone or ""))


def is_flex(shape: str) -> bool:
    return shape.endswith(".Flex")


def is_ocid(value: str, kind: str = "") -> bool:
    return bool(_OCID.match(value or "")) and (not kind or value.startswith(f"ocid1.{kind}."))


def check_oci(t: Target) -> Target:
    """An OCI target launches instances (OCI capacity reservations are not bought here)."""
    spec = t.launch
    if t.kind != "instances":
        raise TargetInvalid("kind", "OCI targets launch instances: use --kind instances")
    if len(set(t.zones)) != len(t.zones):
        raise TargetInvalid("zones", "an availability domain is named twice")
    for shape in t.instance_types:
        if is_flex(shape):
            if spec.ocpus <= 0 or spec.memory_gb <= 0:
                missing = "ocpus" if spec.ocpus <= 0 else "memory_gb"
                raise TargetInvalid(missing, f"{shape} is a flex shape: give --ocpus and --memory-gb")
            top = ALWAYS_FREE_FLEX.get(shape)
            if top and not 1 <= spec.ocpus <= top[0]:
                raise TargetInvalid("ocpus", f"{shape} takes 1 to {top[0]:g} OCPUs (the Always Free limit), "
                                             f"not {spec.ocpus:g}")
            if top and not 1 <= spec.memory_gb <= top[1]:
                raise TargetInvalid("memory_gb", f"{shape} takes 1 to {top[1]:g} GB (the Always Free limit), "
                                                 f"not {spec.memory_gb:g}")
    if (spec.ocpus or spec.memory_gb) and not any(is_flex(s) for s in t.instance_types):
        field = "ocpus" if spec.ocpus else "memory_gb"
        raise TargetInvalid(field, f"{', '.join(t.instance_types)} has a fixed size: --ocpus and --memory-gb "
                                   "are for flex shapes")
    if spec.image_id and (spec.image_os or spec.image_os_version):
        raise TargetInvalid("image_os", "give --image (an image OCID) or --image-os with --image-os-version, "
                                        "not both")
    if spec.image_id and not is_ocid(spec.image_id, "image"):
        raise TargetInvalid("image", f"{spec.image_id!r} is not an image OCID (ocid1.image....)")
    if not spec.image_id:
        if not spec.image_os:
            raise TargetInvalid("image", "give --image (an image OCID) or --image-os and --image-os-version")
        if not spec.image_os_version:
            raise TargetInvalid("image_os_version", f"give the version of {spec.image_os} (e.g. 22.04)")
    if not spec.subnet:
        raise TargetInvalid("subnet", "give --subnet (its display name or OCID; OCI subnets are regional)")
    if spec.boot_volume_gb and not BOOT_VOLUME_GB[0] <= spec.boot_volume_gb <= BOOT_VOLUME_GB[1]:
        raise TargetInvalid("boot_volume_gb", f"takes {BOOT_VOLUME_GB[0]} to {BOOT_VOLUME_GB[1]} GB "
                                              f"(0 = the image's default), not {spec.boot_volume_gb}")
    if spec.boot_volume_id and not is_ocid(spec.boot_volume_id, "bootvolume"):
        raise TargetInvalid("boot_volume_id", f"{spec.boot_volume_id!r} is not a boot volume OCID (ocid1.bootvolume....)")
    if spec.boot_volume_id and len(t.zones) != 1:
        # A boot volume is a block volume of one AD and attaches only to an instance in that AD.
        raise TargetInvalid("zones", "a target that boots from a boot volume launches in that volume's "
                                     "availability domain only: name exactly one")
    if spec.ssh_public_key and not _KEY.match(spec.ssh_public_key.strip()):
        raise TargetInvalid("ssh_public_key", "is not an OpenSSH public key line (ssh-ed25519 AAAA... comment)")
    if spec.market not in ("ondemand", "spot"):
        raise TargetInvalid("market", "must be ondemand or spot (preemptible)")
    return t


def resolve_ads(zones: tuple[str, ...], listed: list[str]) -> tuple[str, ...]:
    """The target's zones as full AD names, in the target's order (all of `listed` when none is
    named). A short `AD-n` matches the listed name ending in `-AD-n` (or equal to it)."""
    if not zones:
        return tuple(listed)
    out = []
    for zone in zones:
        match = [ad for ad in listed if ad == zone or (":" not in zone and ad.endswith("-" + zone))]
        if not match:
            raise TargetInvalid("zones", f"{zone!r} is not an availability domain of this region "
                                         f"({', '.join(listed) or 'none listed'})")
        out.append(match[0])
    return tuple(dict.fromkeys(out))
