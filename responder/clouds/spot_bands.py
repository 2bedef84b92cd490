"""The interruption bands the clouds publish per spot pool, read into one scale.

Parts: BANDS (the scale, lowest first), TOP, ADVISOR_URL, band_of_rate, band_for (a pool's band
from a cloud's answer), aliyun_bands (DescribeSpotAdvice answers → bands), AdvisorDocument (the
AWS Spot Instance Advisor's document: one fetch per process per day), advisor_bands (the document →
a region's bands).

The scale is the AWS Spot Instance Advisor's "frequency of interruption" (the rate at which Spot
reclaimed capacity during the trailing month): <5 %, 5-10 %, 10-15 %, 15-20 %, >20 %
(https://aws.amazon.com/ec2/spot/instance-advisor/). Its data is a public JSON document, not a
signed API (https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json): `ranges`
[{index, label, ...}] and `spot_advisor` {region: {"Linux": {type: {"r": index into ranges,
"s": savings %}}}}, per region and type (not per zone).

Aliyun's DescribeSpotAdvice (ECS 2014-05-26, https://help.aliyun.com/zh/ecs/developer-reference/api-describespotadvice)
answers per zone and type the 30-day average release rate, InterruptionRate in % (and its coarser
range InterruptRateDesc: 0-3%, 3-5%, 5-10%, 10-100%); the rate is put on the same scale, a rate on
an edge in the higher band (the harsher reading). InstanceTypes.N takes at most 10 types.

A band is advice: a pool with no band (no data, a failed read) is ranked as it was without bands.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from responder.settings import ADVISOR_URL, SPOT_BANDS

BANDS = SPOT_BANDS
TOP = len(BANDS) - 1
EDGES = (5.0, 10.0, 15.0, 20.0)
ADVISOR_TTL_S = 86400.0  # the Advisor states a trailing month; a day old is fresh enough
ADVISOR_RETRY_S = 600.0  # after a failed fetch, tasks go on without bands this long before the next try
ALIYUN_TYPES_PER_CALL = 10
ANY_ZONE = ""  # a band published per region and type (AWS): it holds in every zone

Bands = dict[tuple[str, str], int]  # (type, zone or ANY_ZONE) → index into BANDS


def band_of_rate(rate_percent: float) -> int:
    return sum(rate_percent >= edge for edge in EDGES)


def band_for(bands: Bands | None, instance_type: str, zone: str) -> int | None:
    if not bands:
        return None
    found = bands.get((instance_type, zone))
    return found if found is not None else bands.get((instance_type, ANY_ZONE))


def aliyun_bands(answer: dict[str, Any]) -> Bands:
    """One DescribeSpotAdvice answer: every (type, zone) it gives a release rate for."""
    found: Bands = {}
    for zone in (answer.get("AvailableSpotZones") or {}).get("AvailableSpotZone") or []:
        for resource in (zone.get("AvailableSpotResources") or {}).get("AvailableSpotResource") or []:
            rate = resource.get("InterruptionRate")
            if rate is not None and resource.get("InstanceType") and zone.get("ZoneId"):
                found[(resource["InstanceType"], zone["ZoneId"])] = band_of_rate(float(rate))
    return found


class AdvisorDocument:
    """The Advisor's document, fetched once per process per day (every region's bands are in it);
    a failed fetch raises, and the next try waits ADVISOR_RETRY_S."""

    def __init__(self, url: str = ADVISOR_URL, timeout: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.url, self.timeout, self.clock = url, timeout, clock
        self._lock = threading.Lock()
        self._document: dict[str, Any] | None = None
        self._fetched_at = -ADVISOR_TTL_S
        self._failed_at = -ADVISOR_RETRY_S
        self._failure = ""

    def _load(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock()
            if self._document is not None and now - self._fetched_at < ADVISOR_TTL_S:
                return self._document
            if now - self._failed_at < ADVISOR_RETRY_S:
                raise OSError(f"the Spot Instance Advisor's data could not be read lately: {self._failure}")
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as answer:
                    document = json.loads(answer.read())
                if not isinstance(document.get("spot_advisor"), dict):
                    raise TypeError("no spot_advisor mapping in the document")
            except (OSError, ValueError, TypeError, AttributeError) as exc:
                self._failed_at, self._failure = now, f"{type(exc).__name__}: {exc}"
                raise OSError(f"reading the Spot Instance Advisor's data: {self._failure}") from exc
            self._document, self._fetched_at = document, now
            return document

    def bands(self, region: str, instance_types: list[str]) -> Bands:
        return advisor_bands(self._load(), region, instance_types)


def advisor_bands(document: dict[str, Any], region: str, instance_types: list[str]) -> Bands:
    """The region's Linux bands in the Advisor's document for these types (ANY_ZONE: per region)."""
    labels = {r.get("index"): r.get("label") for r in document.get("ranges") or []}
    linux = ((document.get("spot_advisor") or {}).get(region) or {}).get("Linux") or {}
    found: Bands = {}
    for instance_type in instance_types:
        label = labels.get((linux.get(instance_type) or {}).get("r"))
        if label in BANDS:  # read by the label: an index the scale does not know is no band
            found[(instance_type, ANY_ZONE)] = BANDS.index(label)
    return found
