"""The status page's view model and rendering.

Parts: fit_scale (the time scale: a round number of seconds that fits the tasks shown), axis (its
tick marks), task_row (one task: the original, its state, the replacement with its type, zone and
market, the timeline notice → image → launch → Running against the release, the gap), view
(everything the page shows, with the reclaims per pool), refresh_seconds (`?refresh=N`: how often
the page reloads its tasks in place), render_status (HTML), WINDOW, REFRESH_SECONDS.

The scale fits the tasks, not a fixed ten minutes: it is the round number just above the 90th
percentile of the finished tasks' lengths, so one slow task does not shrink two hundred fast ones
to slivers; a longer bar is cut at the edge and marked, and every row also gives its figures in
seconds. A release later than the scale is named at the edge instead of drawn.

Every task field shown goes through TaskRow.to_json (logsafe.public_task_view), so user data and
credential-shaped text never reach the page; channel names are hashes, never URLs.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable

from jinja2 import Environment, PackageLoader, select_autoescape

from responder.model import RECORD_KINDS
from responder.notify.messages import timeline
from responder.replace.record import Task
from responder.store import UNFINISHED

WINDOW = 86400.0
REFRESH_SECONDS = 30
_env = Environment(loader=PackageLoader("responder.status", "templates"), autoescape=select_autoescape(["html"]))
MARKS = (("image_requested", "image"), ("launch_issued", "launch"), ("running", "Running"))
NICE = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 600, 900, 1200, 1800, 3600, 5400, 7200, 10800, 14400, 21600,
        43200, 86400)  # the scales: round numbers of seconds
STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)  # the axis's ticks


def _stamp(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:g} min" if (seconds / 30).is_integer() else f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:g} h" if (seconds / 1800).is_integer() else f"{seconds / 3600:.1f} h"


def fit_scale(lengths: list[float]) -> float:
    """The round number of seconds just above the 90th percentile of `lengths` (at least 5 s)."""
    if not lengths:
        return float(NICE[0])
    ordered = sorted(lengths)
    typical = ordered[int(0.9 * (len(ordered) - 1))] if len(ordered) >= 10 else ordered[-1]
    return float(next((n for n in NICE if n >= typical * 1.05), NICE[-1]))


def axis(scale: float) -> list[dict[str, Any]]:
    """Two to six labelled ticks from 0 to the scale, at a round step that divides it."""
    step = next(n for n in STEPS + (scale,) if scale / n <= 5 and (scale / n).is_integer())
    ticks, at = [], 0.0
    while at <= scale + 1e-9:
        ticks.append({"left": 100.0 * at / scale, "label": _duration(at)})
        at += step
    return ticks


def _length(points: dict[str, float], task: Task, now: float) -> float:
    """How long the task's bar is: to Running, to its end, or (still working) to now."""
    if "running" in points:
        return points["running"]
    if task.status in UNFINISHED:
        return max(0.0, now - task.record.timings.get("received", task.row.created_at))
    return points.get("finished", 0.0)


def _pct(seconds: float, scale: float) -> float:
    return min(100.0, 100.0 * seconds / scale)


def task_row(task: Task, scale: float, now: float) -> dict[str, Any]:
    points = timeline(task)
    public = task.row.to_json()
    launch = task.record.launch
    chosen = launch.replacement
    length = _length(points, task, now)
    received = task.record.timings.get("received", task.row.created_at)
    marks = [{"name": label, "seconds": points[key], "left": _pct(points[key], scale)}
             for key, label in MARKS if key in points and points[key] <= scale]
    release = points["release"]
    said = [f"{m['name']} {m['seconds']:.0f} s" for m in marks]
    said.append(f"the original released at {release:.0f} s")
    return {
        "id": task.id, "cloud": task.cloud, "region": task.region, "instance_id": task.instance_id,
        "status": task.status, "reason": public.get("reason", ""),
        "received": _stamp(received), "received_at": received,
        "received_short": datetime.fromtimestamp(received, timezone.utc).strftime("%H:%M:%S"),
        "replacement": ", ".join(launch.replacement_ids), "type": chosen.instance_type if chosen else "",
        "zone": chosen.zone if chosen else "", "market": chosen.market if chosen else "",
        "marks": marks, "bar_width": _pct(length, scale), "cut": length > scale, "open": task.status in UNFINISHED,
        "release": release, "release_left": _pct(release, scale) if release <= scale else None,
        "running": points.get("running"), "gap": points.get("gap"), "length": length,
        "summary": "; ".join(said),
    }


def view(store, now: float, targets: Callable[[], list[dict]] | None = None,
         channel_health: Callable[[], dict[str, dict]] | None = None,
         refresh_seconds: int = REFRESH_SECONDS, pools: Callable[[], list[dict]] | None = None) -> dict[str, Any]:
    tasks = [Task(r) for r in store.list(limit=500) if r.created_at >= now - WINDOW and r.kind not in RECORD_KINDS]
    # Tasks still working grow until they end: the scale fits the ones that have a length.
    scale = fit_scale([_length(timeline(t), t, now) for t in tasks if t.status not in UNFINISHED])
    rows = sorted((task_row(t, scale, now) for t in tasks), key=lambda r: r["received_at"], reverse=True)
    gaps = [r["gap"] for r in rows if r["gap"] is not None]
    return {
        "generated": _stamp(now), "scale": scale, "scale_label": _duration(scale), "axis": axis(scale),
        "tasks": rows, "failures": [r for r in rows if r["status"] == "failed"][:20],
        "targets": targets() if targets else None, "channels": channel_health() if channel_health else None,
        "counts": {s: sum(t.status == s for t in tasks) for s in ("done", "failed", "rejected")},
        "working": sum(t.status in UNFINISHED for t in tasks), "with_gap": sum(g > 0 for g in gaps),
        "refresh_seconds": refresh_seconds, "pools": _pools(pools),
    }


def _pools(pools: Callable[[], list[dict]] | None) -> list[dict] | None:
    """Reclaims per pool (the churn guard's history), with until when a demoted one stays last."""
    if pools is None:
        return None
    return [dict(p, until=_stamp(p["demoted_until"]) if p["demoted"] else "") for p in pools()]


def refresh_seconds(asked: str | None) -> int:
    """`/?refresh=N`: the page refreshes itself every N seconds (2 to 3600; 0 never; else 30)."""
    try:
        seconds = int(asked) if asked is not None else REFRESH_SECONDS
    except ValueError:
        return REFRESH_SECONDS
    return 0 if seconds <= 0 else min(3600, max(2, seconds))


def render_status(store, now: float | None = None, **kwargs) -> str:
    return _env.get_template("status.html").render(**view(store, now or time.time(), **kwargs))
