"""Helpers for the race tests: one scenario shape of the realistic pack on a ManualClock, a
runner on the same clock, and what the sandbox holds at the end.

Parts: shape (a realistic scenario cut down to chosen instances), Race (sandbox + store + runner
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


def interruption(cloud: str, region: str, instance_id: str, account: str = "") -> Interruption:
    return Interruption(cloud=Cloud(cloud), region=region, instance_id=instance_id, kind=EventKind.INTERRUPTION,
                        account=account)


class Race:
    def __init__(self, scenario: dict, settings, tmp_path):
        self.clock = ManualClock()
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

    def stop(self) -> None:
        self.box.stop()
