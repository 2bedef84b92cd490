"""The daily report: how the last 24 hours went, once a day at a configured local time.

Parts: report_due (the scheduled time a clock reading falls in, or None), daily_report (the
notice: interruptions, replacements, median and worst gap, failures, rejections, launch
attempts, capacity per target, each hunting target's attempts, outcomes and state, spends against
the caps, and what the purchases cost: cost_fields), CATCH_UP_SECONDS.

The default is 07:00 Asia/Seoul, as the tool this replaces. A responder that was down at the hour
sends the report when it comes back, up to CATCH_UP_SECONDS later; the dedupe key (the local
date) makes every worker and every restart send one report per day.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Callable
from zoneinfo import ZoneInfo

from responder.model import RECORD_KINDS
from responder.notify.messages import Notice, make_notice, timeline
from responder.replace.costs import PURCHASE_KINDS, CostSummary, summarize
from responder.replace.record import Task

CATCH_UP_SECONDS = 12 * 3600.0
DAY = 86400.0


def report_due(now: float, at: str, timezone: str) -> datetime | None:
    """The scheduled local time of the report that is due at `now`, or None."""
    hour, minute = (int(p) for p in at.split(":"))
    local = datetime.fromtimestamp(now, ZoneInfo(timezone))
    scheduled = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if local < scheduled:
        scheduled -= timedelta(days=1)
    return scheduled if (local - scheduled).total_seconds() <= CATCH_UP_SECONDS else None


def daily_report(store, scheduled: datetime, caps=None, targets: Callable[[], list[dict]] | None = None,
                 per_hour_cap: int | None = None) -> Notice:
    end = scheduled.timestamp()
    start = end - DAY
    every = [Task(r) for r in store.list(limit=5000) if r.kind not in RECORD_KINDS]
    tasks = [t for t in every if start <= t.row.created_at < end]
    real = [t for t in tasks if t.status != "rejected"]
    done = [t for t in real if t.status == "done"]
    gaps = [g for g in (timeline(t).get("gap") for t in done) if g is not None]
    attempts = sum(len(t.record.launch.ledger) + len(t.record.reservation.ledger) for t in real)
    fields = {
        "date": scheduled.date().isoformat(), "timezone": str(scheduled.tzinfo),
        "interruptions": len(real), "replacements": len(done),
        "failures": sum(t.status == "failed" for t in real), "rejected": len(tasks) - len(real),
        "in_progress": sum(not t.finished for t in real),
        "median_gap_seconds": round(statistics.median(gaps), 1) if gaps else None,
        "worst_gap_seconds": round(max(gaps), 1) if gaps else None,
        "launch_attempts": attempts,
    }
    # A purchase costs while it runs, so earlier tasks' replacements count too; unknown prices are this day's.
    costs = summarize(every, start, end)
    costs.unknown = sum(t.record.costs is not None and not t.record.costs.known for t in done)
    fields.update(cost_fields(costs))
    if caps is not None:
        fields["spends"] = f"{caps.used_since(start)} in 24 h; cap {per_hour_cap} per hour"
    if targets is not None:
        listed = targets()
        fields["capacity"] = {t["name"]: f"{t['held']}/{t['desired']}" for t in listed}
        # One line per hunting target (instances, or any with attempts): state, attempts per zone,
        # outcomes, last error; a field each, so a chat shows every target on its own line.
        for t in listed:
            if t.get("hunt") and (t.get("kind") == "instances" or t.get("attempts")):
                fields[f"hunt_{t['name']}"] = t["hunt"]
    return make_notice("daily_report", f"daily_report:{fields['date']}", **fields)


def _money(by_currency: dict[str, float]) -> str:
    return ", ".join(f"{amount:.2f} {currency}" for currency, amount in sorted(by_currency.items())) or "0"


def cost_fields(summary: CostSummary) -> dict[str, str | int]:
    """What the purchases cost in the 24 hours, per kind: replacements (every interruption's
    purchase), fallbacks (the part that went on-demand or to a pricier type), reverts (moves back to
    spot), planned moves (out of a stressed spot pool), and what reverts saved; nothing when no task
    was priced."""
    fields: dict[str, str | int] = {}
    for kind in PURCHASE_KINDS:
        if summary.counts.get(kind):
            fields[f"{kind}_cost"] = (f"{summary.counts[kind]} priced: {_money(summary.spent.get(kind, {}))} in 24 h; "
                                      f"{_money(summary.hourly.get(kind, {}))} per hour still running")
    if summary.counts.get("revert"):
        fields["saved_by_reverts"] = _money(summary.saved)
    if summary.unknown:
        fields["prices_unknown"] = summary.unknown
    return fields
