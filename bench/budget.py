"""The API budget against a cloud's bucket, on a ManualClock (no figure depends on the machine):
how processes sharing one account converge, and what random throttles cost.

Run: python bench/budget.py [--seconds 360] [--json]
- shared: N processes (each its own ApiBudget at the documented figures) saturate one server
  bucket of EC2's figures for 360 s; after the first 120 s: the share of their calls refused and
  the share of the bucket's refill they used.
- noise: one process wants 200 calls a second of an account bucket well above that (1000 + 500/s)
  while the cloud throttles a share of the answers at random (bench/faults.py's kind); the share
  of the demand that went through.
- windows: N processes saturate the emulator's ECS window (200 calls a minute, the lock-out of the
  rest of the minute) for 5 minutes, each budget counting only its own calls ("alone") or the
  account's window in one store ("store", capacity/shared_windows.py); the share of their calls
  refused and of the window used.
The last stdout line with --json is one JSON object: {"shared": {"<action> x<N>": {...}},
"noise": {"<p>": share}, "windows": {"<alone|store> x<N>": {...}}}. Figures: BENCHMARKS.md, "The
API budget".
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from responder.capacity.api_limits import bucket, limits_for  # noqa: E402
from responder.capacity.budget import ApiBudget  # noqa: E402
from responder.capacity.shared_windows import SharedWindows  # noqa: E402
from responder.errors import Deferred  # noqa: E402
from responder.sandbox.budget_drive import share_one_bucket, share_one_window  # noqa: E402
from responder.sandbox.stock import ManualClock  # noqa: E402
from responder.store import Store  # noqa: E402


def shared(action: str, processes: int, seconds: float, warm_up: float = 120.0) -> dict:
    refused, passed = share_one_bucket(action, processes, seconds, warm_up)
    refill = limits_for("aws", action)[0][1].refill
    return {"refused_share": round(refused / max(1, refused + passed), 3),
            "bucket_used": round(passed / (refill * (seconds - warm_up)), 3)}


def windows(processes: int, store: bool, minutes: int = 5) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        shared = SharedWindows(Store(f"sqlite:///{tmp}/windows.db").engine) if store else None
        counts = share_one_window(processes, minutes, shared)
    refused, passed = sum(r for r, _ in counts), sum(p for _, p in counts)
    return {"refused_share": round(refused / max(1, refused + passed), 3),
            "window_used": round(passed / (200 * minutes), 3)}


def noise(share: float, seconds: float, wanted_per_second: int = 200) -> float:
    clock, rand = ManualClock(0.0), random.Random(11)
    budget = ApiBudget(clock, {("aws", "DescribeImages"): bucket(1000, 500)})
    passed = 0
    for _ in range(int(seconds * 100)):
        clock.advance(0.01)
        for _ in range(wanted_per_second // 100):
            try:
                budget.before("aws", "r1", "DescribeImages")
            except Deferred:
                break
            throttled = rand.random() < share
            budget.after("aws", "r1", "DescribeImages", throttled, "RequestLimitExceeded" if throttled else "")
            passed += not throttled
    return round(passed / (wanted_per_second * seconds * (1 - share)), 3)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=360.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = {"shared": {f"{action} x{n}": shared(action, n, args.seconds)
                         for action in ("DescribeImages", "DescribeInstances", "CreateImage") for n in (1, 2, 4, 8)},
              "noise": {str(p): noise(p, args.seconds / 6) for p in (0.05, 0.1, 0.2)},
              "windows": {f"{'store' if store else 'alone'} x{n}": windows(n, store)
                          for store in (False, True) for n in (1, 2, 4, 8)}}
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for name, figures in result["shared"].items():
            print(f"{name:22} refused {figures['refused_share']:6.1%}  bucket used {figures['bucket_used']:6.1%}")
        for name, figures in result["windows"].items():
            print(f"ECS window {name:9} refused {figures['refused_share']:6.1%}  window used {figures['window_used']:6.1%}")
        for share, through in result["noise"].items():
            print(f"noise {float(share):4.0%} throttled at random: {through:6.1%} of the demand went through")
    return result


if __name__ == "__main__":
    main()
