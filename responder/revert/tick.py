"""The revert pass every ticker runs (`responder tick`, the serve ticker, timer events through
intake): start the moves back to spot that are due.

Parts: SCAN_SECONDS, cap_room (moves leave half the hour's launch cap to interruptions), start_due
(adopt the fleet's stressed instances when due, revert/fleet.py; claim each due move and work it at
once), tick_revert (never raises: a failed pass must not stop
the task tick; it is reported).

A pass reads the store only (and, every fleet.FLEET_SCAN_SECONDS, the fleet by its tags); the
cloud is otherwise asked by the moves themselves, through the executor and
the API budget, after every interruption's calls (replace/priority.py). A move waiting for stock
is an unfinished task the task tick looks at again (replace/revert_steps.STOCK_RECHECK).
"""

from __future__ import annotations

import logging
import weakref

from responder.replace import calm_rule
from responder.replace.record import Task
from responder.revert.fleet import adopt_due
from responder.revert.scan import verdicts
from responder.revert.start import start_move
from responder.store_connect import is_store_error, log_store_failure

log = logging.getLogger("responder.revert")
SCAN_SECONDS = 60.0  # one pass a minute per process: the store scan reads the newest finished tasks
_next_scan: "weakref.WeakKeyDictionary[object, float]" = weakref.WeakKeyDictionary()


def cap_room(runner) -> str:
    """Why no move may start now, or "": a move never takes the hour's launch cap an interruption
    may need, so none starts once half of it is spent (RESPONDER_MAX_LAUNCHES_PER_HOUR)."""
    used, cap = runner.caps.used_since(runner.clock() - 3600.0), runner.settings.max_launches_per_hour
    if used * 2 >= cap:
        return (f"{used} of RESPONDER_MAX_LAUNCHES_PER_HOUR={cap} spent in the last hour: "
                "the other half is kept for interruptions")
    return ""


def start_due(runner, force: bool = False) -> list[Task]:
    """Claim every due move (a second ticker finds the same rows) and work them once; the fleet is
    read first when its read is due (`force`: now, as `responder revert` asks)."""
    now = runner.clock()
    if cap_room(runner):
        return []
    adopt_due(runner, now, force)  # the fleet's own instances in stressed pools, as tasks the scan reads
    due = [v for v in verdicts(runner.store, runner.settings, now) if v.move and v.task.cloud in runner.clouds]
    started = [start_move(runner.store, v, now) for v in due]
    if started:
        runner.work([t.id for t in started])
    return started


def tick_revert(runner, force: bool = False) -> dict:
    """{"started": [task ids]} when a pass ran, {} when none was due or both RESPONDER_REVERT and
    the planned moves (RESPONDER_CALM_MOVES) are off."""
    settings = runner.settings
    if not (settings.revert or calm_rule.enabled(settings)) or settings.dry_run:
        return {}
    now = runner.clock()
    if not force and now < _next_scan.get(runner, float("-inf")):
        return {}
    _next_scan[runner] = now + SCAN_SECONDS
    try:
        return {"started": [t.id for t in start_due(runner)]}
    except Exception as exc:  # the store or a cloud failed: the next pass tries again
        if is_store_error(exc):
            log_store_failure(log, runner.store.engine, "revert pass failed", exc)
        else:
            log.warning("revert pass failed: %s", exc.__class__.__name__, exc_info=True)
        return {"error": exc.__class__.__name__}
