"""What a stock probe reads for a task, with the slow-changing facts that rank it cached.

Parts: ProbeResult (what a probe saw), Probes (the caches; probe(task, cloud, market) → ProbeResult).
The executor runs a `probe` call through it; steps._probed ranks the answer (pure planning).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from responder.caching import TTLCache
from responder.clouds.base import CloudPort, InstanceTypeSpec, Subnet
from responder.model import Market
from responder.replace import planner
from responder.replace.bands import BandReads, BandView
from responder.replace.record import Task

STOCK_TTL_S = 2.0  # how long one live stock probe serves every task of a wave


@dataclass(frozen=True)
class ProbeResult:
    market: Market
    catalog: dict[str, InstanceTypeSpec]
    in_stock: set[tuple[str, str]]
    subnets: list[Subnet]
    scores: dict[tuple[str, str], float] | None = None
    prices: dict[tuple[str, str], float] | None = None
    bands: BandView | None = None  # the published interruption bands (spot; replace/bands.py)


class Probes:
    def __init__(self, clock: Callable[[], float], spot_bands: bool):
        self.spot_bands = spot_bands
        self.catalogs = TTLCache(ttl=3600)
        self.subnets = TTLCache(ttl=300)
        self.market_facts = TTLCache(ttl=60)  # AWS offerings, placement scores, spot prices
        self.band_reads = BandReads(clock)  # the published interruption bands, a day per region
        # Live stock, on the task clock: a reclaimed pool's tasks ask for the same candidates within
        # seconds, and one probe answers them all; short, because stock moves (and a launch refused
        # for no stock probes again, see steps._launched).
        self.stock = TTLCache(ttl=STOCK_TTL_S, clock=clock)

    def probe(self, task: Task, cloud: CloudPort, market: Market) -> ProbeResult:
        """Stock for the candidate types on one market, with what ranks them."""
        source = task.record.wanted()  # the original's type first on a move back to spot
        catalog = self.catalogs.get_or_load((task.cloud, task.region), lambda: cloud.instance_types(task.region))
        types = [t for t, _ in planner.candidate_types(source, catalog)]
        if cloud.capabilities.offerings_are_static:  # where a type is offered, not live stock: cacheable
            in_stock = self.market_facts.get_or_load(("offerings", task.cloud, task.region, tuple(types), market),
                                                     lambda: cloud.offerings_with_stock(task.region, types, market))
        else:  # live stock (Aliyun DescribeAvailableResource): one probe serves a wave for a moment
            in_stock = self.stock.get_or_load((task.cloud, task.region, tuple(types), market),
                                              lambda: cloud.offerings_with_stock(task.region, types, market))
        subnets = self.subnets.get_or_load((task.cloud, task.region, source.vpc_id),
                                           lambda: cloud.subnets(task.region, source.vpc_id))
        scores = prices = None
        if market == Market.SPOT and cloud.capabilities.placement_scores:
            # Scores and prices move slowly; a burst of interruptions in one region shares one read.
            scores = self.market_facts.get_or_load(("scores", task.region, tuple(types)),
                                                   lambda: cloud.placement_scores(task.region, types))
            prices = self.market_facts.get_or_load(("prices", task.region, tuple(types)),
                                                   lambda: cloud.spot_prices(task.region, types))
        bands = (self.band_reads.read(task.cloud, task.region, cloud, types)
                 if market == Market.SPOT and self.spot_bands else None)
        return ProbeResult(market, catalog, in_stock, subnets, scores, prices, bands)
