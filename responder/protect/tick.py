"""The protect pass every ticker runs (`responder tick`, the serve ticker, FC timer and EventBridge
schedule events through intake, Lambda): protect ahead for the selectors that are due.

Parts: marker_key (one task-store key per selector and period), tick_protect (never raises: a
protect failure must not stop the task tick; it is reported).

Due: a selector is due when its marker for the current period is not in the store. The marker is
written (a claimed task row of kind `protect`, finished at once) only after a complete pass, so a
pass cut short by the tick's budget is taken up by the next tick. Two tickers running the same
pass at once cannot buy twice: the image of an instance in a period has one deterministic name
(EC2) and ClientToken (ECS), so the second CreateImage returns the first's image.
"""

from __future__ import annotations

import logging
import time

from responder.protect import MARKER_KIND
from responder.protect.ahead import protect_fleet
from responder.protect.leftovers import task_open_in
from responder.store_connect import is_store_error, log_store_failure

log = logging.getLogger("responder.protect")
MARKER_LEASE_SECONDS = 60.0  # the marker row is finished right after its claim: no ticker works it


def marker_key(selector: tuple[str, str, str, str], period: int) -> str:
    cloud, region, key, value = selector
    return f"protect:{cloud}:{region}:{key}={value}:{period}"


def tick_protect(runner, budget: float | None = None, monotonic=time.monotonic) -> dict:
    """One pass over the due selectors: {selector: report or error}; {} when none is set."""
    settings, store = runner.settings, runner.store
    if not settings.protect_selectors:
        return {}
    budget = settings.protect_tick_budget_seconds if budget is None else budget
    started, now = monotonic(), runner.clock()
    period = int(now // settings.protect_period_seconds)
    done: dict[str, dict] = {}
    for selector in settings.protect_selectors:
        cloud_name, region, key, value = selector
        name = f"{cloud_name}:{region}:{key}={value}"
        try:
            if store.get_by_key(marker_key(selector, period)) is not None:
                continue  # this period's pass is complete
            cloud = runner.clouds.get(cloud_name)
            if cloud is None:
                done[name] = {"error": f"no {cloud_name} cloud is configured"}
                continue
            report = protect_fleet(cloud, region, (key, value), settings.protect_period_seconds, now,
                                   keep=settings.protect_keep, task_open=task_open_in(store),
                                   out_of_time=lambda: monotonic() - started >= budget)
            done[name] = report.to_json()
            if report.complete:
                _mark(store, selector, period, report)
        except Exception as exc:  # the store or a cloud failed: the next tick tries again
            if is_store_error(exc):  # no traceback per tick during an outage (logged when it starts)
                log_store_failure(log, store.engine, f"protect pass for {name} failed", exc)
            else:
                log.warning("protect pass for %s failed: %s", name, exc.__class__.__name__, exc_info=True)
            done[name] = {"error": exc.__class__.__name__}
    return done


def _mark(store, selector: tuple[str, str, str, str], period: int, report) -> None:
    cloud, region, key, value = selector
    claimed = store.claim(marker_key(selector, period), cloud, region, f"{key}={value}", MARKER_KIND,
                          data={"protect": report.to_json()}, lease_seconds=MARKER_LEASE_SECONDS)
    if claimed.duplicate:
        return  # a concurrent ticker completed the same pass first
    row = claimed.task
    row.status, row.reason = "done", f"protect pass: {len(report.imaged)} imaged, {len(report.deleted)} deleted"
    store.save(row)
    store.release(row.id)
