"""The checks a new or changed target must pass before it is stored (no cloud is asked).

Parts: check_target (shape and bounds, naming the field at fault), zone_in_region. OCI's own
checks (availability domains, flex shapes, image by OS) are in oci_spec.py.
"""

from __future__ import annotations

import datetime as _dt
import re

from responder.targets.model import CLOUDS, KINDS, MARKETS, MATCH_CRITERIA, Target, TargetInvalid
from responder.targets.oci_spec import check_oci, is_ad_name

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_TYPE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,62}$")
_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{1,62}$")  # OCI shapes: VM.Standard.A1.Flex


def zone_in_region(cloud: str, region: str, zone: str) -> bool:
    """AWS zones are the region plus a letter (us-east-2a), Aliyun's the region, a dash and a
    letter (cn-hangzhou-i). Local Zones (us-west-2-lax-1a) also start with the region. OCI's
    availability domains do not always spell the region (us-ashburn-1 → Uocm:US-ASHBURN-AD-1):
    their form is checked here, the name against the region's list (oci_spec)."""
    if cloud == "oci":
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
