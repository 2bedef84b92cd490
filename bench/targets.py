"""Standing capacity: one reconcile tick over 500 targets in 3 AWS regions with 20 % of them
short, on the wire-level sandbox; and the old capacity-target function (fixed chunks of 10, a
counter it increments itself, no lock) on the same markets as the baseline.

Parts: three_regions (the scenario), Bench (sandbox + store + reconciler; `calls_since`),
measure_tick (500 targets: fill, make 20 % short, measure one tick), OldTool (the old function:
counter rows, chunks of 10, no halving, no describe), drought_market / lost_update / expired
(ours vs the old tool on the same market), main.

Run: python bench/targets.py [--targets 500] [--gap-share 0.2] [--seed 7]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from responder.capacity.ledger import SqlLedger  # noqa: E402
from responder.errors import NoCapacity  # noqa: E402
from responder.model import Offering  # noqa: E402
from responder.sandbox.runtime import start_sandbox  # noqa: E402
from responder.sandbox.scenario import DEFAULT_SCENARIO  # noqa: E402
from responder.settings import Settings  # noqa: E402
from responder.store import Store  # noqa: E402
from responder.targets.model import TARGET_TAG, Target  # noqa: E402
from responder.targets.reconcile import Reconciler  # noqa: E402
from responder.targets.table import TargetStore  # noqa: E402

REGIONS = ("us-east-1", "us-east-2", "us-west-2")
TYPE = "m5.large"


def three_regions(offers: list | None = None, default_stock: int = 100000) -> dict:
    base = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    aws = next(r for r in base["regions"] if r["cloud"] == "aws")
    regions = []
    for n, name in enumerate(REGIONS):
        r = copy.deepcopy(aws)
        r.update(region=name, zones=[f"{name}{z}" for z in "abc"], instances=[])
        r["subnets"] = [dict(s, id=f"subnet-0bench{n}{i}0000000000"[:24], zone=f"{name}{z}",
                             vpc=f"vpc-0bench{n}0000000000"[:21]) for (i, z), s in zip(enumerate("abc"), aws["subnets"])]
        r.pop("placement_scores", None)
        regions.append(r)
    base.update(regions=regions, faults=[], latency_ms=0, time_scale=1)
    base["stock"] = {"default": default_stock, "offers": offers or []}
    return base


class Bench:
    def __init__(self, scenario: dict, tmp: str, name: str = "bench"):
        self.box = start_sandbox(scenario, only=("aws",))
        url = f"sqlite:///{tmp}/{name}.db"
        self.settings = Settings(database_url=url, targets_interval_seconds=0.0, max_launches_per_hour=100000,
                                 background_ticker=False)
        self.store = Store(url, upgrade=True)
        self.tstore = TargetStore(self.store.engine)
        self.reconciler = Reconciler(self.tstore, self.store, self.box.clouds, self.settings, SqlLedger(self.store.engine))
        self.aws = self.box.clouds["aws"]

    def calls_since(self, mark: int) -> Counter:
        return Counter(c["action"] for c in self.box.emulators["aws"].calls[mark:])

    def mark(self) -> int:
        return len(self.box.emulators["aws"].calls)

    def live(self, region: str, name: str) -> list:
        return [r for r in self.aws.list_reservations(region, state="active") if dict(r.tags).get(TARGET_TAG) == name]

    def stop(self):
        self.box.stop()


def measure_tick(n_targets: int, gap_share: float, seed: int) -> dict:
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(three_regions(), tmp)
        try:
            targets = []
            for i in range(n_targets):
                region = REGIONS[i % 3]
                t = Target(name=f"t{i:04d}", cloud="aws", region=region, zones=(f"{region}a", f"{region}b"),
                           instance_types=(TYPE,), count=rnd.randint(1, 10))
                bench.tstore.add(t)
                targets.append(t)
            mark, started = bench.mark(), time.perf_counter()
            first = bench.reconciler.tick(budget=600)
            fill = {"seconds": round(time.perf_counter() - started, 2), "calls": dict(bench.calls_since(mark)),
                    "acquired": first.acquired}
            short = rnd.sample(targets, int(n_targets * gap_share))
            # The old function on the same change, from its counters (it makes no describe call):
            # a cancelled reservation is invisible to it, a raised count is one new chunk of <= 10.
            old = {"describe_calls": 0, "new_reservations": 0, "units_missed": 0}
            for k, t in enumerate(short):  # half lose a reservation (cancelled), half ask for more
                if k % 2:
                    old["units_missed"] += t.count
                    for r in bench.live(t.region, t.name):
                        bench.aws.cancel_reservation(t.region, r.reservation_id)
                else:
                    bench.tstore.update(Target(**{**t.__dict__, "count": t.count + rnd.randint(1, 5)}))
                    old["new_reservations"] += 1
            mark, started = bench.mark(), time.perf_counter()
            tick = bench.reconciler.tick(budget=600)
            seconds = time.perf_counter() - started
            calls = bench.calls_since(mark)
            mark, started = bench.mark(), time.perf_counter()
            idle = bench.reconciler.tick(budget=600)
            return {"targets": n_targets, "short": len(short), "fill_tick": fill, "old_tool_same_change": old,
                    "tick": {"seconds": round(seconds, 2), "calls": dict(calls), "acquired": tick.acquired,
                             "reconciled": tick.reconciled, "listings": tick.calls, "still_short": tick.short},
                    "idle_tick": {"seconds": round(time.perf_counter() - started, 2),
                                  "calls": dict(bench.calls_since(mark)), "acquired": idle.acquired}}
        finally:
            bench.stop()


class OldTool:
    """The old capacity-target function: Current_Capacity is its own counter; each run reserves
    the difference in chunks of 10 (the last chunk smaller), stops a row at the first refusal,
    never halves, never reads the cloud, takes no lock."""

    def __init__(self, aws, region: str, zone: str, target: int):
        self.aws, self.region, self.zone, self.target = aws, region, zone, target
        self.current = 0
        self.created: list[str] = []

    def read(self) -> int:
        return self.current

    def run(self, current: int | None = None) -> None:
        current = self.current if current is None else current
        while current < self.target:
            chunk = min(10, self.target - current)
            try:
                made = self.aws.create_reservation(self.region, Offering(TYPE, self.zone), chunk,
                                                   f"old-{id(self)}-{len(self.created)}-{time.monotonic_ns()}")
            except NoCapacity:
                return
            self.created.append(made.reservation_id)
            current += chunk
            self.current = current  # UPDATE ... SET Current_Capacity = <what this run computed>


def _held(aws, region, ids) -> int:
    return sum(r.total for r in aws.list_reservations(region, state="active", only_ours=False)
               if r.reservation_id in ids)


def drought_market(tmp: str) -> dict:
    """Target 25 on a market that frees 10, then 5, then 10 (one run after each)."""
    offers = [{"type": TYPE, "zone": "us-east-2a", "market": "ondemand", "available": 10,
               "schedule": [{"at": 100, "add": 5}, {"at": 200, "add": 10}]}]
    out = {}
    for who in ("ours", "old"):
        bench = Bench(three_regions(offers), tmp, f"drought-{who}")
        clock = bench.box.emulators["aws"].clock
        try:
            held = []
            if who == "ours":
                bench.tstore.add(Target(name="d", cloud="aws", region="us-east-2", zones=("us-east-2a",),
                                        instance_types=(TYPE,), count=25))
            old = OldTool(bench.aws, "us-east-2", "us-east-2a", 25)
            for _ in range(3):
                if who == "ours":
                    bench.reconciler.tick(60)
                    held.append(sum(r.total for r in bench.live("us-east-2", "d")))
                else:
                    old.run()
                    held.append(_held(bench.aws, "us-east-2", set(old.created)))
                clock.advance(100)
            made = len(bench.live("us-east-2", "d")) if who == "ours" else len(old.created)
            out[who] = {"held_after_each_run": held, "reservations": made}
        finally:
            bench.stop()
    return out


def lost_update(tmp: str) -> dict:
    """Two runs overlap on a target of 25 (a slow run and the next schedule)."""
    out = {}
    bench = Bench(three_regions(), tmp, "lost-ours")
    try:
        bench.tstore.add(Target(name="l", cloud="aws", region="us-east-2", zones=("us-east-2a",),
                                instance_types=(TYPE,), count=25))
        runs = [threading.Thread(target=bench.reconciler.tick, args=(60,)) for _ in range(2)]
        [r.start() for r in runs]
        [r.join() for r in runs]
        live = bench.live("us-east-2", "l")
        out["ours"] = {"held": sum(r.total for r in live), "reservations": len(live),
                       "over_purchase": sum(r.total for r in live) - 25}
    finally:
        bench.stop()
    bench = Bench(three_regions(), tmp, "lost-old")
    try:
        old = OldTool(bench.aws, "us-east-2", "us-east-2a", 25)
        seen = old.read(), old.read()  # both runs read Current_Capacity = 0 before either writes
        for current in seen:
            old.run(current)
        held = _held(bench.aws, "us-east-2", set(old.created))
        out["old"] = {"held": held, "reservations": len(old.created), "over_purchase": held - 25,
                      "counter_says": old.current}
    finally:
        bench.stop()
    return out


def expired(tmp: str) -> dict:
    """A reservation of a met target of 8 expires; one more run each."""
    out = {}
    bench = Bench(three_regions(), tmp, "expired")
    try:
        bench.tstore.add(Target(name="e", cloud="aws", region="us-east-2", zones=("us-east-2a",),
                                instance_types=(TYPE,), count=8))
        bench.reconciler.tick(60)
        book = bench.box.emulators["aws"].reservations["us-east-2"]
        for r in bench.live("us-east-2", "e"):
            book.expire(r.reservation_id)
        bench.reconciler.tick(60)
        out["ours"] = {"held_after_next_run": sum(r.total for r in bench.live("us-east-2", "e"))}
        old = OldTool(bench.aws, "us-east-2", "us-east-2b", 8)
        old.run()
        for rid in old.created:
            book.expire(rid)
        old.run()
        out["old"] = {"held_after_next_run": _held(bench.aws, "us-east-2", set(old.created)),
                      "counter_says": old.current}
    finally:
        bench.stop()
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=500)
    parser.add_argument("--gap-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = {"tick": measure_tick(args.targets, args.gap_share, args.seed), "drought": drought_market(tmp),
                  "lost_update": lost_update(tmp), "expired": expired(tmp)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
