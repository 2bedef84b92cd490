"""What is said: notices (kind, level, public fields, a dedupe key) and how each reads in a chat.

Parts: KINDS, LEVELS, Notice (one notification, as an outbox row, with the channels it goes to),
make_notice, task_notices (the
notices a task's current state implies: interruption, replaced, degraded (done, but something
did not happen: what, and what it left billing), rejected, failed, cap reached, permission denied;
a move back to spot's: notify/revert_messages.py),
timeline (the task's milestones relative to receipt and to the original's release), render (a
short title and Markdown body).

Every field passes through logsafe.public_task_view before it is stored, so user data becomes
its size and hash and credential-shaped text is masked; fields named like secrets are dropped.
A notice's dedupe key makes re-deriving the same notice from a re-saved state a no-op.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from responder.logsafe import public_task_view
from responder.notify.revert_messages import revert_notices
from responder.model import NOTICE_SECONDS

LEVELS = ("info", "success", "warning", "failure")  # apprise's NotifyType values, mildest first
KINDS = {  # kind → default level
    "started": "info", "interruption": "warning", "replaced": "success", "degraded": "warning", "rejected": "warning",
    "failed": "failure", "cap_reached": "failure", "target_acquired": "success",
    "gap_persisting": "warning", "hunt_started": "info", "daily_report": "info", "account_limit": "warning",
    "unconfigured": "failure", "permission_denied": "failure", "relaunch_fallback": "warning",
    "revert_started": "info", "reverted": "success", "revert_given_up": "warning",
}
# NOTICE_SECONDS (model.py) is the release time when no state change told us when the original
# really went. "About" five minutes could be less; the gap is then measured from a release that
# came earlier than we assume, i.e. shown smaller than it was: a state-change event replaces it.
_SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|credential|user_?data|key_?pair|authorization)")
CAP_SETTINGS = ("RESPONDER_MAX_LAUNCHES_PER_HOUR", "RESPONDER_MAX_SPEND_PER_EVENT")


@dataclass(frozen=True)
class Notice:
    kind: str
    level: str
    dedupe_key: str
    fields: dict[str, Any] = field(default_factory=dict)
    task_id: str | None = None
    channels: tuple[str, ...] = ()  # who gets it (set by the Notifier's routing; not stored in the row)

    def outbox_values(self) -> dict[str, Any]:
        return dict(dedupe_key=self.dedupe_key[:255], kind=self.kind, level=self.level, task_id=self.task_id,
                    payload=json.dumps(self.fields, sort_keys=True, default=str))

    @classmethod
    def from_row(cls, row) -> "Notice":
        return cls(kind=row.kind, level=row.level, dedupe_key=row.dedupe_key, fields=json.loads(row.payload),
                   task_id=row.task_id)


def _public(fields: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in fields.items() if not _SECRET_NAME.search(k)}
    return public_task_view(kept)


def make_notice(kind: str, dedupe_key: str, level: str | None = None, task_id: str | None = None,
                **fields: Any) -> Notice:
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r} (one of {', '.join(KINDS)})")
    level = level or KINDS[kind]
    if level not in LEVELS:
        raise ValueError(f"unknown notification level {level!r} (one of {', '.join(LEVELS)})")
    return Notice(kind, level, dedupe_key, _public(fields), task_id)


def _after_receipt(task, at: float | None) -> float | None:
    """Seconds after receipt of a moment the record keeps (the root state's since)."""
    if at is None:
        return None
    return round(at - task.record.timings.get("received", task.row.created_at), 3)


def timeline(task) -> dict[str, float]:
    """Seconds after receipt of each milestone reached, and `release` (when the original went, or
    the end of its notice); `gap` is Running minus release, never below zero."""
    record = task.record
    received = record.timings.get("received", task.row.created_at)
    points = {name: record.timings[name] - received for name in
              ("image_requested", "image_available", "launch_issued", "running", "finished")
              if name in record.timings}
    if record.original_terminated_at is not None:
        points["release"] = record.original_terminated_at - received
    else:
        points["release"] = NOTICE_SECONDS.get(task.cloud, 120.0)
    if "running" in points:
        points["gap"] = max(0.0, points["running"] - points["release"])
    return {k: round(v, 3) for k, v in points.items()}


def _offering_fields(prefix: str, instance_type: str, zone: str, market: str) -> dict[str, str]:
    return {f"{prefix}_type": instance_type, f"{prefix}_zone": zone, f"{prefix}_market": market}


def task_notices(task) -> list[Notice]:
    """The notices the task's state implies. Keys carry the receipt time, so a rejected task
    re-opened by the real event notifies again."""
    record = task.record
    if record.revert is not None:  # a move back to spot says what it moved, not an interruption
        return revert_notices(task, make_notice)
    received = record.timings.get("received", task.row.created_at)
    base = dict(cloud=task.cloud, region=task.region, instance_id=task.instance_id, event=task.kind)
    key = f"{task.id}:{int(received * 1000)}"
    source = record.source
    old = _offering_fields("old", source.instance_type, source.zone, "spot" if source.spot else "on-demand") \
        if source else {}
    notices = []
    if task.status == "rejected":
        # One per instance and hour, however many forged deliveries: a signal, not a flood.
        hour = int(received // 3600)
        notices.append(make_notice("rejected", f"{task.id}:rejected:{hour}", task_id=task.id, reason=task.reason,
                                   account=record.event.account, deliveries=task.deliveries, **base))
        return notices
    if "verified" in record.timings:
        notices.append(make_notice("interruption", f"{key}:interruption", task_id=task.id, **base, **old))
    if task.status == "done":
        launch, reserved = record.launch, record.reservation.reserved
        new: dict[str, Any] = {}
        if launch.launched_offering:
            o = launch.launched_offering
            new = _offering_fields("new", o.instance_type, o.zone, o.market.value)
        elif launch.replacement:
            c = launch.replacement
            new = _offering_fields("new", c.instance_type, c.zone, c.market)
        if reserved:
            new.update(reservation_id=reserved.reservation_id, reserved=f"{reserved.count} x "
                       f"{reserved.instance_type}@{reserved.zone}")
        points = timeline(task)
        # Done, but something did not happen: say what, and what it left billing (the same list
        # `responder orphans` reads from the record).
        kind, todo = ("degraded", {"degraded": list(record.degraded), "todo": DEGRADED_TODO}) if record.degraded \
            else ("replaced", {})
        notices.append(make_notice(
            kind, f"{key}:{kind}", task_id=task.id, **base, **old, **new,
            replacement_ids=list(launch.replacement_ids), image_id=record.image.image_id,
            data_kept=bool(record.image.image_id and record.image.available), gap_seconds=points.get("gap"),
            running_after_seconds=points.get("running"), root_state=record.race.root_state or None,
            root_state_after_seconds=_after_receipt(task, record.race.root_state_since),
            stand_in_image=record.race.stand_in_image or None, reason=task.reason, **todo))
    elif task.status == "failed":
        if any(setting in task.reason for setting in CAP_SETTINGS):
            # `capped` says what the task did before the refusal (RESPONDER_IMAGE_WHEN_CAPPED).
            imaged = {"capped": record.capped, "image_id": record.image.image_id} if record.capped else {}
            notices.append(make_notice("cap_reached", f"{key}:cap_reached", task_id=task.id, **base, **old,
                                       **imaged, reason=task.reason,
                                       todo="raise the cap named above if this spend is expected, "
                                            "or look for a runaway event source"))
        elif record.denied:  # a configuration fault: the deployment's policy, not the cloud, said no
            notices.append(make_notice("permission_denied", f"{key}:denied:{record.denied}", task_id=task.id, **base,
                                       **old, denied=record.denied, reason=task.reason,
                                       todo="grant the permission named above (deploy/*-policy.*, s.yaml, "
                                            "template.yaml carry what the responder needs), then re-send the event"))
        else:
            notices.append(make_notice("failed", f"{key}:failed", task_id=task.id, **base, **old,
                                       reason=task.reason, todo=_what_to_do(task.reason)))
    return notices


DEGRADED_TODO = ("finish what is named above by hand, and delete or reattach what it left "
                 "(`responder orphans` lists it): it bills until then")


def _what_to_do(reason: str) -> str:
    if "exists and is left as it is" in reason:
        return "check the replacement named above and finish its setup by hand"
    if "transient" in reason:
        return "the cloud API kept failing: check its status page, then re-send the event"
    if "capacity" in reason.lower() or "stock" in reason.lower():
        return "no candidate type had stock: widen the types or zones, or launch on-demand by hand"
    return "read the reason, fix the cause, and re-send the event (it is safe: the same task is found)"


TITLES = {
    "started": "Responder started", "interruption": "Interruption received", "replaced": "Replaced",
    "degraded": "Done, degraded: not everything happened",
    "rejected": "Event rejected", "failed": "Replacement failed", "cap_reached": "Money cap reached",
    "target_acquired": "Target acquired", "gap_persisting": "Capacity gap persisting",
    "hunt_started": "Capacity hunt started", "daily_report": "Daily report",
    "account_limit": "Account limit full (not the cloud's capacity)",
    "unconfigured": "Event not acted on: cloud unconfigured",
    "permission_denied": "Replacement failed: the cloud's policy refused a call",
    "relaunch_fallback": "Relaunch starts clean: the preserved boot volume could not be used",
    "revert_started": "Moving back to spot", "reverted": "Moved back to spot",
    "revert_given_up": "Move back to spot given up",
}
# A planned move (`purpose` calm, revert/calm.py) is a revert task of spot to spot: the same kinds
# (so channel routing and levels hold), titled for what it does.
PLANNED_MOVE_TITLES = {"revert_started": "Moving to a calmer spot pool", "reverted": "Moved to a calmer spot pool",
                       "revert_given_up": "Move to a calmer spot pool given up"}
_SHOWN_LAST = ("reason", "todo")


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0f} s"


_REPLACED_HEADLINE = {"old_type", "old_zone", "old_market", "new_type", "new_zone", "new_market", "gap_seconds",
                      "data_kept"}
_HEADLINE_FIELDS = {  # what each kind's first line already says, so the list below skips it
    "replaced": _REPLACED_HEADLINE | {"reason"},
    "degraded": _REPLACED_HEADLINE,
    "daily_report": {"date", "timezone"},
    **{kind: {"old_type", "old_market", "new_type", "new_zone", "new_market", "purpose"}
       for kind in ("revert_started", "reverted", "revert_given_up")},
}
_LABELS = {"root_state_after_seconds": "root state since (s after receipt)", "replacement_ids": "replacement", "image_id": "image", "running_after_seconds": "Running after",
           "median_gap_seconds": "median gap", "worst_gap_seconds": "worst gap", "todo": "what to do",
           "old_type": "type", "old_zone": "zone", "old_market": "market", "launch_attempts": "launch attempts",
           "in_progress": "in progress"}


def render(notice: Notice) -> tuple[str, str]:
    """(title, Markdown body): a headline, then one `- label: value` line per field it did not say."""
    f = notice.fields
    titles = PLANNED_MOVE_TITLES if f.get("purpose") and notice.kind in PLANNED_MOVE_TITLES else TITLES
    title = f"[responder] {titles.get(notice.kind, notice.kind)}"
    where = " ".join(str(f[k]) for k in ("cloud", "region", "instance_id") if f.get(k))
    if notice.kind in ("replaced", "degraded"):
        head = (f"**{where}**: {f.get('old_type', '?')} {f.get('old_zone', '')} {f.get('old_market', '')} → "
                f"{f.get('new_type', '?')} {f.get('new_zone', '')} {f.get('new_market', '')}, "
                f"gap {_seconds(f.get('gap_seconds'))}, data {'kept' if f.get('data_kept') else 'NOT kept'}")
    elif notice.kind in ("revert_started", "reverted", "revert_given_up"):
        head = (f"**{where}**: {f.get('old_type', '?')} {f.get('old_market', '')} → "
                f"{f.get('new_type') or f.get('original_type', '?')} {f.get('new_zone', '')} spot"
                f"{', a calmer pool' if f.get('purpose') else ''}")
    elif notice.kind == "rejected":
        head = f"**{where}**: rejected, a forged or stale event is a security signal"
    elif notice.kind == "daily_report":
        head = f"**{f.get('date', '')}** ({f.get('timezone', '')}), the last 24 hours"
    else:
        head = f"**{where}**" if where else ""
    said = _HEADLINE_FIELDS.get(notice.kind, set()) | {"cloud", "region", "instance_id"}
    shown = [k for k in f if k not in said and k not in _SHOWN_LAST]
    shown += [k for k in _SHOWN_LAST if f.get(k) and k not in said]
    lines = [head] if head else []
    lines += [f"- {_LABELS.get(k, k.replace('_', ' '))}: {_value(k, f[k])}" for k in shown]
    return title, "\n".join(lines)


def _value(name: str, value: Any) -> str:
    if name.endswith("_seconds") and isinstance(value, (int, float)):
        return _seconds(value)
    return _text(value)


MAX_VALUE_CHARS = 300  # a chat line, not a log: a long reason (every sold-out offering) is cut


def _text(value: Any) -> str:
    text = _joined(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS - 1] + "…"


def _joined(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_text(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) or "-"
    if value is None or value == "":
        return "-"
    return str(value)


FINISHED_STATUS = {"replaced": "done", "degraded": "done", "failed": "failed", "cap_reached": "failed",
                   "rejected": "rejected"}
# What RESPONDER_NOTIFY_WEBHOOK_URL has always been sent: finished tasks, and events no task was
# made for because their cloud has no credentials here.
FINISHED_KINDS = frozenset(FINISHED_STATUS) | {"unconfigured"}


def plain_body(notice: Notice) -> dict[str, Any]:
    """The JSON a plain https:// webhook receives: Slack-, DingTalk- and Feishu-compatible text
    fields beside the notice's public fields, and for a finished task the `task` summary the
    single webhook always sent (id, status, where, reason)."""
    title, body = render(notice)
    text = f"{title}\n{body}"
    answer = {"text": text, "msgtype": "text", "content": {"text": text}, "kind": notice.kind,
              "level": notice.level, "fields": notice.fields}
    if notice.task_id and notice.kind in FINISHED_STATUS:
        f = notice.fields
        answer["task"] = {"id": notice.task_id, "status": FINISHED_STATUS[notice.kind], "cloud": f.get("cloud"),
                          "region": f.get("region"), "instance_id": f.get("instance_id"), "kind": f.get("event"),
                          "reason": f.get("reason", ""), "replacement_ids": f.get("replacement_ids", [])}
    return answer
