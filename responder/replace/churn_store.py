"""The store's history of reclaims, for the churn guard (churn.py).

Parts: reclaims (the table), pool_of (an instance's pool), predecessor (the instance a replacement
replaced, from the tag every replacement carries), ChurnHistory (note a reclaim, read a region's
recent ones, judge a task: note + verdict; pools: every pool's count and demotion, for /metrics and
the status page).

One row per task that saw a verified interruption (a unique key on the claim key: a redelivery, a
retried observer or a resumed task never counts twice). A region's recent rows are one query on
the (cloud, region, reclaimed_at) index, kept CACHE_SECONDS on the task clock: a wave's tasks share
one read, and each reclaim this process notes joins the cached rows at once, so the wave's later
tasks see its earlier ones; other processes' reclaims show when the cache lapses.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from responder.clouds.base import InstanceInfo
from responder.replace.churn import ChurnPolicy, ChurnVerdict, Pool, PoolStanding, Reclaim, standings, verdict
from responder.store import metadata
from responder.store_connect import StoreUnavailable, unavailable_on_error

log = logging.getLogger("responder.churn")
CACHE_SECONDS = 30.0
REPLACES_TAG = "responder:replaces"  # set on every replacement (launch.py)

reclaims = sa.Table(
    "responder_reclaims",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("claim_key", sa.String(255), nullable=False),
    sa.Column("cloud", sa.String(16), nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("zone", sa.String(64), nullable=False),
    sa.Column("instance_type", sa.String(64), nullable=False),
    sa.Column("market", sa.String(16), nullable=False),
    sa.Column("instance_id", sa.String(128), nullable=False),
    sa.Column("lineage", sa.String(128), nullable=False),
    sa.Column("reclaimed_at", sa.Double, nullable=False),
    sa.UniqueConstraint("claim_key", name="uq_responder_reclaims_claim"),
    sa.Index("ix_responder_reclaims_recent", "cloud", "region", "reclaimed_at"),
)
cols = reclaims.c


def pool_of(cloud: str, source: InstanceInfo) -> Pool:
    return Pool(cloud, source.region, source.zone, source.instance_type, "spot" if source.spot else "ondemand")


def predecessor(source: InstanceInfo) -> str:
    return next((value for key, value in source.tags if key == REPLACES_TAG), "")


def lineage_of(history: list[Reclaim], source: InstanceInfo) -> str:
    """The chain's first instance: the instance this one replaced was reclaimed too, and its row
    names the chain's first; older than the horizon, it no longer counts and the chain starts again."""
    before = predecessor(source)
    return next((r.lineage for r in history if r.instance_id == before), before) or source.instance_id


def _reclaim(row) -> Reclaim:
    return Reclaim(row.claim_key, Pool(row.cloud, row.region, row.zone, row.instance_type, row.market),
                   row.instance_id, row.lineage, row.reclaimed_at)


class ChurnHistory:
    def __init__(self, engine: sa.Engine, policy: ChurnPolicy, clock: Callable[[], float] = time.time):
        self.engine, self.policy, self.clock = engine, policy, clock
        self._cache: dict[tuple[str, str], tuple[float, list[Reclaim]]] = {}
        self._lock = threading.Lock()

    @unavailable_on_error("reclaim history")
    def _read(self, since: float, cloud: Optional[str] = None, region: Optional[str] = None) -> list[Reclaim]:
        query = sa.select(reclaims).where(cols.reclaimed_at >= since)
        if cloud is not None:
            query = query.where(cols.cloud == cloud, cols.region == region)
        with self.engine.connect() as conn:
            return [_reclaim(row) for row in conn.execute(query)]

    @unavailable_on_error("reclaim history")
    def _add(self, reclaim: Reclaim) -> None:
        pool = reclaim.pool
        try:
            with self.engine.begin() as conn:
                conn.execute(reclaims.insert().values(
                    claim_key=reclaim.claim_key, cloud=pool.cloud, region=pool.region, zone=pool.zone,
                    instance_type=pool.instance_type, market=pool.market, instance_id=reclaim.instance_id,
                    lineage=reclaim.lineage, reclaimed_at=reclaim.at))
        except IntegrityError:
            pass  # this task already noted it

    def recent(self, cloud: str, region: str) -> list[Reclaim]:
        """The region's reclaims a decision can still see (the policy's horizon)."""
        now = self.clock()
        with self._lock:
            hit = self._cache.get((cloud, region))
            if hit is not None and hit[0] > now:
                return list(hit[1])
        rows = self._read(now - self.policy.horizon_s, cloud, region)
        with self._lock:
            self._cache[(cloud, region)] = (now + CACHE_SECONDS, rows)
        return list(rows)

    def _note(self, history: list[Reclaim], claim_key: str, cloud: str, source: InstanceInfo, now: float) -> Reclaim:
        known = next((r for r in history if r.claim_key == claim_key), None)
        if known is not None:
            return known
        reclaim = Reclaim(claim_key, pool_of(cloud, source), source.instance_id, lineage_of(history, source), now)
        self._add(reclaim)
        with self._lock:
            hit = self._cache.get((cloud, source.region))
            if hit is not None and all(r.claim_key != claim_key for r in hit[1]):
                hit[1].append(reclaim)
        history.append(reclaim)
        return reclaim

    def judge(self, claim_key: str, cloud: str, source: InstanceInfo, reclaimed: bool, now: float,
              on_demand_allowed: bool, record: bool = True) -> ChurnVerdict:
        """A verified task's verdict; a reclaim (not a rebalance recommendation) is noted first, so
        it counts too. `record` False (a dry run) decides without writing. The guard advises: with
        the store unreadable the task goes on unguarded and the verdict says so."""
        try:
            history = self.recent(cloud, source.region)
            lineage = next((r.lineage for r in history if r.claim_key == claim_key), "")
            if reclaimed and record:
                lineage = self._note(history, claim_key, cloud, source, now).lineage
            elif not lineage:
                lineage = lineage_of(history, source)
        except StoreUnavailable as exc:
            log.warning("churn guard off for %s: %s", claim_key, exc)
            return ChurnVerdict(source.instance_id, reasons=[f"churn guard off for this task: {exc}"])
        return verdict(history, lineage, self.policy, now, on_demand_allowed)

    def pools(self, now: Optional[float] = None) -> list[dict]:
        """Every pool that reclaimed us within the horizon: its reclaims in the window and whether
        it is demoted now (for /metrics and the status page), most reclaims first."""
        now = self.clock() if now is None else now
        found: dict[Pool, PoolStanding] = standings(self._read(now - self.policy.horizon_s), self.policy, now)
        rows = [{"cloud": p.cloud, "region": p.region, "zone": p.zone, "instance_type": p.instance_type,
                 "market": p.market, "reclaims": s.reclaims, "occasions": s.occasions,
                 "demoted": s.demoted_until > 0,
                 "demoted_until": s.demoted_until} for p, s in found.items()]
        return sorted(rows, key=lambda r: (-r["reclaims"], r["cloud"], r["region"], r["zone"], r["instance_type"]))
