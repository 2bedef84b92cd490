"""Placing spot capacity by the interruption bands the clouds publish: a calmer pool first.

Parts: BandView (the bands a probe read, or why there are none), rank (spot candidates + bands →
the order to try them in, and why), of_pools / chosen (each ranked pool's band kept in the task
record, and the band of the pool a launch chose: the planned moves read it, revert/calm.py), BandReads (the executor's reads: a day per cloud, region and
types; a failed read is no bands, never a failed task).

The rule (docs/churn.md, "Published interruption bands"):
- among spot candidates of one rank class (planner.SCORED_RANK: the original type in any zone;
  the same shape in another family; the same memory with more vCPUs) a pool in a lower band goes
  first; within a band the planner's order stays (zone, placement score, price);
- a pool in the top band (>20 % a month) goes after every calmer candidate of the same shape: the
  original type in its stressed zone goes after a calm same-shape type of another family, because
  for a stateful VM each reclaim is a full replacement, and a calm equivalent costs nothing more;
- a pool without a published band ranks as the lowest band (no sign of stress); no bands at all
  (none published, the read failed, RESPONDER_SPOT_BANDS=off) leaves the order as it was.
Applied before the churn guard's rank, so a demoted pool still goes last.

Why the bands and not only our own reclaims: a month of a fleet's reclaims are mostly first
reclaims of instances sitting in a stressed pool (BENCHMARKS.md, "Spot month"); learning from our
own history cannot know a pool's rate before it reclaims us, and the clouds publish it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from responder.caching import TTLCache
from responder.clouds.spot_bands import BANDS, TOP, Bands, band_for
from responder.errors import CloudError
from responder.replace.planner import SAME_SHAPE_OTHER_FAMILY, SCORED_RANK, Candidate

log = logging.getLogger(__name__)
DAY = 86400.0
RETRY_AFTER_S = 600.0  # after a failed read, a region's tasks go on without bands this long
SOURCES = {"aliyun": "DescribeSpotAdvice", "aws": "the Spot Instance Advisor"}
_LAST_CLASS = max(SCORED_RANK.values())
_SAME_SHAPE = SCORED_RANK[SAME_SHAPE_OTHER_FAMILY]  # the last class of the original's shape


@dataclass(frozen=True)
class BandView:
    bands: Bands = field(default_factory=dict)
    source: str = ""  # the API or document that published them
    note: str = ""  # why there are none (kept in the record)


def _group(candidate: Candidate, band: int) -> float:
    """Where a candidate's rank class puts it; a top-band pool after the calmer ones of its shape."""
    rank_class = SCORED_RANK.get(candidate.tier, _LAST_CLASS)
    if band < TOP:
        return rank_class
    return max(rank_class, _SAME_SHAPE) + 0.5


def rank(candidates: list[Candidate], view: BandView | None) -> tuple[list[Candidate], list[str]]:
    """The spot candidates in band order (the rule above), and one reason per candidate that a
    band moved later; other markets and no bands: as they came."""
    if view is None or not view.bands or any(c.market != "spot" for c in candidates):
        return list(candidates), ([view.note] if view is not None and view.note else [])
    banded = [(c, band_for(view.bands, c.instance_type, c.zone) or 0) for c in candidates]
    order = sorted(range(len(banded)), key=lambda i: (_group(*banded[i]), banded[i][1], i))
    ranked = [banded[i][0] for i in order]
    reasons = []
    for new, old in enumerate(order):
        candidate, band = banded[old]
        if new > old:
            reasons.append(f"ranked after calmer pools: {candidate.instance_type} in {candidate.zone} (spot) is in "
                           f"the published interruption band {BANDS[band]} a month ({view.source})")
    return ranked, reasons


def pool_key(instance_type: str, zone: str) -> str:
    """How a pool is named in the record's `plan.bands` ("<type> <zone>")."""
    return f"{instance_type} {zone}"


def pool_name(candidate: Candidate) -> str:
    return pool_key(candidate.instance_type, candidate.zone)


def of_pools(candidates: list[Candidate], view: BandView | None) -> dict[str, int]:
    """The published band of each spot candidate that has one ("<type> <zone>" → band)."""
    if view is None or not view.bands:
        return {}
    found = {pool_name(c): band_for(view.bands, c.instance_type, c.zone) for c in candidates if c.market == "spot"}
    return {pool: band for pool, band in found.items() if band is not None}


def chosen(pool_bands: dict[str, int], candidate: Candidate | None) -> int | None:
    """The band of the pool a launch bought in, from the last probe's bands (None: on-demand, none known)."""
    if candidate is None or candidate.market != "spot":
        return None
    return pool_bands.get(pool_name(candidate))


class BandReads:
    """The executor's band reads: one per cloud, region and candidate types a day (the clouds state
    a trailing month), on the task clock. A read that fails (an error, the API budget holding it
    back) gives no bands, and the region is not asked again for RETRY_AFTER_S."""

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self.cache = TTLCache(ttl=DAY, clock=clock)
        self.failed: dict[tuple[str, str], tuple[float, str]] = {}
        self.lock = threading.Lock()

    def read(self, cloud_name: str, region: str, cloud, types: list[str]) -> BandView:
        source = SOURCES.get(cloud_name, "")
        if not source:
            return BandView(note="")  # the cloud publishes no bands (OCI): nothing to say
        with self.lock:
            failed = self.failed.get((cloud_name, region))
        if failed is not None and self.clock() - failed[0] < RETRY_AFTER_S:
            return BandView(source=source, note=f"no published interruption bands: {failed[1]}")
        try:
            bands = self.cache.get_or_load((cloud_name, region, tuple(types)),
                                           lambda: cloud.spot_bands(region, list(types)))
        except (CloudError, OSError) as exc:
            why = f"{source} could not be read ({exc}); candidates keep their order"
            log.warning("interruption bands for %s %s: %s", cloud_name, region, why)
            with self.lock:
                self.failed[(cloud_name, region)] = (self.clock(), why)
            return BandView(source=source, note=f"no published interruption bands: {why}")
        note = "" if bands else f"no published interruption bands: {source} gives none for these types"
        return BandView(bands, source, note)
