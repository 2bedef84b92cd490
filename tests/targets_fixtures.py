"""Helpers for the standing-capacity tests: a store, a reconciler on sandbox clouds, targets.

Parts: CLOUD_PLACES (region, zones, types per cloud in the default scenario), make_target,
Rig (store + target store + ledger + reconciler over a running sandbox; `tick`, `row`,
`reservations`), drought (a stock rule: nothing, then units at scenario times).
"""

from __future__ import annotations

import dataclasses

from responder.capacity.ledger import SqlLedger
from responder.settings import Settings
from responder.store import Store
from responder.targets.model import Target
from responder.targets.reconcile import Reconciler
from responder.targets.table import TargetStore

CLOUD_PLACES = {
    "aws": ("us-east-2", ["us-east-2a", "us-east-2b", "us-east-2c"], ["m5.large", "m6i.large"]),
    "aliyun": ("cn-hangzhou", ["cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"], ["ecs.g7.large", "ecs.g6.large"]),
}


def make_target(cloud: str, name: str = "web", count: int = 25, zones: int = 1, types: int = 1, **changes) -> Target:
    region, zone_list, type_list = CLOUD_PLACES[cloud]
    t = Target(name=name, cloud=cloud, region=region, zones=tuple(zone_list[:zones]),
               instance_types=tuple(type_list[:types]), count=count)
    return dataclasses.replace(t, **changes)


def drought(cloud: str, available: int, schedule: list[dict], type_index: int = 0, zone_index: int = 0,
            market: str = "ondemand") -> dict:
    _, zones, types = CLOUD_PLACES[cloud]
    return {"type": types[type_index], "zone": zones[zone_index], "market": market, "available": available,
            "schedule": schedule}


class Rig:
    def __init__(self, box, url: str, **settings):
        self.box = box
        self.settings = Settings(database_url=url, targets_interval_seconds=0.0, background_ticker=False,
                                 **settings)
        self.store = Store(url, upgrade=True)
        self.tstore = TargetStore(self.store.engine)
        self.ledger = SqlLedger(self.store.engine)
        self.reconciler = Reconciler(self.tstore, self.store, box.clouds, self.settings, self.ledger)

    def tick(self, budget: float = 20.0):
        return self.reconciler.tick(budget)

    def row(self, name: str = "web"):
        return self.tstore.get(name)

    def reservations(self, cloud: str, name: str = "web"):
        region = CLOUD_PLACES[cloud][0]
        c = self.box.clouds[cloud]
        listed = c.list_reservations(region, state="", only_ours=True) if cloud == "aws" else c.list_reservations(region, status="")
        return [r for r in listed if dict(r.tags).get("responder:target") == name]

    def advance(self, seconds: float) -> None:
        for emulator in self.box.emulators.values():
            emulator.clock.advance(seconds)
