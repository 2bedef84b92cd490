"""Helpers for the race tests: one scenario shape of the realistic pack on a ManualClock, a
runner on the same clock, and what the sandbox holds at the end.

Parts: shape (a realistic scenario cut down to chosen instances), sold_out / with_data_disk (turn
it: no stock in one zone, one more data disk), Race (sandbox + store + runner
on one ManualClock; `run` drives notices to the end; `restart` is a new process on the same store),
interruption (the model event for one instance).
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from responder.model import Cloud, EventKind, Interruption
from responder.replace.record import Task
from responder.replace.runner import TaskRunner
from responder.sandbox.race_drive import drive, sandbox_gone
from responder.sandbox.runtime import start_sandbox
from responder.sandbox.scenario import ManualClock
from responder.store import Store

PACK = Path(__file__).resolve().parent.parent / "responder" / "sandbox" / "scenarios"


def shape(cloud: str, *names: str, **top) -> dict:
    """The realistic scenario of `cloud` holding only the instances whose tag app is in `names`."""
    data = yaml.safe_load((PACK / f"realistic-{cloud}.yaml").read_text())
    region = data["regions"][0]
    region["instances"] = [copy.deepcopy(i) for i in region["instances"] if i["tags"]["app"] in names]
    data.update(top)
    return data


def sold_out(data: dict, zone: str) -> dict:
    """No stock of any type in `zone`: the replacement lands in another zone than the original."""
    region = data["regions"][0]
    offers = [{"type": t["type"], "zone": zone, "market": m, "available": 0}
              for t in region["instance_types"] for m in ("spot", "ondemand")]
    data["stock"] = {"default": 1000, "offers": offers}
    return data


def with_data_disk(data: dict, app: str, disk: dict) -> dict:
    """Give the instance tagged app=`app` one more data disk."""
    inst = next(i for i in data["regions"][0]["instances"] if i["tags"]["app"] == app)
    inst.setdefault("data_disks", []).append(disk)
    return data


def interruption(cloud: str, region: str, instance_id: str, account: str = "") -> Interruption:
    return Interruption(cloud=Cloud(cloud), region=region, instance_id=instance_id, kind=EventKind.INTERRUPTION,
                        account=account)


class Race:
    def __init__(self, scenario: dict, settings, tmp_path):
        self.clock = ManualClock()
        self.tmp_path = tmp_path
        self.cloud = scenario["regions"][0]["cloud"]
        self.region = scenario["regions"][0]["region"]
        self.account = str(scenario["regions"][0].get("account", ""))
        self.box = start_sandbox(scenario, only=(self.cloud,), clock=self.clock)
        self.settings = settings
        self.store = Store(f"sqlite:///{tmp_path}/race.db", clock=self.clock)
        self.runner = self.restart()

    @property
    def emulator(self):
        return self.box.emulators[self.cloud]

    def restart(self) -> TaskRunner:
        """A new process on the same store: nothing carried over but the task rows."""
        self.runner = TaskRunner(self.store, self.box.clouds, self.settings, clock=self.clock, sleep=self.clock.advance)
        return self.runner

    def run(self, instance_ids, until: float = 3000.0, at: float = 0.0) -> list[Task]:
        arrivals = [(at, interruption(self.cloud, self.region, i, self.account)) for i in instance_ids]
        results = drive(self.runner, self.clock, arrivals, until)
        return [Task(self.store.get(r.task.id)) for r in results]

    def gone_at(self, instance_id: str) -> float | None:
        return sandbox_gone(self.box, self.cloud, instance_id)

    def actions(self) -> list[str]:
        return self.box.calls(self.cloud)

    def run_crashing(self, instance_ids, until: float = 3000.0) -> list[Task]:
        """Like run, but a new process after every step: nothing carried over but the task rows."""
        queue = [interruption(self.cloud, self.region, i, self.account) for i in instance_ids]
        results = []
        while self.clock() < until:
            results += [self.runner.submit(e) for e in queue]
            queue = []
            drive(self.runner, self.clock, [], self.clock() + 0.1)
            self.restart()
            if all(self.store.get(x.task.id).status in ("done", "failed") for x in results):
                break
            self.clock.advance_to(max(self.store.next_due_at() or self.clock(), self.clock() + 0.05))
        return [Task(self.store.get(r.task.id)) for r in results]

    def stop(self) -> None:
        self.box.stop()
