"""A worker whose lease ran out while it waited, mid-launch, and passed to another worker: the other
launches the task from the row, and the first sends nothing more for it and writes nothing over
the other's record — through the real Aliyun SDK on the ECS emulator, two runners on one store as
two processes would be, on one ManualClock (only time is moved)."""

from __future__ import annotations

import copy
import logging

from race_fixtures import interruption, shape

from responder.replace.caps import MoneyCaps
from responder.replace.record import Task
from responder.replace.runner import TaskRunner
from responder.sandbox.race_drive import drive
from responder.sandbox.runtime import start_sandbox
from responder.sandbox.scenario import ManualClock
from responder.settings import Settings
from responder.store import Store

LEASE = 5.0


class WaitingCaps(MoneyCaps):
    """The first worker's money caps, whose first take waits (a busy store, a starved machine) past
    the worker's lease; meanwhile the other worker ticks."""

    def __init__(self, store, settings, clock, meanwhile):
        super().__init__(store, per_hour=settings.max_launches_per_hour, per_event=settings.max_spend_per_event,
                         clock=clock)
        self.advance, self.meanwhile, self.waited = clock.advance, meanwhile, False

    def take(self, spend):
        if not self.waited:
            self.waited = True
            self.advance(LEASE + 1.0)
            self.meanwhile()
        return super().take(spend)


def test_a_worker_whose_lease_passed_to_another_mid_launch_launches_nothing_and_writes_nothing(tmp_path, caplog):
    clock = ManualClock()
    scenario = shape("aliyun", "web")
    region, instance_id = scenario["regions"][0]["region"], scenario["regions"][0]["instances"][0]["id"]
    box = start_sandbox(scenario, only=("aliyun",), clock=clock)
    try:
        settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                            lease_seconds=LEASE, launch_from="fresh-image")
        url = f"sqlite:///{tmp_path}/two.db"

        def runner(caps=None) -> TaskRunner:  # a process of its own: its store, its adapters, its budget
            clouds = {name: copy.copy(cloud) for name, cloud in box.clouds.items()}
            return TaskRunner(Store(url, clock=clock), clouds, settings, clock=clock, sleep=clock.advance, caps=caps)

        other = runner()
        first_store = Store(url, clock=clock)
        first = runner(WaitingCaps(first_store, settings, clock, meanwhile=other.tick))
        emulator = box.emulators["aliyun"]
        with caplog.at_level(logging.WARNING, logger="responder.tasks"):
            (submitted,) = drive(first, clock, [(0.0, interruption("aliyun", region, instance_id))], until=2000.0)
        launched = [c for c in emulator.calls_of("RunInstances") if c["status"] == 200]
        # The other worker took the task over and bought its replacement; the first, its lease gone,
        # sent no launch of its own (the same token again, or other parameters under it).
        assert len(launched) == 1, [(c["t"], c["params"].get("ClientToken")) for c in launched]
        assert not [c for c in emulator.calls if c.get("code") == "IdempotenceParamNotMatch"]
        assert any("its lease ran out and another worker took it" in r.getMessage() for r in caplog.records)
        drive(other, clock, [], until=2000.0)
        task = Task(other.store.get(submitted.task.id))
        assert task.status == "done" and len(task.record.launch.replacement_ids) == 1
        (bought,) = task.record.launch.replacement_ids
        assert emulator.world.instances[bought]["image"] == task.record.image.image_id  # its own fresh image
    finally:
        box.stop()
