"""The fleet read benchmark: one fleet read (responder/revert/fleet.py look_fleet) over N tagged
spot instances on the Aliyun sandbox, through the real SDK on the wire, then a second one.

Run: python bench/fleet_read.py [--instances 1000] [--json]   (BENCHMARKS.md, "The fleet named")

Every instance is a spot ecs.g7.xlarge in cn-hangzhou-j, published >20 % a month (cn-hangzhou-i
<5 %), tagged fleet=yes and responder:managed=true: every one is adopted by the first read. Per
read: ECS calls by action, instances adopted, seconds. The bound the product keeps: one
DescribeInstances per page of 100 instances and one band read a day, never a call per instance.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protect import cloned  # noqa: E402  (this file's own folder)

from responder.replace.runner import TaskRunner  # noqa: E402
from responder.revert.fleet import look_fleet  # noqa: E402
from responder.sandbox.runtime import start_sandbox  # noqa: E402
from responder.sandbox.scenario import ManualClock  # noqa: E402
from responder.settings import Settings  # noqa: E402
from responder.store import Store  # noqa: E402

SELECTOR = ("aliyun", "cn-hangzhou", "fleet", "yes")


def fleet(n: int) -> dict:
    """The realistic Aliyun pack with its database cloned n times: healthy, tagged, no data disk;
    ecs.g7.xlarge published >20 % in cn-hangzhou-j (its zone), <5 % elsewhere."""
    def healthy(db: dict) -> None:
        db.pop("locks", None)
        db.pop("data_disks", None)
        db["tags"] = {"fleet": "yes", "responder:managed": "true"}
    data = cloned("aliyun", "db", n, "i-bp1f{:016d}", healthy)
    data["regions"][0]["spot_advice"] = {"default": "<5%",
                                         "pools": [{"type": "ecs.g7.xlarge", "zone": "cn-hangzhou-j", "band": ">20%"}]}
    data["stock"] = {"default": 1000}
    return data


def run(instances: int) -> list[dict]:
    clock = ManualClock()
    box = start_sandbox(fleet(instances), only=("aliyun",), clock=clock)
    emulator = box.emulators["aliyun"]
    settings = Settings(database_url="sqlite://", background_ticker=False, fleet_selectors=(SELECTOR,))
    rows = []
    try:
        store = Store(f"sqlite:///{tempfile.mkdtemp(prefix='bench-fleet-')}/store.db", clock=clock)
        runner = TaskRunner(store, box.clouds, settings, clock=clock)
        for name in ("first read", "second read"):
            before, started = len(emulator.calls), time.perf_counter()
            look_fleet(runner, clock())
            seconds = time.perf_counter() - started
            calls = Counter(c["action"] for c in emulator.calls[before:])
            adopted = sum(1 for r in store.list(limit=instances + 10) if r.kind == "adopted")
            rows.append({"read": name, "calls": dict(calls), "adopted": adopted, "seconds": round(seconds, 2)})
    finally:
        box.stop()
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = run(args.instances)
    for row in rows:
        print(f"{args.instances} instances, {row['read']}: {sum(row['calls'].values())} calls {row['calls']}, "
              f"{row['adopted']} adopted, {row['seconds']} s")
    if args.json:
        print(json.dumps(rows))
    return rows


if __name__ == "__main__":
    main()
