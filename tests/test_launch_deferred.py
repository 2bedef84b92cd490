"""A launch the API budget held back was never sent: its next try sends the same request with the
same token at once, without first looking for what it launched (a DescribeInstances by the token
per task in a wave whose launches wait for the budget) — through the real Aliyun SDK on the ECS
emulator, with a gate that holds RunInstances back once."""

from __future__ import annotations

import copy

import pytest

from responder.errors import Deferred
from responder.model import Market
from responder.replace.launch import LaunchAcquirer, LaunchContext
from responder.replace.planner import Candidate
from responder.replace.record import Task
from responder.sandbox.runtime import start_sandbox
from responder.sandbox.scenario import ManualClock
from responder.sandbox.wave_drive import wave_scenario
from responder.store import TaskRow


class HoldOnce:
    """The budget's door, holding the first call of one action back (nothing sent)."""

    def __init__(self, action: str):
        self.action, self.held = action, 0

    def before(self, cloud: str, region: str, action: str) -> None:
        if action == self.action and not self.held:
            self.held += 1
            raise Deferred(retry_at=21.0, operation=action, key=f"aliyun/{region}/{action}")

    def after(self, cloud: str, region: str, action: str, throttled: bool, code: str = "") -> None:
        return None


def launching_task(cloud, scenario, clones) -> tuple[Task, Candidate]:
    """The first clone's task at its launch, with the original's own pool as the candidate."""
    region, instance_id = scenario["regions"][0]["region"], clones[0][0]
    task = Task(TaskRow(id="t", key=f"aliyun:{region}:{instance_id}", cloud="aliyun", region=region,
                        instance_id=instance_id, kind="interruption", status="launching"))
    task.record.source = source = cloud.describe_instance(region, instance_id)
    task.record.race.launch_image_id = source.image_id
    return task, Candidate(source.instance_type, source.zone, "spot", source.subnet_id, "same")


def test_a_launch_held_back_by_the_budget_is_sent_again_without_looking_for_it_first():
    scenario, clones = wave_scenario("aliyun", 2, rate_limits="off")
    clock = ManualClock(20.0)
    box = start_sandbox(scenario, only=("aliyun",), clock=clock)
    try:
        cloud = copy.copy(box.clouds["aliyun"])
        cloud.gate = HoldOnce("RunInstances")
        task, candidate = launching_task(cloud, scenario, clones)
        spent = []
        ctx = LaunchContext(cloud=cloud, clock=clock, sleep=clock.advance, rand=lambda: 0.5, save=lambda t: None,
                            take_spend=lambda t, token, kind: spent.append(token), give_back=lambda token: None)
        acquirer = LaunchAcquirer(ctx, task, [candidate], Market.SPOT)
        emulator = box.emulators["aliyun"]
        with pytest.raises(Deferred):
            acquirer.create(candidate.offering, 1, "tok-launch")
        start = len(emulator.calls)
        held = acquirer.create(candidate.offering, 1, "tok-launch")
        assert [c["action"] for c in emulator.calls[start:]] == ["RunInstances"]  # no look-up first
        assert len(held.members) == 1 and set(spent) == {"tok-launch"}  # one purchase, one token
    finally:
        box.stop()


def test_a_request_sent_before_stays_when_its_next_try_is_held_back():
    """An earlier try sent the request and its answer was lost (it may have bought): a later try
    the budget holds back keeps that exact request, so the next one looks for what it launched and
    sends nothing else under its token (ECS refuses a token with other parameters:
    IdempotenceParamNotMatch, and the instance bought by the first would be lost to the task)."""
    scenario, clones = wave_scenario("aliyun", 2, rate_limits="off")
    clock = ManualClock(20.0)
    box = start_sandbox(scenario, only=("aliyun",), clock=clock)
    try:
        cloud = copy.copy(box.clouds["aliyun"])
        task, candidate = launching_task(cloud, scenario, clones)
        ctx = LaunchContext(cloud=cloud, clock=clock, sleep=clock.advance, rand=lambda: 0.5, save=lambda t: None,
                            take_spend=lambda t, token, kind: None, give_back=lambda token: None)
        acquirer = LaunchAcquirer(ctx, task, [candidate], Market.SPOT)
        first = acquirer.create(candidate.offering, 1, "tok-sent")  # bought; say its answer was lost
        sent = task.record.launch.requests["tok-sent"]
        cloud.find_launched = lambda region, token: ()  # the look-up does not see it yet
        cloud.gate = HoldOnce("RunInstances")
        with pytest.raises(Deferred):
            acquirer.create(candidate.offering, 1, "tok-sent")
        assert task.record.launch.requests["tok-sent"] == sent  # kept: the next try looks it up first
        del cloud.find_launched
        emulator = box.emulators["aliyun"]
        start = len(emulator.calls)
        again = acquirer.create(candidate.offering, 1, "tok-sent")
        assert emulator.calls[start]["action"] == "DescribeInstances"  # looked for it first
        assert "RunInstances" not in [c["action"] for c in emulator.calls[start:]]
        assert again.members == first.members  # the first purchase, not a second
    finally:
        box.stop()
