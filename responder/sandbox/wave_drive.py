"""A wave: a whole pool reclaimed at once, on the realistic pack, driven on one ManualClock through
the real SDKs (tests/test_wave.py and bench/wave.py).

Parts: wave_scenario (the pack's fleet cloned n times into one zone, notices within `spread` s),
run_wave (one or several runners — each its own API budget and adapters, as separate processes
would have — sharing one store and one sandbox; returns the tasks and the emulator's call log),
call_figures (reads / writes / throttled answers and the last CreateImage, from the call log;
reads_by_action, where the reads come from),
bucket_bound (the time the scenario's rate limits need to admit n CreateImage calls).

Each runner gets the arrivals in turn and every runner ticks at every step, like processes behind
one load balancer; calls take no scenario time, so the arrivals of one DELIVERY_BEAT_S are answered
side by side (on_beat). A request waiting for company before its verification read waits on the
scenario clock: the driver moves the clock on while it waits, and the notices of the next beats join it.
"""

from __future__ import annotations

import copy
import math
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import yaml

from responder.model import Cloud, EventKind, Interruption
from responder.sandbox.rate_limits import rate_limits_for
from responder.sandbox.runtime import start_sandbox
from responder.sandbox.scenario import ManualClock
from responder.settings import Settings
from responder.store import Store

PACK = Path(__file__).resolve().parent / "scenarios"
MIN_STEP = 0.05
# Notices are delivered as concurrent requests (a load balancer, FC's concurrency), on a beat of
# the time one ECS / EC2 read takes to come back (about 0.1-0.2 s): calls take no scenario time
# here, so the notices that would arrive while a request's verification is in flight arrive
# together instead, and share its next read (replace/group_reads.py).
DELIVERY_BEAT_S = 0.2
# Requests answered side by side at least; more while notices in a wave wait for company before
# their verification (each holds its request until its read, as a server's thread would).
DELIVERIES = 16
THROTTLED = frozenset({"Throttling", "Throttling.User", "Throttling.Api", "RequestLimitExceeded",
                       "TooManyRequests", "ServiceUnavailable"})
_HEX = "0123456789abcdef"


def bucket_bound(scenario: dict, cloud: str, n: int) -> float:
    """Seconds the scenario's rate limits need to admit n CreateImage calls at all (0: no limits)."""
    limits = rate_limits_for(scenario, cloud, ManualClock())
    return round(limits.bound_seconds("CreateImage", n), 2) if limits is not None else 0.0


def on_beat(at: float) -> float:
    """When a notice sent at `at` is delivered: the next DELIVERY_BEAT_S."""
    return math.ceil(at / DELIVERY_BEAT_S - 1e-9) * DELIVERY_BEAT_S


def wave_scenario(cloud: str, n: int, seed: int = 11, spread: float = 10.0, **top) -> tuple[dict, list]:
    """The pack's fleet cloned n times, all in the first zone, notices within `spread` seconds:
    (scenario, [(instance id, notice time)])."""
    data = yaml.safe_load((PACK / f"realistic-{cloud}.yaml").read_text())
    data.update(top)
    region = data["regions"][0]
    zone, subnet = region["zones"][0], region["subnets"][0]["id"]
    shapes, rng, clones = region["instances"], random.Random(seed), []
    for k in range(n):
        inst = copy.deepcopy(shapes[k % len(shapes)])
        inst["id"] = (f"i-bp1{k:017d}" if cloud == "aliyun"
                      else "i-0" + "".join(rng.choice(_HEX) for _ in range(14)) + f"{k:03x}")
        inst["notice_at"] = round(rng.uniform(0, spread), 2)
        inst["zone"], inst["subnet"] = zone, subnet
        inst.pop("public_ip", None)
        clones.append(inst)
    region["instances"] = clones
    return data, [(i["id"], i["notice_at"]) for i in clones]


def run_wave(cloud: str, n: int, new_runner: Callable, processes: int = 1, seed: int = 11, until: float = 3600.0,
             scenario_changes: dict | None = None, **settings_changes) -> dict[str, Any]:
    """Drive the wave to the end: {"rows" (each task's store row, in arrival order), "calls",
    "box" (stopped), "region"}. `new_runner(store, clouds, settings, clock)` makes one process's
    runner (replace.runner.TaskRunner, whose floor is above the sandbox's)."""
    scenario, clones = wave_scenario(cloud, n, seed, **(scenario_changes or {}))
    region = scenario["regions"][0]
    clock = ManualClock()
    box = start_sandbox(scenario, only=(cloud,), clock=clock)
    try:
        store = Store(settings_changes.pop("database_url"), clock=clock)
        settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=240,
                            max_launches_per_hour=10 * n, **settings_changes)
        # Each its own adapter (the runner gives it its own API budget), on one emulator.
        runners = [new_runner(store, {cloud: copy.copy(box.clouds[cloud])}, settings, clock) for _ in range(processes)]
        queue = sorted(((at, Interruption(cloud=Cloud(cloud), region=region["region"], instance_id=i,
                                          kind=EventKind.INTERRUPTION, account=str(region.get("account", ""))))
                        for i, at in clones), key=lambda a: a[0])
        requests, turn = [], 0
        with ThreadPoolExecutor(max_workers=max(DELIVERIES, n)) as front:
            while clock() <= until:
                while queue and on_beat(queue[0][0]) <= clock():
                    requests.append(front.submit(runners[turn % processes].submit, queue.pop(0)[1]))
                    turn += 1
                lingering = _settle(requests, runners)  # answered, or waiting for company on the clock
                for runner in runners:
                    runner.tick()
                due = store.next_due_at()
                upcoming = [t for t in (due, on_beat(queue[0][0]) if queue else None, *lingering) if t is not None]
                if not upcoming:
                    break
                clock.advance_to(max(min(upcoming), clock() + MIN_STEP))
        rows = [store.get(f.result().task.id) for f in requests]
        return {"rows": rows, "calls": box.emulators[cloud].calls, "box": box, "region": region["region"],
                "scenario": scenario}
    finally:
        box.stop()


def _settle(requests: list, runners: list) -> list[float]:
    """Wait until every request is answered or waits for company on the scenario clock (a notice
    in a wave lingers before its verification read, replace/group_reads.py); returns when those
    waits end, so the clock moves there rather than the driver waiting on them."""
    while True:
        groups = [runner.executor.wave.together for runner in runners]
        open_requests = sum(not f.done() for f in requests)
        if open_requests <= sum(g.lingering() for g in groups):
            return [t for t in (g.next_deadline() for g in groups) if t is not None]
        time.sleep(0.002)


def is_read(action: str) -> bool:
    return action.startswith(("Describe", "Get", "List"))


def call_figures(calls: list[dict[str, Any]], replacements: int) -> dict[str, Any]:
    throttled = [c for c in calls if c.get("throttled") or c.get("code") in THROTTLED or c.get("status") == 429]
    images = [c["t"] for c in calls if c["action"] == "CreateImage" and c.get("status", 200) < 300]
    reads = sum(is_read(c["action"]) for c in calls)
    per = max(1, replacements)
    return {"last_create_image_s": round(max(images), 2) if images else None,
            "reads_per_replacement": round(reads / per, 2),
            "writes_per_replacement": round((len(calls) - reads) / per, 2),
            "throttled_share": round(len(throttled) / max(1, len(calls)), 4),
            "reads_by_action": reads_by_action(calls, per)}


def reads_by_action(calls: list[dict[str, Any]], per: int) -> dict[str, float]:
    """Reads per replacement by action, and by the filter that tells one kind of read from another
    (DescribeDisks by instance or by ids, DescribeImages by ids or by tag): where the reads come from."""
    counts: dict[str, int] = {}
    for call in calls:
        if not is_read(call["action"]):
            continue
        params = call.get("params") or {}
        how = next((k for k in ("InstanceId", "InstanceIds", "DiskIds", "ZoneId", "ImageId", "Tag.1.Key", "SnapshotIds",
                                "DiskType", "InstanceId.1", "Filter.1.Name", "ImageId.1", "VolumeId.1")
                    if k in params), "")
        value = str(params.get(how, ""))
        many = value.count(",") + 1 if how in ("InstanceIds", "DiskIds", "ImageId", "SnapshotIds") else 1
        many = max(many, sum(1 for k in params if k.startswith(("InstanceId.", "ImageId.", "VolumeId."))
                             or re.fullmatch(r"Filter\.1\.Value\.\d+", k)))
        how = params.get(how, how) if how == "Filter.1.Name" else how  # which filter: EC2 reads many ways
        key = f"{call['action']} {how}{' (one)' if many == 1 and how else ''}".strip()
        counts[key] = counts.get(key, 0) + 1
    return {k: round(v / per, 2) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}
