"""Replacements under injected faults: with 20 % of cloud calls failing (half HTTP 500
InternalError, half throttling), how many of N replacements complete, how many instances were
launched per interruption, and how long until all are done, as a ratio to the fault-free run.

Run: python bench/faults.py [--events 100] [--rate 0.2] [--clouds aliyun,aws] [--time-scale 1] [--json]
The last stdout line with --json is one JSON object: {"aliyun": {...}, "aws": {...}}; both runs
(fault-free first, then faulty) are made by this one process, on this machine, one after the other.
Method and figures: BENCHMARKS.md, "Replacements under faults". Harness: bench/common.py.

The sandbox here sets no API rate limits, so the responder is told its account's quota as an
operator would (RESPONDER_API_RATES): far above what 100 replacements need. The throttles are the
injected ones, answered at random whatever the rate: what this measures is what faults cost, not
the limits (bench/wave.py measures those).
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor

from aliyun_replacement import ALIYUN
from aws_replacement import AWS
from common import Responder, clone_scenario

SERVER_FAULT = {"aliyun": ("InternalError", 500), "aws": ("InternalError", 500)}
# The account's quota, as RESPONDER_API_RATES would give it: every bucket far above the demand.
AMPLE_RATES = (("aliyun", "*", 100_000.0, 60.0, True), ("aliyun", "instances", 100_000.0, 60.0, True),
               *(("aws", name, 10_000.0, 1_000.0, False) for name in
                 ("non_mutating", "unfiltered", "mutating", "resource_intensive", "RunInstances",
                  "RunInstances:instances")))
THROTTLE = {"aliyun": ("Throttling", 400), "aws": ("RequestLimitExceeded", 503)}


def faults(cloud: str, rate: float) -> list[dict]:
    """Two independent rules at rate/2 each: about `rate` of all calls fail."""
    half = rate / 2
    (server, server_status), (throttle, throttle_status) = SERVER_FAULT[cloud], THROTTLE[cloud]
    return [{"action": "*", "code": server, "status": server_status, "rate": half, "times": -1},
            {"action": "*", "code": throttle, "status": throttle_status, "rate": half / (1 - half), "times": -1}]


def one_run(bench, n: int, rate: float, seed: int, time_scale: float) -> dict:
    scenario, ids = clone_scenario(bench, n, seed=seed, latency_ms=0, image_build_seconds=2, time_scale=time_scale)
    scenario["seed"] = seed  # the emulators' fault dice
    scenario["faults"] = faults(bench.cloud, rate) if rate else []
    with Responder(bench, scenario, ticker=True, api_rates=AMPLE_RATES) as responder:
        started = time.time()
        with ThreadPoolExecutor(8) as pool:
            tasks = list(pool.map(lambda i: responder.post(i)[1]["id"], ids))
        finished = [responder.wait_finished(t, timeout=600) for t in tasks]
        elapsed = time.time() - started
        calls = responder.emulator.calls
        launches = sum(len(t.record.launch.replacement_ids) for t in finished)
        failed_calls = sum(1 for c in calls if c.get("status", 200) >= 400 or c.get("code"))
        return {
            "interruptions": n,
            "completed": sum(t.status == "done" for t in finished),
            "failed": sum(t.status == "failed" for t in finished),
            "instances_launched": launches,
            "seconds_to_all_done": round(elapsed, 2),
            "calls": len(calls),
            "failed_call_share": round(failed_calls / max(1, len(calls)), 3),
            "reasons": sorted({t.reason for t in finished if t.status != "done"})[:5],
        }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--clouds", default="aliyun,aws")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="scenario speed-up (1: images take their 2 s in real time; 10: a stress run)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    benches = {"aliyun": ALIYUN, "aws": AWS}
    result = {}
    for cloud in args.clouds.split(","):
        clean = one_run(benches[cloud], args.events, 0.0, args.seed, args.time_scale)
        faulty = one_run(benches[cloud], args.events, args.rate, args.seed, args.time_scale)
        result[cloud] = {"fault_free": clean, "faulty": faulty,
                         "completed_share": round(faulty["completed"] / args.events, 3),
                         "time_ratio": round(faulty["seconds_to_all_done"] / max(0.01, clean["seconds_to_all_done"]), 2)}
        if not args.json:
            print(f"{cloud}: {faulty['completed']}/{args.events} completed with {faulty['failed_call_share']:.0%} "
                  f"of calls failing, {faulty['instances_launched']} instances launched; "
                  f"{faulty['seconds_to_all_done']} s vs {clean['seconds_to_all_done']} s fault-free "
                  f"(ratio {result[cloud]['time_ratio']})")
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return result


if __name__ == "__main__":
    main()
