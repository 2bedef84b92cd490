"""The harness behind bench/aliyun_replacement.py and bench/aws_replacement.py.

Parts: CloudBench (what differs per cloud: event sample, id shape, launch action, image create
time), clone_scenario (N copies of the default scenario's doomed instance), Responder (sandbox +
task store + app on a threaded werkzeug server over real HTTP), the four measurements
(receipt_to_image, burst, replacements), percentile, and main (runs all at 0 ms and 50 ms and
prints the figures).

Clocks: the emulators stamp every call's arrival with time.time() (`wall`, before the added
latency) and scenario time (`t`); the benchmark stamps its sends with time.time() too, so
receipt → CreateImage is one clock. Image Available → launch is measured in the emulator's own
scenario time base and divided by time_scale to give real seconds.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from responder.replace.record import Task  # noqa: E402
from responder.sandbox.loopback import LoopbackServer  # noqa: E402
from responder.sandbox.runtime import start_sandbox  # noqa: E402
from responder.sandbox.scenario import DEFAULT_SCENARIO  # noqa: E402
from responder.settings import Settings  # noqa: E402
from responder.store import Store  # noqa: E402
from responder.replace.runner import TaskRunner  # noqa: E402
from responder.web import create_app  # noqa: E402

FINISHED = ("done", "failed", "rejected")


@dataclass(frozen=True)
class CloudBench:
    cloud: str  # "aliyun" | "aws"
    event_file: str  # sample under events/, its instance id is replaced per event
    make_id: Callable[[random.Random], str]
    is_doomed: Callable[[dict], bool]  # picks the default scenario's interrupted instance
    launch_action: str  # "RunInstances" | "CreateFleet"
    image_created_at: Callable[[Any, str], float]  # (emulator, image id) → scenario time of CreateImage
    old_system: dict[str, str] = field(default_factory=dict)
    window_seconds: float = 0.0  # the warning the cloud gives (AWS: 120 s); 0 = not reported


# -- scenario and events ---------------------------------------------------------------------

def clone_scenario(bench: CloudBench, n: int, seed: int = 7, **top: Any) -> tuple[dict, list[str]]:
    """The default scenario with only `bench.cloud`, whose doomed instance is cloned n times
    (distinct ids, same everything else); top-level keys (latency_ms, ...) overridden."""
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    data["regions"] = [r for r in data["regions"] if r["cloud"] == bench.cloud]
    region = data["regions"][0]
    doomed = next(i for i in region["instances"] if bench.is_doomed(i))
    rng = random.Random(seed)
    ids: list[str] = []
    while len(ids) < n:
        candidate = bench.make_id(rng)
        if candidate not in ids:
            ids.append(candidate)
    region["instances"] = [dict(copy.deepcopy(doomed), id=i) for i in ids]
    # Plenty of spot stock where the replacements land, so every run picks the same offering.
    for offer in data["stock"]["offers"]:
        if offer.get("available"):
            offer["available"] = 1000
    data.update(top)
    return data, ids


def event_body(bench: CloudBench, instance_id: str) -> bytes:
    raw = (ROOT / "events" / bench.event_file).read_text()
    sample = json.loads(raw)
    old = (sample.get("content") or sample.get("detail") or {}).get("instanceId") or sample["detail"]["instance-id"]
    return raw.replace(old, instance_id).encode()


# -- the responder under test ----------------------------------------------------------------

class Responder:
    """Sandbox (one cloud) + SQLite task store + the Flask app on a threaded werkzeug server."""

    def __init__(self, bench: CloudBench, scenario: dict, ticker: bool, **settings_changes: Any):
        self.bench = bench
        self._tmp = tempfile.TemporaryDirectory(prefix="responder-bench-")
        self.box = start_sandbox(scenario, only=(bench.cloud,))
        self.settings = Settings(database_url=f"sqlite:///{self._tmp.name}/tasks.db", background_ticker=ticker,
                                 tick_interval=0.05, max_launches_per_hour=100_000, launch_retry_seconds=0,
                                 **settings_changes)
        self.runner = TaskRunner(Store(self.settings.database_url), self.box.clouds, self.settings)
        self.app = create_app(self.settings, runner=self.runner)
        self.ticker = self.app.start_ticker() if ticker else None
        self.server = LoopbackServer(self.app, 0, "responder-bench")
        self.url = f"http://127.0.0.1:{self.server.start()}/events"
        self._local = threading.local()

    @property
    def emulator(self):
        return self.box.emulators[self.bench.cloud]

    @property
    def scenario(self):
        return self.box.scenario

    def post(self, instance_id: str) -> tuple[float, dict]:
        """POST one interruption over HTTP; (time.time() just before sending, the task as JSON)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.trust_env = False  # loopback: never through a proxy
        body = event_body(self.bench, instance_id)
        sent = time.time()
        response = session.post(self.url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
        answer = response.json()
        if response.status_code not in (200, 202) or answer.get("outcome") != "accepted":
            raise RuntimeError(f"{instance_id}: HTTP {response.status_code} {answer}")
        return sent, answer["task"]

    def wait_finished(self, task_id: str, timeout: float = 60.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            task = Task(self.runner.store.get(task_id))
            if task.status in FINISHED:
                return task
            time.sleep(0.02)
        raise RuntimeError(f"task {task_id} did not finish in {timeout} s")

    def image_call_of(self, instance_id: str) -> dict:
        return next(c for c in self.emulator.calls
                    if c["action"] == "CreateImage" and c["params"].get("InstanceId") == instance_id)

    def close(self) -> None:
        if self.ticker:
            self.ticker.stop()
        self.server.stop()
        self.box.stop()
        self._tmp.cleanup()

    def __enter__(self) -> "Responder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p99 of 100 values is the 99th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# -- 1. receipt → CreateImage, one event at a time -------------------------------------------

def receipt_to_image(bench: CloudBench, latency_ms: float, n: int) -> dict:
    scenario, ids = clone_scenario(bench, n, latency_ms=latency_ms, image_build_seconds=3600)
    with Responder(bench, scenario, ticker=False) as responder:
        responder.post(ids[0])  # not measured: loads the SDK request classes, first SQLite connection
        totals, overheads, server_side, before = [], [], [], []
        sample: list[str] = []
        for instance_id in ids[1:]:
            sent, task = responder.post(instance_id)
            image = responder.image_call_of(instance_id)
            calls = [c for c in responder.emulator.calls if sent <= c["wall"] < image["wall"]]
            total = image["wall"] - sent
            totals.append(total)
            before.append(len(calls))
            overheads.append(total - len(calls) * latency_ms / 1000.0)
            server_side.append(image["wall"] - task["timings"]["received"])
            sample = [c["action"] for c in calls] + ["CreateImage"]
    return {"n": len(totals), "median_ms": 1000 * statistics.median(totals), "p99_ms": 1000 * percentile(totals, 99),
            "overhead_p99_ms": 1000 * percentile(overheads, 99), "overhead_median_ms": 1000 * statistics.median(overheads),
            "server_p99_ms": 1000 * percentile(server_side, 99), "calls_before": sorted(set(before)),
            "image_position": max(before) + 1, "sample_calls": sample}


# -- 4. a burst: 200 events from 16 concurrent senders ---------------------------------------

def burst(bench: CloudBench, latency_ms: float, n: int, senders: int, calls_through_image: int) -> dict:
    scenario, ids = clone_scenario(bench, n + 1, seed=11, latency_ms=latency_ms, image_build_seconds=3600)
    warm, ids = ids[0], ids[1:]
    with Responder(bench, scenario, ticker=False) as responder:
        responder.post(warm)
        gate = threading.Barrier(senders + 1)
        errors: list[str] = []

        def send(share: list[str]) -> None:
            gate.wait()
            for instance_id in share:
                try:
                    responder.post(instance_id)
                except Exception as exc:  # keep going; counted below
                    errors.append(f"{instance_id}: {exc}")

        threads = [threading.Thread(target=send, args=(ids[i::senders],)) for i in range(senders)]
        for thread in threads:
            thread.start()
        gate.wait()
        started = time.time()
        for thread in threads:
            thread.join()
        images = [c for c in responder.emulator.calls if c["action"] == "CreateImage" and c["wall"] >= started]
        done = {c["params"].get("InstanceId") for c in images if c["status"] < 400}
    elapsed = max(c["wall"] for c in images) - started
    bound = math.ceil(n / senders) * calls_through_image * latency_ms / 1000.0
    return {"n": n, "senders": senders, "images": len(done), "errors": errors[:3], "error_count": len(errors),
            "seconds": elapsed, "bound_seconds": bound, "ratio": elapsed / bound if bound else None}


# -- 2 and 3. whole replacements on a warm runner --------------------------------------------

def replacements(bench: CloudBench, latency_ms: float, k: int, build_seconds: float, time_scale: float,
                 ticker: bool = False) -> dict:
    """k + 1 replacements one after another; the first warms the runner (catalog, subnets, build
    estimate) and is reported apart. After the POST the task is driven by one worker: the runner's
    run_to_end (ticker=False), or the background ticker as `serve` runs it (ticker=True)."""
    scenario, ids = clone_scenario(bench, k + 1, seed=23, latency_ms=latency_ms, image_build_seconds=build_seconds,
                                   time_scale=time_scale)
    runs = []
    with Responder(bench, scenario, ticker=ticker) as responder:
        emulator = responder.emulator
        for instance_id in ids:
            first = len(emulator.calls)
            _, submitted = responder.post(instance_id)
            if ticker:
                task = responder.wait_finished(submitted["id"])
            else:
                task = responder.runner.run_to_end(submitted["id"], timeout=60)
            if task.status != "done":
                raise RuntimeError(f"replacement of {instance_id} ended {task.status}: {task.reason}")
            calls = emulator.calls[first:]
            image_id = task.record.image.image_id
            available = bench.image_created_at(emulator, image_id) + build_seconds
            launch = next(c for c in calls if c["action"] == bench.launch_action)
            running = max(i for i, c in enumerate(calls) if c["action"] == "DescribeInstances")
            timings = task.record.timings
            runs.append({"instance": instance_id, "lag_s": (launch["t"] - available) / time_scale,
                         "image_polls": task.record.image.polls,
                         "calls": [c["action"] for c in calls],
                         "calls_to_running": running + 1,
                         "product_lag_s": timings["launch_issued"] - timings["image_available"]})
    return {"warmup": runs[0], "warm": runs[1:], "build_real_s": build_seconds / time_scale}


# -- report ----------------------------------------------------------------------------------

def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def run(bench: CloudBench, n: int, burst_n: int, senders: int, k: int, build_seconds: float, time_scale: float,
        latencies: tuple[float, ...]) -> dict:
    results: dict[str, Any] = {}
    for latency in latencies:
        phases = [time.time()]
        one = receipt_to_image(bench, latency, n)
        phases.append(time.time())
        many = burst(bench, latency, burst_n, senders, one["image_position"])
        phases.append(time.time())
        full = replacements(bench, latency, k, build_seconds, time_scale)
        phases.append(time.time())
        # serve mode's double work (request and ticker on one task) shows at any latency: once is enough
        served = replacements(bench, latency, 1, build_seconds, time_scale, ticker=True) if not results else None
        phases.append(time.time())
        seconds = [round(b - a, 1) for a, b in zip(phases, phases[1:])]
        results[f"{latency:g}ms"] = {"receipt_to_image": one, "burst": many, "replacements": full,
                                     "serve_mode": served, "phase_seconds": seconds}
        report(bench, latency, one, many, full, served)
        print(f"   (phases took {seconds} s)")
    return results


def report(bench: CloudBench, latency: float, one: dict, many: dict, full: dict, served: dict) -> None:
    cloud = bench.cloud
    print(f"\n=== {cloud}, {latency:g} ms per API call ===")
    print(f"1. receipt -> CreateImage issued over HTTP, {one['n']} events one at a time: "
          f"median {_ms(one['median_ms'])}, p99 {_ms(one['p99_ms'])}")
    print(f"   calls before CreateImage: {one['calls_before']} (CreateImage is call #{one['image_position']}): "
          f"{' -> '.join(one['sample_calls'][:one['image_position']])}")
    print(f"   our own overhead (minus emulator latency): median {_ms(one['overhead_median_ms'])}, "
          f"p99 {_ms(one['overhead_p99_ms'])}  [target <= 20 ms p99: "
          f"{'met' if one['overhead_p99_ms'] <= 20 else 'MISSED'}]")
    print(f"   (server-side: task 'received' stamp -> CreateImage p99 {_ms(one['server_p99_ms'])})")
    warm = full["warm"]
    lags = [r["lag_s"] for r in warm]
    print(f"2. image Available -> {bench.launch_action} issued (emulator clock, build {full['build_real_s']:g} s real): "
          f"warm runner median {statistics.median(lags):.3f} s, max {max(lags):.3f} s; "
          f"first (cold) {full['warmup']['lag_s']:.3f} s  [target <= 1 s: "
          f"{'met' if max(lags + [full['warmup']['lag_s']]) <= 1 else 'MISSED'}]")
    print(f"   image polls per task: {[r['image_polls'] for r in [full['warmup']] + warm]}")
    counts = [r["calls_to_running"] for r in warm]
    print(f"3. API calls per replacement (warm runner, DescribeInstances .. final Running check): "
          f"{counts} (all calls incl. after Running: {[len(r['calls']) for r in warm]})  "
          f"[target <= 8: {'met' if max(counts) <= 8 else 'MISSED'}]")
    print(f"   warm:  {' '.join(warm[0]['calls'])}")
    print(f"   first: {' '.join(full['warmup']['calls'])}")
    in_serve = served["warm"][0] if served else None
    if in_serve:
        print(f"   serve mode (background ticker on, same warm runner): {in_serve['calls_to_running']} calls, "
              f"image lag {in_serve['lag_s']:.3f} s: {' '.join(in_serve['calls'])}")
    bound = f"{many['bound_seconds']:.2f} s" if many["bound_seconds"] else "0 (no latency)"
    ratio = f", ratio {many['ratio']:.2f}x" if many["ratio"] else ""
    print(f"4. burst of {many['n']} from {many['senders']} senders: every CreateImage issued after "
          f"{many['seconds']:.2f} s ({many['images']}/{many['n']} images, {many['error_count']} errors); "
          f"lower bound ceil({many['n']}/{many['senders']}) x {one['image_position']} calls x {latency:g} ms = "
          f"{bound}{ratio}")
    if bench.window_seconds:
        print(f"   against the {bench.window_seconds:.0f} s warning: p99 receipt -> CreateImage is "
              f"{100 * one['p99_ms'] / 1000 / bench.window_seconds:.2f}% of it; the burst's last CreateImage at "
              f"{100 * many['seconds'] / bench.window_seconds:.1f}%")
    if bench.old_system:
        print("   old system: " + "; ".join(f"{k}: {v}" for k, v in bench.old_system.items()))


def main(bench: CloudBench, argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=f"{bench.cloud} replacement benchmark on the wire sandbox")
    parser.add_argument("--events", type=int, default=100, help="events for receipt -> CreateImage (default 100)")
    parser.add_argument("--burst", type=int, default=200, help="events in the concurrent burst (default 200)")
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--replacements", type=int, default=2, help="warm replacements after the warm-up one")
    parser.add_argument("--build-seconds", type=float, default=30.0, help="scenario seconds an image takes")
    parser.add_argument("--time-scale", type=float, default=10.0, help="scenario seconds per real second")
    parser.add_argument("--latency", type=float, action="append", help="ms per API call (default: 0 and 50)")
    parser.add_argument("--json", action="store_true", help="also print every figure as one JSON line")
    args = parser.parse_args(argv)
    started = time.time()
    results = run(bench, args.events + 1, args.burst, args.senders, args.replacements, args.build_seconds,
                  args.time_scale, tuple(args.latency or (0.0, 50.0)))
    print(f"\nwhole run: {time.time() - started:.0f} s")
    if args.json:
        print(json.dumps(results, default=str))
    return results
