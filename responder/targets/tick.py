"""The hook every ticker calls (`responder tick`, the serve ticker, FC timer and EventBridge
schedule events through intake, Lambda): reconcile the due capacity targets.

Parts: reconciler_for (one Reconciler per task runner, built on first use), tick_targets (never
raises: a target failure must not stop the task tick; it is logged and reported). Before the
reconcile, every followed table (`targets import --follow`, follow.py) is re-read and its inserts,
updates and deletes applied, so the reconcile that follows acts on them in the same tick; after it,
RESPONDER_STATS_FILE gets the statistics (stats_file.py).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref

from responder.capacity.ledger import SqlLedger
from responder.store_connect import is_store_error, log_store_failure
from responder.targets.follow import sync_all
from responder.targets.reconcile import Reconciler
from responder.targets.stats_file import stats_document, write_stats_file
from responder.targets.table import TargetStore

log = logging.getLogger("responder.targets")
_made: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def reconciler_for(runner):

    with _lock:
        made = _made.get(runner)
        if made is None:
            store = runner.store
            made = Reconciler(TargetStore(store.engine), store, runner.clouds, runner.settings,
                              SqlLedger(store.engine, upgrade=False))
            _made[runner] = made
        return made


def tick_targets(runner, budget: float | None = None) -> dict:
    """One pass over the due targets; a summary (or the error's class) for the tick's answer."""
    try:
        followed = sync_all(runner.store.engine, runner.settings.max_target_count)
        summary = reconciler_for(runner).tick(budget).to_json()
        _write_stats(runner)
        return {**summary, "followed": followed} if followed else summary
    except Exception as exc:  # the store or a cloud failed mid-pass: the next tick tries again
        if is_store_error(exc):  # no traceback per tick during an outage (logged when it starts)
            log_store_failure(log, runner.store.engine, "target reconcile failed", exc)
        else:
            log.warning("target reconcile failed: %s", exc.__class__.__name__, exc_info=True)
        return {"error": exc.__class__.__name__}


def _write_stats(runner) -> None:
    """RESPONDER_STATS_FILE: every tick's statistics to the file; a file that cannot be written is
    logged and does not stop the tick (the store keeps the statistics)."""
    path = getattr(runner.settings, "stats_file", "")
    if not path:
        return
    try:
        write_stats_file(path, stats_document(TargetStore(runner.store.engine).list(), time.time()))
    except OSError as exc:
        log.warning("RESPONDER_STATS_FILE %s could not be written: %s", path, exc.strerror or exc.__class__.__name__)
