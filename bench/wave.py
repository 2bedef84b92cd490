"""The wave benchmark: a whole pool reclaimed at once — N notices within 10 s in one zone — on the
realistic pack, through the real SDKs on the sandbox, in scenario time (responder/sandbox/wave_drive.py).

Run: python bench/wave.py [--sizes 50,200,500] [--clouds aliyun,aws] [--processes 1,4] [--limits on,off] [--json]
[--by-action]
(figures in BENCHMARKS.md, "Waves")

Each run drives one runner (or --processes runners, each its own API budget and adapters as
separate processes would have, sharing one store and one sandbox) until every task ends, and reads
the outcome from the sandbox's call log and the tasks:
last_create_image_s (scenario time of the wave's last CreateImage), bucket_bound_s (the time the
emulated rate limits need to admit N CreateImage calls; 0 while the sandbox has no rate limits),
zero_gap_share (replacement Running no later than the original's release), reads_per_replacement /
writes_per_replacement (API calls the emulator answered, per replacement), throttled_share (answers
that were throttles), reads_by_action (reads per replacement by action and id filter),
failed, orphans (what still bills after every task ended, bench/race.py).
`--json` prints one JSON object last: {"<cloud>": {"<n>": {...}}} (the packs' own rate limits;
with --processes 4 as "<n>x4", limits off as "<n>-limits-off").
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from race import orphans  # noqa: E402

from responder.replace.record import Task  # noqa: E402
from responder.replace.runner import TaskRunner  # noqa: E402
from responder.sandbox.race_drive import sandbox_gone  # noqa: E402
from responder.sandbox.wave_drive import bucket_bound, call_figures, is_read, run_wave  # noqa: E402


def new_runner(store, clouds, settings, clock) -> TaskRunner:
    """One process's runner: its own API budget (RESPONDER_API_BUDGET's default) and adapters."""
    return TaskRunner(store, clouds, settings, clock=clock, sleep=clock.advance)


def shape_writes(calls: list[dict], tasks) -> dict[str, dict[str, float]]:
    """Writes per replacement by the instance's shape (its app tag): each write call is put on the
    task whose original, replacement, disk or token its parameters name."""
    owner: dict[str, object] = {}
    for task in tasks:
        names = [task.instance_id, *task.record.launch.replacement_ids, task.key]
        names += [d.disk_id for d in task.record.race.disks] + [d.restored_id for d in task.record.race.disks]
        owner.update({name: task for name in names if name})
    counts: dict[str, dict[str, int]] = {}
    for call in calls:
        if is_read(call["action"]) or call.get("status", 200) >= 300:
            continue
        values = [str(v) for v in (call.get("params") or {}).values()]
        task = next((owner[w] for v in values for w in owner if w in v), None)
        if task is None:
            continue
        shape = dict(task.record.source.tags).get("app", "?") if task.record.source else "?"
        counts.setdefault(shape, {}).setdefault(call["action"], 0)
        counts[shape][call["action"]] += 1
    per_shape = {}
    for shape, actions in counts.items():
        n = sum(1 for t in tasks if t.record.source and dict(t.record.source.tags).get("app") == shape) or 1
        per_shape[shape] = {a: round(c / n, 2) for a, c in sorted(actions.items())}
    return per_shape


def one(cloud: str, n: int, processes: int, seed: int, limits: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        ran = run_wave(cloud, n, new_runner, processes=processes, seed=seed, scenario_changes={"rate_limits": limits},
                       database_url=f"sqlite:///{tmp}/wave.db", launch_from="auto")
        tasks, box = [Task(row) for row in ran["rows"]], ran["box"]
        replaced = sum(bool(t.record.launch.replacement_ids) for t in tasks)
        zero = 0
        for task in tasks:
            released, running = sandbox_gone(box, cloud, task.instance_id), task.record.timings.get("running")
            zero += running is not None and released is not None and running <= released
        figures = call_figures(ran["calls"], replaced)
        figures.update(bucket_bound_s=bucket_bound(ran["scenario"], cloud, n), zero_gap_share=round(zero / len(tasks), 3),
                       failed=sum(t.status != "done" for t in tasks), orphans=orphans(box, cloud, tasks),
                       writes_by_shape=shape_writes(ran["calls"], tasks), wall_s=round(time.monotonic() - started, 1))
        return figures


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200,500")
    parser.add_argument("--clouds", default="aliyun,aws")
    parser.add_argument("--processes", default="1,4")
    parser.add_argument("--limits", default="on,off", help="the emulators' rate limits: on (the packs' own), off")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    parser.add_argument("--by-action", action="store_true", help="also print the reads per replacement by action")
    args = parser.parse_args(argv)
    result: dict = {}
    for cloud in args.clouds.split(","):
        result[cloud] = {}
        runs = itertools.product([int(s) for s in args.sizes.split(",")],
                                 [int(p) for p in args.processes.split(",")], args.limits.split(","))
        for n, processes, limits in runs:
            key = str(n) + (f"x{processes}" if processes > 1 else "") + ("" if limits == "on" else "-limits-off")
            figures = result[cloud][key] = one(cloud, n, processes, args.seed, limits)
            print(f"{cloud:6} {key:>7}  last CreateImage {figures['last_create_image_s']} s  zero-gap "
                  f"{figures['zero_gap_share']:.3f}  reads/repl {figures['reads_per_replacement']}  writes/repl "
                  f"{figures['writes_per_replacement']}  throttled {figures['throttled_share']:.2%}  failed "
                  f"{figures['failed']}  orphans {figures['orphans']}  bound {figures['bucket_bound_s']} s  "
                  f"({figures['wall_s']} s wall)", file=sys.stderr if args.json else sys.stdout, flush=True)
            if args.by_action:
                print(f"        reads by action: {figures['reads_by_action']}",
                      file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    return result


if __name__ == "__main__":
    main()
