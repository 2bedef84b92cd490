"""The race benchmark: a scenario pack's fleet cloned to N interruptions per cloud under every
launch policy (and today's behaviour), through the real SDKs on the wire sandbox, in scenario time.

Run: python bench/race.py [--events 200] [--pack FILE ...] [--spread S] [--json]
(figures in BENCHMARKS.md, "The race"). Without --pack: the realistic pack of each --clouds;
bench/packs/harsh-aliyun.yaml and harsh-aws.yaml are the harsher ones (their figures documented there).

Each run clones the pack's fleet N times (notices spread over S seconds; the pack's
`bench.protected_ahead` share of clones, default every other, has an image from `responder protect`
an hour old, so its disks' next snapshot is incremental), drives one TaskRunner and the emulators
on one ManualClock (responder/sandbox/race_drive.py) and reads the outcome from the sandbox itself:
when the original went, whether the interruption image became Available, what the responder left
billing. The responder starts each run with an empty store: it learns build times as it goes.

Per task (per_task): capacity gap (replacement Running minus the original's release, 0 when
ahead), service gap (Running with every data disk attached, minus the release), root state (fresh:
booted from the notice-time image; swapped: that image's root put onto it; stale: booted from an
older image, never swapped), data kept (the fresh image Available and, for a replacement launched
from another image, every data disk on it). A replacement booted from the launch image does not
keep the root's data: its root state is stale.

Per policy: capacity_zero_gap_share (= zero_gap_share), service_zero_gap_share,
root_state_fresh_share (fresh or swapped, of all tasks), root_state_fresh_of_completed (of the
tasks whose fresh image completed), median_gap_s / p90_gap_s (capacity; a task with no
replacement counts as never: null when it decides the percentile), data_kept_share, moved (data
disks reattached / restored), orphans (kept disks / volumes left detached, restored disks attached
to nothing, unbound EIPs, replacements beyond one per task), failed, failed_with_replacement (a
task that did not end `done` although its replacement was launched), stand_ins (replacements
launched from a public stand-in image: every image of ours was gone).
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
from responder.replace import race  # noqa: E402
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
    # auto without the state swap (RESPONDER_STATE_SWAP=keep): what a replacement from an older
    # image runs when nobody puts the fresh root onto it.
    "auto-keep": dict(launch_from="auto", state_swap="keep"),
}
SPREAD_S = 600.0
HORIZON_S = 6 * 3600.0  # after the last notice: a 500 GiB first snapshot at the slow end takes hours
_HEX = "0123456789abcdef"


def load_pack(path: Path) -> dict:
    data = yaml.safe_load(Path(path).read_text())
    data.setdefault("bench", {})
    return data


def fleet(pack: dict, n: int, seed: int, spread: float) -> tuple[dict, list[tuple[str, float, bool]]]:
    """The pack's scenario with its fleet cloned n times: (id, notice time, protected ahead).
    The pack's `bench.protected_ahead` share of clones (default every other) has an image from
    `responder protect`, so its disks' next snapshot is incremental."""
    data = copy.deepcopy(pack)
    share = float(data.pop("bench", {}).get("protected_ahead", 0.5))
    region = data["regions"][0]
    cloud = region["cloud"]
    shapes, rng, clones, ahead_ids = region["instances"], random.Random(seed), [], []
    for k in range(n):
        inst = copy.deepcopy(shapes[k % len(shapes)])
        inst["id"] = (f"i-bp1{k:017d}" if cloud == "aliyun"
                      else "i-0" + "".join(rng.choice(_HEX) for _ in range(14)) + f"{k:03x}")
        inst["notice_at"] = round(rng.uniform(0, spread), 1)
        ahead = int((k + 1) * share) > int(k * share)
        if ahead:
            for disk in [inst.get("system_disk") or {}] + list(inst.get("data_disks") or []):
                disk["earlier_snapshots"] = 1
            inst.setdefault("system_disk", {}).setdefault("earlier_snapshots", 1)
        inst.pop("public_ip", None)
        clones.append(inst)
        ahead_ids.append(ahead)
    region["instances"] = clones
    return data, [(i["id"], i["notice_at"], a) for i, a in zip(clones, ahead_ids)]


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


def run_policy(pack: dict, policy: str, n: int, seed: int, spread: float) -> dict:
    scenario, clones = fleet(pack, n, seed, spread)
    region = scenario["regions"][0]
    cloud = region["cloud"]
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
            results = drive(runner, clock, arrivals, until=spread + HORIZON_S)
            tasks = [Task(store.get(r.task.id)) for r in results]
            wall = time.monotonic() - started
            return measure(box, cloud, tasks, wall)
    finally:
        box.stop()


def per_task(box, cloud: str, task: Task) -> dict:
    """One task's honest figures: the release as the sandbox saw it, the rest from the record,
    the fresh image checked against the sandbox."""
    released = sandbox_gone(box, cloud, task.instance_id)
    capacity, service = race.gaps(task, released)
    image_done = _image_available(box, cloud, task)
    return {"capacity_gap_s": capacity, "service_gap_s": service, "root_state": race.root_state(task),
            "data_kept": image_done and race.data_kept(task), "image_completed": image_done,
            "failed_with_replacement": task.status != "done" and bool(task.record.launch.replacement_ids)}


def measure(box, cloud: str, tasks: list[Task], wall: float) -> dict:
    rows = [per_task(box, cloud, t) for t in tasks]
    moved = {"reattached": 0, "restored": 0}
    for task in tasks:
        for disk in task.record.race.disks:
            if disk.moved in moved:
                moved[disk.moved] += 1
    n = len(rows)
    ordered = sorted(math.inf if r["capacity_gap_s"] is None else r["capacity_gap_s"] for r in rows)
    fresh = [r["root_state"] in ("fresh", "swapped") for r in rows]
    completed = [f for f, r in zip(fresh, rows) if r["image_completed"]]
    zero = sum(r["capacity_gap_s"] == 0.0 for r in rows)
    return {"interruptions": n, "zero_gap_share": round(zero / n, 3),
            "capacity_zero_gap_share": round(zero / n, 3),
            "service_zero_gap_share": round(sum(r["service_gap_s"] == 0.0 for r in rows) / n, 3),
            "root_state_fresh_share": round(sum(fresh) / n, 3),
            "root_state_fresh_of_completed": round(sum(completed) / len(completed), 3) if completed else None,
            "root_states": {k: sum(r["root_state"] == k for r in rows) for k in ("fresh", "swapped", "stale", "")},
            "median_gap_s": _pct(ordered, 0.5), "p90_gap_s": _pct(ordered, 0.9),
            "data_kept_share": round(sum(r["data_kept"] for r in rows) / n, 3), "moved": moved,
            "stand_ins": sum(bool(t.record.race.stand_in_image) for t in tasks),
            "orphans": orphans(box, cloud, tasks), "failed": sum(t.status != "done" for t in tasks),
            "failed_with_replacement": sum(r["failed_with_replacement"] for r in rows), "wall_s": round(wall, 1)}


def _pct(ordered: list[float], p: float):
    value = ordered[min(len(ordered) - 1, int(p * len(ordered)))]
    return None if math.isinf(value) else round(value, 1)


def _image_available(box, cloud: str, task: Task) -> bool:
    """The interruption image Available, as the sandbox holds it (not as the record believes)."""
    image_id = task.record.image.image_id
    if image_id and cloud == "aliyun":
        world = box.emulators[cloud].world
        return image_id in world.images and world.image_status(world.images[image_id])[0] == "Available"
    return bool(image_id) and box.emulators[cloud].images.state(image_id) == "available"


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


def packs(args) -> list[tuple[str, dict]]:
    """(name in the results, pack): the files given, else the realistic pack of each cloud."""
    files = args.pack or [PACK / f"realistic-{c}.yaml" for c in args.clouds.split(",")]
    loaded = [load_pack(f) for f in files]
    clouds = [p["regions"][0]["cloud"] for p in loaded]
    return [(c if clouds.count(c) == 1 else f"{c}:{Path(f).stem}", p) for c, f, p in zip(clouds, files, loaded)]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200, help="interruptions per cloud and policy")
    parser.add_argument("--clouds", default="aliyun,aws", help="the realistic packs of these clouds (without --pack)")
    parser.add_argument("--pack", action="append", type=Path,
                        help="a scenario pack (repeatable); its cloud is its region's")
    parser.add_argument("--spread", type=float, help=f"notices spread over S seconds (default: the pack's "
                        f"bench.spread_s, else {SPREAD_S:.0f})")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    args = parser.parse_args(argv)
    result: dict = {}
    for name, pack in packs(args):
        result[name] = {}
        spread = args.spread if args.spread is not None else float(pack["bench"].get("spread_s", SPREAD_S))
        for policy in args.policies.split(","):
            figures = run_policy(pack, policy, args.events, args.seed, spread)
            result[name][policy] = figures
            print(f"{name:6} {policy:12} capacity zero-gap {figures['capacity_zero_gap_share']:.3f}  service "
                  f"{figures['service_zero_gap_share']:.3f}  root fresh {figures['root_state_fresh_share']:.3f} "
                  f"(of completed {figures['root_state_fresh_of_completed']})  median gap "
                  f"{figures['median_gap_s']} s  p90 {figures['p90_gap_s']} s  data kept "
                  f"{figures['data_kept_share']:.3f}  moved {figures['moved']}  orphans {figures['orphans']}  "
                  f"failed {figures['failed']} (with replacement {figures['failed_with_replacement']})  "
                  f"({figures['wall_s']} s wall)", file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    return result


if __name__ == "__main__":
    main()
