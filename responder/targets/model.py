"""What a capacity target is, and the checks a new or changed target must pass.

Parts: KINDS, CLOUDS, LaunchSpec (what `instances` targets launch), Target (one row, frozen),
TargetInvalid (names the field), check_target (shape and bounds, no cloud), zone_in_region,
short_key (an SSH public key as it is shown). OCI's own checks (availability domains, flex shapes,
image by OS) are in responder.targets.oci_spec.

A target says how much capacity must exist, never how much we think we bought: the reconcile
reads the cloud on every tick (responder.targets.inventory).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any

KINDS = ("reservation", "instances")
CLOUDS = ("aws", "aliyun", "oci")
MATCH_CRITERIA = ("open", "targeted")
MARKETS = ("ondemand", "spot")
TARGET_TAG = "responder:target"  # every reservation and instance a target buys carries its name
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_TYPE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,62}$")
_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{1,62}$")  # OCI shapes: VM.Standard.A1.Flex


class TargetInvalid(ValueError):
    """Bad input: `field` is the option / JSON field at fault; nothing was stored."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        super().__init__(f"{field_name}: {message}")


@dataclass(frozen=True)
class LaunchSpec:
    """How an `instances` target launches (the same fields a clone of an instance carries)."""

    image_id: str = ""
    subnets: tuple[tuple[str, str], ...] = ()  # (zone, subnet id) on AWS, (zone, vswitch id) on Aliyun
    security_groups: tuple[str, ...] = ()
    key_pair: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    user_data: str = ""  # base64, as the APIs take it; never shown (only its size)
    market: str = "ondemand"
    name: str = ""  # instance name; an instance of this name made before the responder counts as held
    # OCI: a flex shape's size, the boot volume (0 = the image's default), the key put in the
    # instance metadata; the image by OS and version (resolved per shape at hunt time) when no
    # image id is given; one subnet (OCI subnets are regional) by display name or OCID.
    ocpus: float = 0.0
    memory_gb: float = 0.0
    boot_volume_gb: int = 0
    ssh_public_key: str = ""
    image_os: str = ""
    image_os_version: str = ""
    subnet: str = ""
    # A one-shot target (the relaunch of a preempted instance no target owns): it launches its
    # count once and is then done (state `done`, never worked again); no instance is adopted
    # by its name, since the name is the original's and others may share it.
    once: bool = False

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["tags"], out["subnets"] = dict(self.tags), dict(self.subnets)
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> "LaunchSpec":
        raw = dict(raw or {})
        raw["subnets"] = tuple((str(k), str(v)) for k, v in dict(raw.get("subnets") or {}).items())
        raw["security_groups"] = tuple(raw.get("security_groups") or ())
        raw["tags"] = tuple((str(k), str(v)) for k, v in dict(raw.get("tags") or {}).items())
        return cls(**{f.name: raw[f.name] for f in dataclasses.fields(cls) if f.name in raw})


@dataclass(frozen=True)
class Target:
    name: str
    cloud: str
    region: str
    zones: tuple[str, ...]
    instance_types: tuple[str, ...]
    count: int
    kind: str = "reservation"
    match_criteria: str = "open"  # reservations: open | targeted
    end_date: str = ""  # reservations: ISO time they end ("" = unlimited)
    spend_cap: int = 0  # units this target may ever buy; 0 = 4 x count
    release_excess: bool = False  # release capacity above target (otherwise it is only reported)
    launch: LaunchSpec = field(default_factory=LaunchSpec)

    @property
    def claim_key(self) -> str:
        return f"target:{self.name}"

    @property
    def cap(self) -> int:
        return self.spend_cap or 4 * self.count

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "launch"}
        out["zones"], out["instance_types"] = list(self.zones), list(self.instance_types)
        if self.kind == "instances":
            launch = self.launch.to_json()
            launch["user_data"] = {"bytes": len(self.launch.user_data)} if self.launch.user_data else None
            launch["ssh_public_key"] = short_key(self.launch.ssh_public_key)
            out["launch"] = launch
        return out

    def spec_json(self) -> dict[str, Any]:
        """What the row's `spec` column stores (user data included: it is needed to launch)."""
        return {"zones": list(self.zones), "instance_types": list(self.instance_types),
                "match_criteria": self.match_criteria, "end_date": self.end_date, "spend_cap": self.spend_cap,
                "release_excess": self.release_excess, "launch": self.launch.to_json()}


def short_key(key: str) -> str:
    """An SSH public key as shown: its type, the end of its body and its comment. It is not a
    secret, but a whole key in every answer and log line is noise and invites copying."""
    parts = key.split()
    if len(parts) < 2:
        return "" if not key else "…"
    return " ".join([parts[0], "…" + parts[1][-12:], *parts[2:3]])


def zone_in_region(cloud: str, region: str, zone: str) -> bool:
    """AWS zones are the region plus a letter (us-east-2a), Aliyun's the region, a dash and a
    letter (cn-hangzhou-i). Local Zones (us-west-2-lax-1a) also start with the region. OCI's
    availability domains do not always spell the region (us-ashburn-1 → Uocm:US-ASHBURN-AD-1):
    their form is checked here, the name against the region's list (oci_spec)."""
    if cloud == "oci":
        from responder.targets.oci_spec import is_ad_name

        return is_ad_name(zone)
    if cloud == "aws":
        return zone.startswith(region) and len(zone) > len(region) and zone[len(region):][-1].isalpha()
    return zone.startswith(region + "-") and len(zone) > len(region) + 1


def check_target(t: Target, max_count: int) -> Target:
    """Refuse what can never work, naming the field; the cloud checks (types) come after."""
    if not _NAME.match(t.name or ""):
        raise TargetInvalid("name", "1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if t.cloud not in CLOUDS:
        raise TargetInvalid("cloud", f"must be one of {', '.join(CLOUDS)}, not {t.cloud!r}")
    if t.kind not in KINDS:
        raise TargetInvalid("kind", f"must be one of {', '.join(KINDS)}, not {t.kind!r}")
    if not re.match(r"^[a-z0-9-]{4,32}$", t.region or ""):
        raise TargetInvalid("region", f"{t.region!r} is not a region name")
    if not t.zones and t.cloud != "oci":  # OCI: no zones = every availability domain of the region
        raise TargetInvalid("zones", "name at least one zone")
    for zone in t.zones:
        if not zone_in_region(t.cloud, t.region, zone):
            raise TargetInvalid("zones", f"{zone!r} is not a zone of {t.region}")
    if not t.instance_types:
        raise TargetInvalid("instance_types", "name at least one instance type")
    for it in t.instance_types:
        if not (_SHAPE if t.cloud == "oci" else _TYPE).match(it):
            raise TargetInvalid("instance_types", f"{it!r} is not an instance type name")
    if isinstance(t.count, bool) or not isinstance(t.count, int) or t.count <= 0:
        raise TargetInvalid("count", f"must be a whole number above 0, not {t.count!r}")
    if t.count > max_count:
        raise TargetInvalid("count", f"{t.count} is above RESPONDER_MAX_TARGET_COUNT={max_count}")
    if t.spend_cap < 0 or (t.spend_cap and t.spend_cap < t.count):
        raise TargetInvalid("spend_cap", f"must be 0 (4 x count) or at least the count {t.count}")
    if t.match_criteria not in MATCH_CRITERIA:
        raise TargetInvalid("match_criteria", f"must be one of {', '.join(MATCH_CRITERIA)}")
    if t.end_date:
        try:
            ends = _dt.datetime.fromisoformat(t.end_date.replace("Z", "+00:00"))
        except ValueError:
            raise TargetInvalid("end_date", f"{t.end_date!r} is not an ISO time") from None
        if ends.tzinfo is None:
            raise TargetInvalid("end_date", "give a time zone (e.g. 2027-01-01T00:00:00Z)")
        if t.kind != "reservation":
            raise TargetInvalid("end_date", "only reservations end")
    if t.cloud == "oci":
        from responder.targets.oci_spec import check_oci

        return check_oci(t)
    if t.kind == "instances":
        if not t.launch.image_id:
            raise TargetInvalid("image", "an instances target needs an image to launch")
        missing = [z for z in t.zones if z not in dict(t.launch.subnets)]
        if missing:
            raise TargetInvalid("subnets", f"name a subnet / vswitch for {', '.join(missing)} (zone=id,...)")
        if t.launch.market not in MARKETS:
            raise TargetInvalid("market", f"must be one of {', '.join(MARKETS)}")
    return t
