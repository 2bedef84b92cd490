"""The dry-run of the moves back to spot: which replacements would move, to what, why or why not.

Parts: plan (every qualifying replacement, judged; the due ones with a stock read: the instance as
the cloud shows it, then spot stock ranked by the planner, as the move itself would read them; then
the fleet's instances not adopted yet, RESPONDER_FLEET_SELECTORS: adopt or not, and why).

Reads only (DescribeInstances, the stock probe, the fleet by its tags), through the executor and the
API budget: nothing is written to the cloud or the store.
"""

from __future__ import annotations

from typing import Any

from responder.errors import CloudError, NotFound
from responder.replace import revert_steps, steps
from responder.replace.calls import Call
from responder.replace.record import Task
from responder.revert.eligible import Verdict
from responder.revert.fleet import look_fleet
from responder.revert.scan import verdicts
from responder.revert.start import first_record
from responder.revert.tick import cap_room
from responder.store import TaskRow


def plan(runner) -> list[dict[str, Any]]:
    now = runner.clock()
    held = cap_room(runner)
    lines = []
    for verdict in verdicts(runner.store, runner.settings, now):
        line = verdict.to_json()
        if verdict.move and held:
            line.update(move=False, why=f"{verdict.why}; held: {held}")
        elif verdict.move:
            line.update(_stock(runner, verdict, now))
        lines.append(line)
    # The fleet's instances not adopted yet: whether the next fleet read adopts them, and why not.
    lines += [look.to_json() for look in look_fleet(runner, now, write=False) if not look.adopted_as]
    return lines


def _stock(runner, verdict: Verdict, now: float) -> dict[str, Any]:
    if verdict.task.cloud not in runner.clouds:
        return {"move": False, "why": f"no {verdict.task.cloud} cloud is configured"}
    row = TaskRow(id="dry-run", key=verdict.key, cloud=verdict.task.cloud, region=verdict.task.region,
                  instance_id=verdict.instance_id, kind="revert", status="received",
                  data=first_record(verdict, now).to_json())
    task = Task(row)
    try:
        reads = (Call("describe_instance", {"instance_id": verdict.instance_id}), Call("probe", {"market": "spot"}))
        for call in reads:
            try:
                answer = runner.executor.run(task, call)
            except NotFound:
                answer = None
            ended = steps.observe(task, call, answer, runner.settings, now, runner.facts)
            if ended:
                return {"move": False, "why": task.record.revert.why}
    except CloudError as exc:
        return {"move": False, "why": f"could not read the cloud ({exc.code}): the move will look itself"}
    candidates = task.record.plan.candidates or []
    if not candidates:
        return {"move": False, "why": f"{verdict.why}; waits: {revert_steps.waiting_why(task)}"}
    first = candidates[0]
    guard = "".join(f"; {reason}" for reason in revert_steps.guard_reasons(task))  # a demoted pool left out
    if runner.clouds[verdict.task.cloud].capabilities.offerings_are_static:  # EC2: offered, stock unknown
        return {"to": f"{first.instance_type} in {first.zone} (spot, {first.tier})",
                "why": f"{verdict.why}; offered there (EC2 says whether it has stock only at the launch){guard}"}
    return {"to": f"{first.instance_type} in {first.zone} (spot, {first.tier})",
            "why": f"{verdict.why}; spot stock now{guard}"}
