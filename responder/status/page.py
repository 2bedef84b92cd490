"""The status page's view model and rendering.

Parts: task_timeline (one task's bar: notice → image → launch → Running against the release, as
percentages of a shared scale), view (everything the page shows), render_status (HTML), WINDOW.

Every task field shown goes through TaskRow.to_json (logsafe.public_task_view), so user data and
credential-shaped text never reach the page; channel names are hashes, never URLs.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable

from jinja2 import Environment, PackageLoader, select_autoescape

from responder.notify.messages import timeline
from responder.protect import MARKER_KIND
from responder.replace.record import Task

WINDOW = 86400.0
_env = Environment(loader=PackageLoader("responder.status", "templates"), autoescape=select_autoescape(["html"]))
MARKS = (("image_requested", "image"), ("launch_issued", "launch"), ("running", "Running"))


def _stamp(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def task_timeline(task: Task, scale: float) -> dict[str, Any]:
    points = timeline(task)
    public = task.row.to_json()
    marks = [{"name": label, "seconds": points[key], "left": min(100.0, 100.0 * points[key] / scale)}
             for key, label in MARKS if key in points]
    end = points.get("running", points.get("finished", 0.0))
    return {
        "id": task.id, "cloud": task.cloud, "region": task.region, "instance_id": task.instance_id,
        "status": task.status, "reason": public.get("reason", ""), "received": _stamp(task.record.timings.get("received")),
        "marks": marks, "bar_width": min(100.0, 100.0 * end / scale),
        "release_left": min(100.0, 100.0 * points["release"] / scale), "release": points["release"],
        "gap": points.get("gap"),
    }


def view(store, now: float, targets: Callable[[], list[dict]] | None = None,
         channel_health: Callable[[], dict[str, dict]] | None = None) -> dict[str, Any]:
    tasks = [Task(r) for r in store.list(limit=500) if r.created_at >= now - WINDOW and r.kind != MARKER_KIND]
    longest = [max(list(timeline(t).values()) or [0.0]) for t in tasks]
    scale = max([600.0] + longest)  # at least ten minutes, so short runs are not stretched
    failures = [task_timeline(t, scale) for t in tasks if t.status == "failed"][:20]
    return {
        "generated": _stamp(now), "scale": scale, "tasks": [task_timeline(t, scale) for t in tasks],
        "failures": failures, "targets": targets() if targets else None,
        "channels": channel_health() if channel_health else None,
        "counts": {s: sum(t.status == s for t in tasks) for s in ("done", "failed", "rejected")},
    }


def render_status(store, now: float | None = None, **kwargs) -> str:
    return _env.get_template("status.html").render(**view(store, now or time.time(), **kwargs))
