"""The protect pass benchmark: one tick's protect pass over N tagged instances on the EC2 sandbox,
through boto3 on the wire, period after period, in scenario time.

Parts: cloned (a realistic pack's instance cloned N times, also bench/fleet_read.py's), fleet, run, main.

Run: python bench/protect.py [--instances 200] [--periods 3] [--json]   (BENCHMARKS.md, "Protect ahead")

Each period: one tick makes an AMI of every tagged instance and applies retention (keep 1: from the
third period on, the oldest AMI of each instance goes with its snapshot); a second tick in the same
period finds the period's marker and asks the cloud nothing. Per tick: seconds, EC2 calls, AMIs made
and deleted.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from responder.protect.tick import tick_protect  # noqa: E402
from responder.replace.runner import TaskRunner  # noqa: E402
from responder.sandbox.runtime import start_sandbox  # noqa: E402
from responder.sandbox.scenario import ManualClock  # noqa: E402
from responder.settings import Settings  # noqa: E402
from responder.store import Store  # noqa: E402

PERIOD_S = 3600.0
SELECTOR = ("aws", "us-east-2", "protect", "yes")


def cloned(cloud: str, app: str, n: int, ids: str, change: Callable[[dict], None]) -> dict:
    """The realistic pack of `cloud` with its instance tagged app=`app` changed, then cloned n times
    (ids: a format of the clone's number)."""
    data = yaml.safe_load((ROOT / "responder" / "sandbox" / "scenarios" / f"realistic-{cloud}.yaml").read_text())
    region = data["regions"][0]
    one = next(i for i in region["instances"] if i["tags"]["app"] == app)
    change(one)
    region["instances"] = [dict(copy.deepcopy(one), id=ids.format(k)) for k in range(n)]
    return data


def fleet(n: int) -> dict:
    """The realistic AWS pack with its web server cloned n times, healthy and tagged protect=yes."""
    def healthy(web: dict) -> None:
        web.pop("spot_request_state", None)
        web["tags"]["protect"] = "yes"
    return cloned("aws", "web", n, "i-0bbb{:013x}", healthy)


def run(instances: int, periods: int) -> list[dict]:
    clock = ManualClock()
    box = start_sandbox(fleet(instances), only=("aws",), clock=clock)
    emulator = box.emulators["aws"]
    settings = Settings(database_url="sqlite://", background_ticker=False, protect_selectors=(SELECTOR,),
                        protect_period_seconds=PERIOD_S, protect_keep=1, protect_tick_budget_seconds=600.0)
    rows = []
    try:
        store = Store(f"sqlite:///{tempfile.mkdtemp(prefix='bench-protect-')}/store.db", clock=clock)
        runner = TaskRunner(store, box.clouds, settings, clock=clock)
        for period in range(periods):
            clock.advance_to(period * PERIOD_S + 1)
            for tick in ("first", "again"):
                calls, started = len(emulator.calls), time.perf_counter()
                report = tick_protect(runner).get(":".join(SELECTOR[:2]) + f":{SELECTOR[2]}={SELECTOR[3]}", {})
                rows.append({"period": period, "tick": tick, "seconds": round(time.perf_counter() - started, 3),
                             "ec2_calls": len(emulator.calls) - calls, "imaged": len(report.get("imaged", [])),
                             "deleted": len(report.get("deleted", []))})
            clock.advance(600.0)  # every AMI available before the next period
    finally:
        box.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--periods", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = run(args.instances, args.periods)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("period tick   seconds  ec2_calls  imaged  deleted")
    for r in rows:
        print(f"{r['period']:>6} {r['tick']:<6} {r['seconds']:>8} {r['ec2_calls']:>10} {r['imaged']:>7} {r['deleted']:>8}")


if __name__ == "__main__":
    main()
