"""Drive a task runner through a race on a ManualClock: notices arrive at their times, due tasks
are advanced, and the clock jumps to the next thing that can happen.

Parts: drive (arrivals → every task worked until it ends or `until`), sandbox_gone (when the
sandbox released / stopped an instance).

Used by the race tests and bench/race.py. Calls take no scenario time; the order of events is the
one a real run at time_scale 1 would see, minus network time (which only helps the cloud).
"""

from __future__ import annotations

from typing import Any, Iterable

MIN_STEP = 0.05  # scenario seconds: a task due "now" that did not move must not spin the loop


def drive(runner, clock, arrivals: Iterable[tuple[float, Any]], until: float) -> list[Any]:
    """Submit each (time, Interruption) when the clock reaches it, tick every due task, and jump
    ahead; returns the SubmitResults in arrival order."""
    queue = sorted(arrivals, key=lambda a: a[0])
    submitted = []
    while clock() <= until:
        while queue and queue[0][0] <= clock():
            submitted.append(runner.submit(queue.pop(0)[1]))
        runner.tick()
        due = runner.store.next_due_at()
        upcoming = [t for t in (due, queue[0][0] if queue else None) if t is not None]
        if not upcoming:
            break
        clock.advance_to(max(min(upcoming), clock() + MIN_STEP))
    return submitted


def sandbox_gone(sandbox, cloud: str, instance_id: str) -> float | None:
    """Scenario time the emulator released (Aliyun) or stopped/terminated (AWS) an instance, or
    will (the emulators release lazily, on the next call after the time)."""
    emulator = sandbox.emulators[cloud]
    if cloud == "aliyun":
        world = emulator.world
        inst = world.instances.get(instance_id) or {}
        return world.released.get(instance_id, inst.get("release_at"))
    race = emulator.race
    due = next((t for (i, _), t in race.pending.items() if i == instance_id), None)
    return race.released.get(instance_id, due)
