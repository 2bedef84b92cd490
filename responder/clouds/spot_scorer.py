"""The scoring client: ask EC2 for Spot Placement Scores the way the API is meant to be used.

Parts: ScoreRequest (one request configuration: the types as a set, target capacity and its unit,
per zone or per Region, the Regions to score), Score (one answer row, zone id mapped to its name),
CONFIG_LIMIT_CODE, SpotScorer (score: one configuration, cached; per_type_zone: the probe's
`dict[(type, zone)] -> score` from groups of >= 3 types).

Why caching is per configuration: EC2 limits how many *new* request configurations an account may
use in 24 hours, while "you can retry the request configurations that you've already used" (EC2
User Guide, "Spot placement score", Limitations). So the scorer keeps the types of a request
sorted (one set, one configuration, whatever order the caller had), answers a repeat within `ttl`
from memory, and after a MaxConfigLimitExceeded refusal sends only configurations it has used in
the last 24 hours until `cooldown` has passed; a refused configuration scores nothing (None) and the
caller ranks without it. Nothing here sleeps or retries.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Hashable

from responder.clouds.spot_groups import candidate_groups
from responder.errors import CloudError

CONFIG_LIMIT_CODE = "MaxConfigLimitExceeded"
DAY_SECONDS = 24 * 3600.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreRequest:
    instance_types: tuple[str, ...]
    target_capacity: int = 1
    unit: str = "units"  # units (instances) | vcpu | memory-mib
    single_az: bool = True
    regions: tuple[str, ...] = ()  # empty: every Region EC2 scores

    def __post_init__(self):
        # A set of types is one configuration however it is listed.
        object.__setattr__(self, "instance_types", tuple(sorted(set(self.instance_types))))
        object.__setattr__(self, "regions", tuple(sorted(set(self.regions))))

    def api_kwargs(self) -> dict:
        kwargs = {"InstanceTypes": list(self.instance_types), "TargetCapacity": self.target_capacity,
                  "SingleAvailabilityZone": self.single_az}
        if self.unit != "units":
            kwargs["TargetCapacityUnitType"] = self.unit
        if self.regions:
            kwargs["RegionNames"] = list(self.regions)
        return kwargs


@dataclass(frozen=True)
class Score:
    region: str
    zone: str  # zone name; "" for a Region score
    score: int


@dataclass
class _Memo:
    answers: dict[tuple, tuple[float, list[Score]]] = field(default_factory=dict)
    first_used: dict[tuple, float] = field(default_factory=dict)
    limited_until: float = 0.0


class SpotScorer:
    """`ask(endpoint_region, request) -> list[Score]` is the adapter's one GetSpotPlacementScores
    (all pages); it raises the classified CloudError."""

    def __init__(self, ask: Callable[[str, ScoreRequest], list[Score]], clock: Callable[[], float] = time.monotonic,
                 ttl: float = 300.0, cooldown: float = 3600.0):
        self._ask = ask
        self._clock = clock
        self._ttl = ttl
        self._cooldown = cooldown
        self._memo = _Memo()
        self._lock = threading.Lock()

    def score(self, endpoint_region: str, request: ScoreRequest) -> list[Score] | None:
        """The scores of one configuration; None when the configuration limit refused it."""
        key = (endpoint_region, request)
        now = self._clock()
        with self._lock:
            memo = self._memo
            for old, first in list(memo.first_used.items()):
                if now - first >= DAY_SECONDS:
                    del memo.first_used[old]
            cached = memo.answers.get(key)
            if cached and now - cached[0] < self._ttl:
                return cached[1]
            if now < memo.limited_until and key not in memo.first_used:
                return cached[1] if cached else None
        try:
            answer = self._ask(endpoint_region, request)
        except CloudError as err:
            if err.code != CONFIG_LIMIT_CODE:
                raise
            log.warning("spot placement scores: new request configurations refused for now (%s); "
                        "ranking without scores for %d types", err.code, len(request.instance_types))
            with self._lock:
                self._memo.limited_until = now + self._cooldown
            return cached[1] if cached else None
        with self._lock:
            self._memo.answers[key] = (now, answer)
            self._memo.first_used.setdefault(key, now)
        return answer

    def per_type_zone(self, region: str, instance_types: list[str], shape_of: Callable[[str], Hashable | None],
                      target_capacity: int = 1) -> dict[tuple[str, str], int]:
        """Each type gets the per-zone score of the group it was scored in: candidates cut into
        groups of >= 3 types (groups.candidate_groups), one SingleAvailabilityZone request each,
        narrowed to `region`. Types of a refused group are left out (unscored)."""
        scores: dict[tuple[str, str], int] = {}
        for group in candidate_groups(list(instance_types), shape_of):
            answer = self.score(region, ScoreRequest(group, target_capacity, single_az=True, regions=(region,)))
            for row in answer or []:
                if row.region == region and row.zone:
                    for instance_type in group:
                        scores[(instance_type, row.zone)] = row.score
        return scores
