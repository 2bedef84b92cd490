"""The replacements a move back to spot is for, read from the task store.

Parts: SCAN_LIMIT, moves_of (the revert tasks of one replacement, oldest first), verdicts (every
finished replacement that qualifies, judged). Reads the store only; no cloud call.
"""

from __future__ import annotations

from responder.replace.record import Task
from responder.revert.eligible import MAX_ATTEMPTS, SOURCE_KINDS, Verdict, judge, qualifies, revert_key
from responder.settings import Settings
from responder.store import Store

# The newest finished tasks looked at per scan: a replacement older than the last SCAN_LIMIT
# finished tasks is left where it is (`responder revert` looks as far).
SCAN_LIMIT = 1000


def moves_of(store: Store, task: Task) -> list[Task]:
    """One key per attempt (eligible.revert_key): the rows there, oldest first."""
    found = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        row = store.get_by_key(revert_key(task.cloud, task.region, task.record.launch.replacement_ids[0], attempt))
        if row is None:
            break
        found.append(Task(row))
    return found


def verdicts(store: Store, settings: Settings, now: float, limit: int = SCAN_LIMIT) -> list[Verdict]:
    judged = []
    for row in store.list(status="done", limit=limit):
        if row.kind not in SOURCE_KINDS:
            continue
        task = Task(row)
        if qualifies(task):
            judged.append(judge(task, moves_of(store, task), settings, now))
    return judged
