"""How the targets flow reaches the rest of the app: its events become notifications, and its
rows feed the status page, the metrics and the daily report.

Parts: TARGET_NOTICE_KINDS (target event → notification kind), connect_notifications (send the
targets' events through responder.notify.emit, deduplicated per target and occurrence),
summaries (a callable for create_app(targets=...): [{"name", "desired", "held", "state", "attempts",
"hunt", "spec"}], `hunt` the target's statistics in one line for the daily report and the status page,
`spec` what it hunts for the start-up message).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from responder.targets import events
from responder.targets.hunt import hunt_line, spec_line
from responder.targets.table import TargetStore

# Events without a notification of their own (released) stay in the log; the daily report reads
# the targets' rows itself, so the per-target daily line is not sent again one by one.
TARGET_NOTICE_KINDS = {"hunt_started": "hunt_started", "acquired": "target_acquired",
                       "gap_persisting": "gap_persisting", "cap_reached": "cap_reached",
                       "account_limit": "account_limit", "preempted": "interruption",
                       "relaunch_fallback": "relaunch_fallback"}


def connect_notifications(emit: Callable[..., bool]) -> None:
    """Route target events to `emit(kind, dedupe_key=..., **fields)` (responder.notify.emit)."""

    def sink(kind: str, fields: dict[str, Any]) -> None:
        notice = TARGET_NOTICE_KINDS.get(kind)
        if notice is None:
            return
        # One notice per target, kind and hour: a gap re-announced on every tick is noise, and two
        # workers ticking the same target send once.
        hour = int(time.time() // 3600)
        emit(notice, dedupe_key=f"target:{fields.get('target', '')}:{kind}:{hour}", **fields)

    events.set_sink(sink)


def summaries(store) -> Callable[[], list[dict[str, Any]]]:
    table = TargetStore(store.engine)

    def read() -> list[dict[str, Any]]:
        out = []
        for row in table.list():
            view = row.to_json()
            out.append({"name": row.target.name, "desired": row.target.count, "held": view["held"],
                        "state": view["state"], "attempts": view["attempts"], "kind": row.target.kind,
                        "hunt": hunt_line(view), "spec": f"{row.target.cloud} {spec_line(row.target)}"})
        return out

    return read
