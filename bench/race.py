"""The race benchmark: on the realistic scenario pack, N interruptions per cloud under every launch
policy (and today's behaviour), through the real SDKs on the wire sandbox, in scenario time.

Run: python bench/race.py [--events 200] [--json]   (figures in BENCHMARKS.md, "The race")

Each run clones the pack's fleet N times (notices spread over ten minutes; every other clone has
an image from `responder protect` an hour old, so its disks' next snapshot is incremental), drives
one TaskRunner and the emulators on one ManualClock (responder/sandbox/race_drive.py) and reads the
outcome from the sandbox itself: when the original went, whether the interruption image became
Available, what the responder left billing.

Per policy: zero_gap_share (replacement Running no later than the original's release),
median_gap_s / p90_gap_s (Running minus release, 0 when ahead; a task with no replacement counts
as never: null when it decides the percentile), data_kept_share (the interruption image Available
and, for a replacement launched from another image, every data disk on it: reattached or restored
from the fresh snapshot), moved (data disks reattached / restored), orphans (what the responder
made or kept that still bills after every task ended: kept disks / volumes left detached, restored
disks attached to nothing, unbound EIPs, replacements beyond one per task).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from responder.model import Cloud, EventKind, Interruption  # noqa: E402
from responder.protect.orphans import restored_disks  # noqa: E402
from responder.replace.record import Task  # noqa: E402
from responder.replace.runner import TaskRunner  # noqa: E402
from responder.sandbox.race_drive import drive, sandbox_gone  # noqa: E402
from responder.sandbox.runtime import start_sandbox  # noqa: E402
from responder.sandbox.scenario import ManualClock  # noqa: E402
from responder.settings import Settings  # noqa: E402
from responder.store import Store  # noqa: E402

PACK = ROOT / "responder" / "sandbox" / "scenarios"
# name → settings: today's behaviour first (wait for the fresh image, nothing kept).
POLICIES = {
    "today": dict(launch_from="fresh-image", protect_on_receipt=False),
    "fresh-image": dict(launch_from="fresh-image"),
    "source-image": dict(launch_from="source-image"),
    "latest-image": dict(launch_from="latest-image"),
    "auto": dict(launch_from="auto"),
}
SPREAD_S = 600.0
_HEX = "0123456789abcdef"


def fleet(cloud: str, n: int, seed: int) -> tuple[dict, list[tuple[str, float, bool]]]:
    """The pack's scenario with its fleet cloned n times: (id, notice time, protected ahead)."""
    data = yaml.safe_load((PACK / f"realistic-{cloud}.yaml").read_text())
    region = data["regions"][0]
    shapes, rng, clones = region["instances"], random.Random(seed), []
    for k in range(n):
        inst = copy.deepcopy(shapes[k % len(shapes)])
        inst["id"] = (f"i-bp1{k:017d}" if cloud == "aliyun" else "i-0" + "".join(rng.choice(_HEX) for _ in range(14)) + f"{k:03x}")
        inst["notice_at"] = round(rng.uniform(0, SPREAD_S), 1)
        ahead = k % 2 == 1
        if ahead:
            for disk in [inst.get("system_disk") or {}] + list(inst.get("data_disks") or []):
                disk["earlier_snapshots"] = 1
            inst.setdefault("system_disk", {}).setdefault("earlier_snapshots", 1)
        inst.pop("public_ip", None)
        clones.append(inst)
    region["instances"] = clones
    return data, [(i["id"], i["notice_at"], k % 2 == 1) for k, i in enumerate(clones)]


def _protect_ahead(box, cloud: str, region: str, instance_id: str) -> None:
    """An image `responder protect` made an hour before the race."""
    tags = {"responder:source-instance": instance_id, "responder:made-by": "protect"}
    if cloud == "aliyun":
        image_id = "m-bp1" + instance_id[5:]
        box.emulators[cloud].world.images[image_id] = {
            "id": image_id, "name": f"protect-{instance_id}", "region": region, "instance": instance_id,
            "created": -3600.0, "fails": False, "tags": tags}
        return
    backend = box.emulators[cloud].backends[region]
    backend.create_image(instance_id, f"protect-{instance_id}", "responder protect",
                         [{"ResourceType": "image", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])


def run_policy(cloud: str, policy: str, n: int, seed: int) -> dict:
    scenario, clones = fleet(cloud, n, seed)
    region = scenario["regions"][0]
    clock = ManualClock()
    box = start_sandbox(scenario, only=(cloud,), clock=clock)
    try:
        for instance_id, _, ahead in clones:
            if ahead:
                _protect_ahead(box, cloud, region["region"], instance_id)
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(f"sqlite:///{tmp}/race.db", clock=clock)
            settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=240,
                                max_launches_per_hour=10 * n, **POLICIES[policy])
            runner = TaskRunner(store, box.clouds, settings, clock=clock, sleep=clock.advance)
            arrivals = [(at, Interruption(cloud=Cloud(cloud), region=region["region"], instance_id=i,
                                          kind=EventKind.INTERRUPTION, account=str(region.get("account", ""))))
                        for i, at, _ in clones]
            started = time.monotonic()
            results = drive(runner, clock, arrivals, until=SPREAD_S + 3600)
            tasks = [Task(store.get(r.task.id)) for r in results]
            wall = time.monotonic() - started
            return measure(box, cloud, tasks, wall)
    finally:
        box.stop()


def measure(box, cloud: str, tasks: list[Task], wall: float) -> dict:
    gaps, zero, kept = [], 0, 0
    moved = {"reattached": 0, "restored": 0}
    for task in tasks:
        for disk in task.record.race.disks:
            if disk.moved in moved:
                moved[disk.moved] += 1
        released = sandbox_gone(box, cloud, task.instance_id)
        running = task.record.timings.get("running")
        gap = None if running is None or released is None else max(0.0, running - released)
        gaps.append(gap)
        zero += gap == 0.0
        kept += _data_kept(box, cloud, task)
    ordered = sorted(math.inf if g is None else g for g in gaps)
    return {"interruptions": len(tasks), "zero_gap_share": round(zero / len(tasks), 3),
            "median_gap_s": _pct(ordered, 0.5), "p90_gap_s": _pct(ordered, 0.9),
            "data_kept_share": round(kept / len(tasks), 3), "moved": moved, "orphans": orphans(box, cloud, tasks),
            "failed": sum(t.status != "done" for t in tasks), "wall_s": round(wall, 1)}


def _pct(ordered: list[float], p: float):
    value = ordered[min(len(ordered) - 1, int(p * len(ordered)))]
    return None if math.isinf(value) else round(value, 1)


def _data_kept(box, cloud: str, task: Task) -> bool:
    image_id, available = task.record.image.image_id, False
    if image_id and cloud == "aliyun":
        world = box.emulators[cloud].world
        available = image_id in world.images and world.image_status(world.images[image_id])[0] == "Available"
    elif image_id:
        available = box.emulators[cloud].images.state(image_id) == "available"
    if not task.record.race.launch_image_id:
        return available  # launched from the fresh image: the data came with it
    data = [d for d in task.record.race.disks if d.kind == "data"]
    return available and all(d.moved in ("reattached", "restored") for d in data)


def orphans(box, cloud: str, tasks: list[Task]) -> int:
    replaced = sum(bool(t.record.launch.replacement_ids) for t in tasks)
    if cloud == "aliyun":
        world = box.emulators[cloud].world
        ours = {d.disk_id for t in tasks for d in t.record.race.disks if d.was_deleted_with_instance}
        ours |= {i for t in tasks for i in restored_disks(t)}
        disks = [d for d in world.disks.values() if not d["instance"] and d["id"] in ours]
        eips = [e for e in world.eips.values() if not e["instance"]]
        ours = [i for i in world.instances.values() if (i.get("tags") or {}).get("responder:claim")]
        return len(disks) + len(eips) + max(0, len(ours) - replaced)
    backend = next(iter(box.emulators[cloud].backends.values()))
    # No volume of the pack outlives its instance by itself: every detached one was kept or restored.
    detached = [v for v in backend.volumes.values() if v.status == "available"]
    ours = [i for r in backend.reservations.values() for i in r.instances
            if i.state == "running" and any(t["key"] == "responder:claim" for t in i.get_tags())]
    return len(detached) + max(0, len(ours) - replaced)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200, help="interruptions per cloud and policy")
    parser.add_argument("--clouds", default="aliyun,aws")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    args = parser.parse_args(argv)
    result: dict = {}
    for cloud in args.clouds.split(","):
        result[cloud] = {}
        for policy in args.policies.split(","):
            figures = run_policy(cloud, policy, args.events, args.seed)
            result[cloud][policy] = figures
            print(f"{cloud:6} {policy:12} zero-gap {figures['zero_gap_share']:.3f}  median gap "
                  f"{figures['median_gap_s']} s  p90 {figures['p90_gap_s']} s  data kept "
                  f"{figures['data_kept_share']:.3f}  moved {figures['moved']}  orphans {figures['orphans']}  "
                  f"failed {figures['failed']}  "
                  f"({figures['wall_s']} s wall)", file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    return result


if __name__ == "__main__":
    main()
