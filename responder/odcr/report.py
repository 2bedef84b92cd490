"""What `responder odcr` shows: live progress on stderr, the result JSON on stdout.

Parts: Reporter (turns EngineEvents into a rich progress bar — acquired/target, percent,
reservation count, elapsed — with countdowns during waits and a status report every 30 s; plain
lines when stderr is not a TTY), elapsed_text, stamp, create_result / expand_result (the old
tool's JSON fields, plus a few of ours), HINTS (the old guide's troubleshooting, by error code).
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from typing import Callable, Optional

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from responder.capacity.engine import EngineEvent, Holding, Outcome

STATUS_EVERY = 30.0

HINTS = {
    "auth": "Check the credentials and permissions (AWS: ec2:CreateCapacityReservation, "
            "ec2:ModifyCapacityReservation, ec2:DescribeCapacityReservations; check with "
            "`aws sts get-caller-identity`. Aliyun: the RAM policy needs ecs:CreateCapacityReservation, "
            "ecs:ModifyCapacityReservation, ecs:DescribeCapacityReservations).",
    "zone": "Make sure the availability zone exists in the region given with --region "
            "(aws ec2 describe-availability-zones --region REGION).",
    "type": "Make sure the instance type is offered in that region and zone.",
    "not_found": "Check the reservation id and that it lives in the region given with --region "
                 "(aws ec2 describe-capacity-reservations --region REGION).",
    "no_capacity": "Not even 1 unit could be had: try other availability zones "
                   "(--availability-zone a,b,c) or another instance type, or a longer --timeout.",
}


def hint_for(text: str) -> str:
    """The old guide's troubleshooting line for an error (its code, and message when codes are
    generic: EC2 says InvalidParameterValue "Invalid availability zone: [x]")."""
    lowered = text.lower().replace(" ", "")
    if any(k in lowered for k in ("accessdenied", "unauthorized", "authfailure", "forbidden", "signature",
                                  "accesskey", "credentials", "optinrequired", "invalidclienttokenid")):
        return HINTS["auth"]
    if "availabilityzone" in lowered or "zoneid" in lowered or "invalidzone" in lowered:
        return HINTS["zone"]
    if "instancetype" in lowered:
        return HINTS["type"]
    if "notfound" in lowered or "not_found" in lowered:
        return HINTS["not_found"]
    return ""


def elapsed_text(seconds: float) -> str:
    return str(_dt.timedelta(seconds=int(max(0, seconds))))


def stamp(created_at: str) -> str:
    """The old tool's created_at: local time as YYYYmmddHHMMSS."""
    try:
        when = _dt.datetime.fromisoformat(created_at.replace("Z", "+00:00"))
        if when.tzinfo is not None:
            when = when.astimezone()
    except (ValueError, AttributeError):
        when = _dt.datetime.now()
    return when.strftime("%Y%m%d%H%M%S")


def create_result(outcome: Outcome, elapsed: float, **extra) -> dict:
    odcrs = [{"odcr_id": h.holding_id, "initial_capacity": h.initial or h.count, "current_capacity": h.count,
              "created_at": stamp(h.created_at), "instance_type": h.offering.instance_type,
              "availability_zone": h.offering.zone} for h in outcome.holdings]
    return {"success": outcome.acquired > 0, "target_count": outcome.target, "actual_count": outcome.acquired,
            "created_odcrs": odcrs, "total_attempts": outcome.attempts, "elapsed_time": elapsed_text(elapsed),
            "completed": outcome.completed, "reason": outcome.reason, **extra}


def expand_result(outcome: Outcome, odcr_id: str, final: int, elapsed: float, **extra) -> dict:
    return {"success": outcome.acquired > 0, "odcr_id": odcr_id, "initial_capacity": final - outcome.acquired,
            "target_increase": outcome.target, "actual_increase": outcome.acquired, "final_capacity": final,
            "total_attempts": outcome.attempts, "elapsed_time": elapsed_text(elapsed),
            "completed": outcome.completed, "reason": outcome.reason, **extra}


class Reporter:
    """Progress for one run. `sleep` is the engine's: it waits on `stop` (so Ctrl+C ends a wait at
    once) and counts down while it waits."""

    def __init__(self, console: Console, target: int, title: str, stop: threading.Event,
                 clock: Callable[[], float] = time.monotonic, tty: Optional[bool] = None):
        self.console, self.target, self.stop, self.clock = console, target, stop, clock
        self.tty = console.is_terminal if tty is None else tty
        self.start = self.last_status = clock()
        self.event: Optional[EngineEvent] = None
        self.progress: Optional[Progress] = None
        self.say(title)
        if self.tty:
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                     TextColumn("{task.completed:.0f}/{task.total:.0f} | {task.fields[n]} reservations"),
                                     TimeElapsedColumn(), console=console, transient=False)
            self.task = self.progress.add_task("acquiring", total=max(1, target), n=0)
            self.progress.start()

    def say(self, text: str) -> None:
        if self.progress is not None:
            self.progress.console.print(text, highlight=False, markup=False)  # keeps [zone] and names intact
        else:
            self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def _line(self, e: EngineEvent) -> str:
        pct = 100.0 * e.acquired / e.target if e.target else 100.0
        return (f"progress: {e.acquired}/{e.target} ({pct:.1f}%) | reservations: {len(e.holdings)} | "
                f"elapsed: {elapsed_text(self.clock() - self.start)}")

    def on_event(self, e: EngineEvent) -> None:
        self.event = e
        where = f" {e.offering.instance_type} in {e.offering.zone}" if e.offering else ""
        if e.kind == "attempt":
            what = (f"grow {e.holding.holding_id if e.holding else 'reservation'} +{e.count}"
                    if e.action == "grow" else f"create reservation ({e.count})")
            self.say(f"attempt {e.attempts}: {what}{where}")
        elif e.kind == "success":
            h: Holding = e.holding
            verb = "grown to" if e.action == "grow" else "created with"
            self.say(f"  ok: {h.holding_id} {verb} {h.count} (+{e.count}) | {self._line(e)}")
        elif e.kind == "halved":
            self.say(f"  no capacity{where}, halving to {e.count}")
        elif e.kind == "no_capacity":
            self.say(f"  no capacity{where} even for 1")
        elif e.kind == "throttled":
            self.say(f"  throttled, backing off {e.seconds:.1f}s")
        elif e.kind == "error":
            self.say(f"  error: {e.message}")
        elif e.kind == "resumed":
            self.say(f"resumed: {e.message} in {len(e.holdings)} reservation(s)")
        elif e.kind == "waiting" and not self.tty:
            self.say(f"  waiting {e.seconds:.1f}s ...")
        if self.progress is not None:
            self.progress.update(self.task, completed=e.acquired, n=len(e.holdings),
                                 description="acquiring" if e.kind != "done" else e.message)
        self._maybe_status()

    def _maybe_status(self) -> None:
        now = self.clock()
        if self.event is None or now - self.last_status < STATUS_EVERY:
            return
        self.last_status = now
        e = self.event
        lines = [f"status ({elapsed_text(now - self.start)}): {e.acquired}/{e.target} acquired, "
                 f"{e.attempts} attempts, {len(e.holdings)} reservation(s)"]
        lines += [f"   {i}. {h.holding_id} ({h.count}) {h.offering.zone}" for i, h in enumerate(e.holdings, 1)]
        self.say("\n".join(lines))

    def sleep(self, seconds: float) -> None:
        end = self.clock() + seconds
        while not self.stop.is_set():
            left = end - self.clock()
            if left <= 0:
                break
            if self.progress is not None:
                self.progress.update(self.task, description=f"waiting {left:.0f}s")
            self.stop.wait(min(1.0, left))
            self._maybe_status()
        if self.progress is not None:
            self.progress.update(self.task, description="acquiring")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def text_lines(result: dict) -> list[str]:
    """`--text`: the old tool's stdout, for scripts that grep it. Every line naming a reservation
    has its id as the 4th whitespace field (the old guide extracts ids with
    `grep "cr-" | awk '{print $4}'`); the summary names none, so it never matches that grep."""
    lines = [f"✅ ODCR created: {o['odcr_id']} ({o['current_capacity']} x {o['instance_type']} in "
             f"{o['availability_zone']})" for o in result.get("created_odcrs", [])]
    if "odcr_id" in result and result.get("actual_increase"):
        lines.append(f"✅ ODCR expanded: {result['odcr_id']} now {result['final_capacity']} "
                     f"(+{result['actual_increase']})")
    if "error" in result:
        lines.append(f"❌ failed: {result['error']['code']}")
    done = "🎉 completed:" if result.get("completed") else "⚠️ stopped:"
    got = result.get("actual_count", result.get("actual_increase", 0))
    want = result.get("target_count", result.get("target_increase", 0))
    lines.append(f"{done} {got}/{want} instances, {result.get('total_attempts', 0)} attempts, "
                 f"{result.get('elapsed_time', '')}")
    return lines
