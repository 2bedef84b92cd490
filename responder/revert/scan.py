"""The instances a move is for, read from the task store: replacements a move back to spot is for,
and spot instances in a published-stressed pool a planned move is for (placed by a task of ours, or
of the fleet and adopted: revert/fleet.py).

Parts: SCAN_LIMIT, moves_of (the moves of one instance of one purpose, oldest first), interrupted
(the cloud took the instance since), verdicts (every instance that qualifies, judged). Reads the
store only; no cloud call.
"""

from __future__ import annotations

from responder.model import EventKind, claim_key
from responder.replace.calm_rule import CALM, stressed
from responder.replace.record import Task
from responder.revert.calm import PLACING_KINDS, judge_calm, placed_of
from responder.revert.eligible import MAX_ATTEMPTS, SOURCE_KINDS, Verdict, judge, move_key, qualifies
from responder.settings import Settings
from responder.store import Store

# The newest finished tasks looked at per scan: a replacement older than the last SCAN_LIMIT
# finished tasks is left where it is (`responder revert` looks as far).
SCAN_LIMIT = 1000


def moves_of(store: Store, task: Task, instance_id: str, purpose: str = "") -> list[Task]:
    """One key per attempt (eligible.move_key): the rows there, oldest first."""
    found = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        row = store.get_by_key(move_key(task.cloud, task.region, instance_id, attempt, purpose))
        if row is None:
            break
        found.append(Task(row))
    return found


def interrupted(store: Store, cloud: str, region: str, instance_id: str) -> bool:
    """The cloud took it (or warned of it) since: its own task holds the claim key."""
    row = store.get_by_key(claim_key(cloud, region, instance_id))
    return row is not None and row.status != "rejected"


def verdicts(store: Store, settings: Settings, now: float, limit: int = SCAN_LIMIT) -> list[Verdict]:
    """Moves back first, then planned moves: a store read per qualifying instance only."""
    # A move's bought instance may be in a stressed pool; an adopted one is (revert/fleet.py).
    kinds = PLACING_KINDS + (EventKind.REVERT.value,)
    tasks = [Task(row) for row in store.list(status="done", limit=limit) if row.kind in kinds]
    judged = [judge(t, moves_of(store, t, t.record.launch.replacement_ids[0]), settings, now)
              for t in tasks if t.kind in SOURCE_KINDS and qualifies(t)]
    for task in tasks:
        placed = placed_of(task)
        if placed is None or not stressed(placed.band, settings):
            continue
        if interrupted(store, task.cloud, task.region, placed.instance_id):
            continue
        judged.append(judge_calm(task, placed, moves_of(store, task, placed.instance_id, CALM), settings, now))
    return judged
