"""The region a zone belongs to, read off its name (`odcr` without `--region`, a followed table's rows).

The old guide's lines name only a zone (`--availability-zone us-west-2a`) and rely on the zone
being in the configured region. We read the region off the zone's own name instead, so a line
typed for us-west-2 reaches us-west-2 whatever the profile says; AWS_DEFAULT_REGION (and then the
profile) answers only when no zone is named (`odcr expand`).

Zone names (AWS "Regions and Zones" page: an Availability Zone is the region code followed by a
letter, a Local Zone the region code, a location and a letter, e.g. us-west-2-lax-1a; Aliyun
"Regions and zones": cn-hangzhou-i, and ap-southeast-1a style in a few regions).
"""

from __future__ import annotations

import re

# region code: two letters, words, a number (us-west-2, us-gov-west-1, ap-northeast-1, cn-north-1).
_AWS = re.compile(r"^(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)(?:[a-z]|-[a-z]+-\d+[a-z]|-wl\d+-[a-z]+-[a-z]+-\d+)$")
# Aliyun: cn-hangzhou-i → cn-hangzhou; ap-southeast-1a → ap-southeast-1.
_ALIYUN = re.compile(r"^(?P<region>[a-z]{2}(?:-[a-z]+)+(?:-\d+)?)(?:-[a-z]|(?<=\d)[a-z])$")


class MixedRegions(ValueError):
    """Zones of one run span several regions: one run talks to one region."""


def region_of_zone(cloud: str, zone: str) -> str | None:
    """The region a zone name belongs to, or None when the name is not shaped like a zone."""
    match = (_ALIYUN if cloud == "aliyun" else _AWS).match(zone.strip().lower())
    return match.group("region") if match else None


def region_of_zones(cloud: str, zones: list[str]) -> str | None:
    """The one region all zones belong to; None when no zone names one; MixedRegions when they differ."""
    found = {r for r in (region_of_zone(cloud, z) for z in zones) if r}
    if len(found) > 1:
        raise MixedRegions(f"the zones {', '.join(zones)} are in several regions ({', '.join(sorted(found))}); "
                           "one run reserves in one region")
    return next(iter(found), None)
