"""Back to spot, measured: a realistic fleet whose spot pools are all sold out falls back to
on-demand; stock returns; every replacement is moved back to spot. Through the real SDKs on the
wire sandbox, in scenario time (ManualClock), so no figure depends on the machine's speed.

Run: python bench/revert.py [--clouds aliyun,aws] [--return-at 4000] [--json]
(figures in BENCHMARKS.md, "Back to spot").

Per cloud: fell_back (interruptions replaced on-demand), moved (moves that ended `moved`),
extra_purchases_per_move (instances bought by the moves / moves: 1.0 is one spot instance each),
p50 / max seconds from the stock's return to the spot instance running and to the on-demand one
retired, reads_per_move / writes_per_move (API calls of the moves), left_running (on-demand
replacements still running at the end; 0 when every move went through).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from responder.model import Cloud, EventKind, Interruption  # noqa: E402
from responder.replace.record import Task  # noqa: E402
from responder.replace.runner import TaskRunner  # noqa: E402
from responder.revert.tick import tick_revert  # noqa: E402
from responder.sandbox.race_drive import drive  # noqa: E402
from responder.sandbox.runtime import start_sandbox  # noqa: E402
from responder.sandbox.scenario import ManualClock  # noqa: E402
from responder.settings import Settings  # noqa: E402
from responder.store import Store  # noqa: E402

PACK = ROOT / "responder" / "sandbox" / "scenarios"
READS = ("Describe", "Get", "List")
SCAN_STEP = 60.0  # the ticker's revert pass runs at most once a minute (revert/tick.py)


def scenario(cloud: str, return_at: float) -> dict:
    """The realistic pack with every spot pool sold out until `return_at`, when each original's own
    pool gets stock back, and no rate limits (the moves are measured, not the budget)."""
    data = yaml.safe_load((PACK / f"realistic-{cloud}.yaml").read_text())
    region = data["regions"][0]
    own = {(i["type"], i["zone"]) for i in region["instances"]}
    offers = []
    for kind in region["instance_types"]:
        for zone in region["zones"]:
            offer = {"type": kind["type"], "zone": zone, "market": "spot", "available": 0}
            if (kind["type"], zone) in own:
                offer["schedule"] = [{"at": return_at, "available": 100}]
            offers.append(offer)
    data["stock"] = {"default": 1000, "offers": offers}
    data["rate_limits"] = "off"
    return data


def run(cloud: str, return_at: float) -> dict:
    clock = ManualClock()
    data = scenario(cloud, return_at)
    region = data["regions"][0]
    box = start_sandbox(copy.deepcopy(data), only=(cloud,), clock=clock)
    try:
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120)
            store = Store(f"sqlite:///{folder}/bench.db", clock=clock)
            runner = TaskRunner(store, box.clouds, settings, clock=clock, sleep=clock.advance)
            events = [(0.0, Interruption(cloud=Cloud(cloud), region=region["region"], instance_id=i["id"],
                                         kind=EventKind.INTERRUPTION, account=str(region.get("account", ""))))
                      for i in region["instances"]]
            fell = [Task(store.get(r.task.id)) for r in drive(runner, clock, events, return_at - 1)]
            fell = [t for t in fell if t.status == "done" and t.record.launch.replacement.market == "ondemand"]
            before = len(box.emulators[cloud].calls)
            until = return_at + 4 * 3600
            while clock() <= until:
                tick_revert(runner, force=True)
                runner.tick()
                moves = [Task(r) for r in store.list(limit=500) if r.kind == "revert"]
                if len(moves) >= len(fell) and all(m.finished for m in moves):
                    break
                due = store.next_due_at()
                clock.advance_to(max(min(due if due is not None else until, clock() + SCAN_STEP), clock() + 0.05))
            calls = [c["action"] for c in box.emulators[cloud].calls[before:]]
            return figures(fell, moves, calls, return_at, box, cloud)
    finally:
        box.stop()


def figures(fell: list[Task], moves: list[Task], calls: list[str], return_at: float, box, cloud: str) -> dict:
    moved = [m for m in moves if m.record.revert.outcome == "moved"]
    bought = [m for m in moves if m.record.revert.bought_instance_id]
    running = [m.record.revert.bought_running_at - return_at for m in moved]
    retired = [m.record.revert.retired_at - return_at for m in moved]
    left = [t.record.launch.replacement_ids[0] for t in fell
            if not any(m.instance_id == t.record.launch.replacement_ids[0] for m in moved)]
    reads = sum(c.startswith(READS) for c in calls)
    return {"fell_back": len(fell), "moved": len(moved),
            "extra_purchases_per_move": round(len(bought) / len(moved), 3) if moved else None,
            "p50_stock_to_spot_running_s": round(statistics.median(running), 1) if running else None,
            "max_stock_to_spot_running_s": round(max(running), 1) if running else None,
            "p50_stock_to_retired_s": round(statistics.median(retired), 1) if retired else None,
            "max_stock_to_retired_s": round(max(retired), 1) if retired else None,
            "reads_per_move": round(reads / len(moved), 1) if moved else None,
            "writes_per_move": round((len(calls) - reads) / len(moved), 1) if moved else None,
            "left_running": len(left)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clouds", default="aliyun,aws")
    parser.add_argument("--return-at", type=float, default=4000.0, help="scenario second the spot stock returns")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    results = {cloud: run(cloud, args.return_at) for cloud in args.clouds.split(",")}
    for cloud, figures_of in results.items():
        print(f"{cloud}: " + ", ".join(f"{k} {v}" for k, v in figures_of.items()))
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
