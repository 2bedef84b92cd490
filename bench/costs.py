"""What pricing a wave costs in API calls: a whole pool reclaimed at once (bench/wave.py's wave on
the realistic pack, through the real SDKs on the sandbox, in scenario time), each done task's
prices read once it is done, through the adapters' price cache and the API budget.

Run: python bench/costs.py [--sizes 50,200] [--clouds aliyun,aws] [--processes 1] [--json]
(figures in BENCHMARKS.md, "What it cost: price reads in a wave")

Figures per run: price_calls (DescribePrice on Aliyun; DescribeSpotPriceHistory and GetProducts on
AWS, as the emulator answered them), price_calls_per_replacement, priced_share (done tasks whose
original and bought prices are both known), unknown (done tasks with a price unknown), failed, and
the money the day's report shows for the wave (replacement_cost, fallback_cost). `--json` prints
one JSON object last: {"<cloud>": {"<n>": {...}}}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from wave import new_runner  # noqa: E402

from responder.notify.daily import cost_fields  # noqa: E402
from responder.replace.costs import summarize  # noqa: E402
from responder.replace.record import Task  # noqa: E402
from responder.sandbox.wave_drive import run_wave  # noqa: E402

PRICE_CALLS = {"aliyun": ("DescribePrice",), "aws": ("DescribeSpotPriceHistory", "GetProducts")}


def one(cloud: str, n: int, processes: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        ran = run_wave(cloud, n, new_runner, processes=processes, seed=seed, database_url=f"sqlite:///{tmp}/costs.db",
                       launch_from="auto")
        tasks = [Task(row) for row in ran["rows"]]
        done = [t for t in tasks if t.status == "done" and t.record.launch.replacement_ids]
        calls = [c for c in ran["calls"] if c["action"] in PRICE_CALLS[cloud] and c.get("status", 200) < 300]
        priced = sum(t.record.costs is not None and t.record.costs.known for t in done)
        end = max((t.row.updated_at for t in tasks), default=0.0) + 3600.0  # the report's day: to an hour after
        summary = summarize(tasks, end - 86400.0, end)
        return {"price_calls": len(calls), "price_calls_per_replacement": round(len(calls) / max(1, len(done)), 3),
                "priced_share": round(priced / max(1, len(done)), 3), "unknown": len(done) - priced,
                "failed": sum(t.status != "done" for t in tasks), **cost_fields(summary),
                "wall_s": round(time.monotonic() - started, 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200")
    parser.add_argument("--clouds", default="aliyun,aws")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    args = parser.parse_args(argv)
    result: dict = {}
    for cloud in args.clouds.split(","):
        result[cloud] = {}
        for n in (int(s) for s in args.sizes.split(",")):
            key = str(n) + (f"x{args.processes}" if args.processes > 1 else "")
            figures = result[cloud][key] = one(cloud, n, args.processes, args.seed)
            print(f"{cloud:6} {key:>5}  price calls {figures['price_calls']} "
                  f"({figures['price_calls_per_replacement']} per replacement)  priced {figures['priced_share']:.1%}  "
                  f"unknown {figures['unknown']}  failed {figures['failed']}  "
                  f"{figures.get('replacement_cost', 'no cost')}  ({figures['wall_s']} s wall)",
                  file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    return result


if __name__ == "__main__":
    main()
